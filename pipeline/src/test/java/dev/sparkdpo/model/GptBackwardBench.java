package dev.sparkdpo.model;

import java.util.Random;

/**
 * Throwaway timing of GptTraining forward + backward (not a unit test): 8 pairs x 256 tokens (16 rows, prompt 64) on a
 * random vocab-4096, d-256, 4-layer, 4-head model. Args: [iterations].
 */
public final class GptBackwardBench {
  public static void main(String[] args) {
    int iters = args.length > 0 ? Integer.parseInt(args[0]) : 10;
    GptConfig c = new GptConfig(4096, 256, 256, 4, 4, 1e-5);
    Gpt gpt = Gpt.from(GptInit.init(c, 1));
    GptTraining training = new GptTraining(gpt);
    Random r = new Random(7);
    int rows = 16, t = 256, prompt = 64;
    int[][] tokens = new int[rows][t];
    int[] prompts = new int[rows];
    double[] dSeq = new double[rows];
    for (int i = 0; i < rows; i++) {
      for (int j = 0; j < t; j++) tokens[i][j] = r.nextInt(c.vocabSize());
      prompts[i] = prompt;
      dSeq[i] = (i < rows / 2 ? -1 : 1) * 0.05;
    }
    for (int i = 0; i < 3; i++) training.backward(training.forward(tokens, prompts), dSeq); // warm-up
    for (int i = 0; i < 3; i++) {
      long t0 = System.nanoTime();
      gpt.responseLogProbs(tokens, prompts);
      System.out.printf("inference forward (Gpt.responseLogProbs, workspaces) %.1f ms%n", (System.nanoTime() - t0) / 1e6);
    }
    long fwdNs = 0, bwdNs = 0;
    for (int i = 0; i < iters; i++) {
      long t0 = System.nanoTime();
      GptTraining.Forward f = training.forward(tokens, prompts);
      long t1 = System.nanoTime();
      training.backward(f, dSeq);
      long t2 = System.nanoTime();
      fwdNs += t1 - t0;
      bwdNs += t2 - t1;
    }
    double fwdMs = fwdNs / 1e6 / iters, bwdMs = bwdNs / 1e6 / iters;
    System.out.printf("forward %.1f ms, backward %.1f ms, total %.1f ms/step, %.0f tokens/s (%d tokens/step, %d cores)%n",
        fwdMs, bwdMs, fwdMs + bwdMs, rows * t / ((fwdMs + bwdMs) / 1e3), rows * t,
        Runtime.getRuntime().availableProcessors());
  }
}
