package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.DpoLoss;
import dev.sparkdpo.dpo.DpoResult;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.dpo.PairLogps;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * GptTraining's backward against HF transformers: grads.safetensors holds d(mean over the 4 golden pairs of the
 * sigmoid DPO loss, beta 0.1)/d(param) of the tiny random GPT-2 (wte with the tied lm_head part).
 */
class GptBackwardTest {

  static final double REL_TOL = 1e-4; // max abs diff <= REL_TOL * max |HF grad| of each tensor

  static Path dir;
  static Gpt gpt;
  static int[][] tokens;       // rows 0..3 chosen, 4..7 rejected
  static int[] prompts;
  static double[] refChosen, refRejected;
  static double goldenLoss;

  @BeforeAll
  static void load() throws Exception {
    dir = ModelFixtures.tinyGpt2();
    gpt = Gpt.from(GptCheckpoint.load(dir));
    JsonNode root = new ObjectMapper().readTree(dir.resolve("golden.json").toFile());
    assertEquals(0.1, root.get("beta").asDouble());
    goldenLoss = root.get("mean_sigmoid_loss").asDouble();
    JsonNode pairs = root.get("pairs");
    int n = pairs.size();
    assertEquals(4, n);
    tokens = new int[2 * n][];
    prompts = new int[2 * n];
    refChosen = new double[n];
    refRejected = new double[n];
    for (int i = 0; i < n; i++) {
      JsonNode pair = pairs.get(i);
      tokens[i] = GptForwardTest.ints(pair.get("chosen_ids"));
      tokens[n + i] = GptForwardTest.ints(pair.get("rejected_ids"));
      prompts[i] = prompts[n + i] = pair.get("prompt").size();
      refChosen[i] = pair.get("ref_chosen_logp").asDouble();
      refRejected[i] = pair.get("ref_rejected_logp").asDouble();
    }
  }

  /** d(mean sigmoid DPO loss)/d(sequence log-prob) of each batch row, checking the loss against the golden. */
  static double[] dpoGradient(double[] logps) {
    int n = refChosen.length;
    double[] chosen = new double[n], rejected = new double[n];
    int[] chosenTokens = new int[n], rejectedTokens = new int[n];
    for (int i = 0; i < n; i++) {
      chosen[i] = logps[i];
      rejected[i] = logps[n + i];
      chosenTokens[i] = tokens[i].length - prompts[i];
      rejectedTokens[i] = tokens[n + i].length - prompts[n + i];
    }
    DpoConfig cfg = new DpoConfig(0.1, 0.0, List.of(LossType.SIGMOID), null, false);
    DpoResult r = DpoLoss.compute(cfg,
        new PairLogps(chosen, rejected, refChosen, refRejected, chosenTokens, rejectedTokens));
    assertEquals(goldenLoss, r.loss(), 1e-5, "mean sigmoid loss");
    double[] d = new double[2 * n];
    System.arraycopy(r.dPolicyChosen(), 0, d, 0, n);
    System.arraycopy(r.dPolicyRejected(), 0, d, n, n);
    return d;
  }

  static Map<String, Tensor> gradients(Gpt model) {
    GptTraining training = new GptTraining(model);
    GptTraining.Forward f = training.forward(tokens, prompts);
    return training.backward(f, dpoGradient(f.logps()));
  }

  @Test
  void forwardLogProbsEqualTheInferencePath() {
    double[] logps = new GptTraining(gpt).forward(tokens, prompts).logps();
    assertArrayEquals(gpt.responseLogProbs(tokens, prompts), logps, 1e-5);
  }

  @Test
  void everyParameterGradientMatchesHuggingFace() {
    Map<String, Tensor> expected = Safetensors.read(dir.resolve("grads.safetensors"));
    Map<String, Tensor> actual = gradients(gpt);
    assertEquals(expected.keySet(), actual.keySet());
    double worst = 0;
    String worstName = "";
    for (Map.Entry<String, Tensor> e : expected.entrySet()) {
      String name = e.getKey();
      Tensor want = e.getValue(), got = actual.get(name);
      assertArrayEquals(want.shape(), got.shape(), name);
      double maxAbs = 0, maxDiff = 0;
      for (int i = 0; i < want.data().length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(want.data()[i]));
        maxDiff = Math.max(maxDiff, Math.abs(want.data()[i] - got.data()[i]));
      }
      assertTrue(maxAbs > 0, name + ": HF gradient is all zeros");
      double rel = maxDiff / maxAbs;
      System.out.printf("GptBackwardTest %-36s max|g| %.3e  max diff %.3e  rel %.2e%n", name, maxAbs, maxDiff, rel);
      if (rel > worst) {
        worst = rel;
        worstName = name;
      }
      assertTrue(rel <= REL_TOL, name + ": max abs diff " + maxDiff + " > " + REL_TOL + " * " + maxAbs);
    }
    System.out.printf("GptBackwardTest worst relative error %.2e (%s)%n", worst, worstName);
  }

  @Test
  void stepWritesTheSameGradientsIntoAFlatVectorEveryTime() {
    Map<String, Tensor> expected = gradients(gpt);
    GptTraining training = new GptTraining(gpt);
    GptParams grads = GptParams.zeros(gpt.config(), DataType.FLOAT);
    for (int round = 0; round < 3; round++) { // the step workspace is reused from round to round
      grads.flat().assign(Float.NaN);           // every element must be overwritten
      double[] logps = training.step(tokens, prompts, GptBackwardTest::dpoGradient, grads);
      assertArrayEquals(gpt.responseLogProbs(tokens, prompts), logps, 1e-5);
      Map<String, Tensor> got = grads.toCheckpoint().weights();
      for (String name : expected.keySet()) {
        assertArrayEquals(expected.get(name).data(), got.get(name).data(), 1e-7f, "round " + round + " " + name);
      }
    }
  }

  @Test
  void rowsSplitOverThreadsGiveTheSameLogProbsAndGradients() {
    Map<String, Tensor> expected = gradients(gpt);
    for (int threads : new int[] {2, 3, 8}) {
      Gpt parallel = gpt.withRowThreads(threads);
      assertArrayEquals(gpt.responseLogProbs(tokens, prompts), parallel.responseLogProbs(tokens, prompts), 1e-5);
      GptParams grads = GptParams.zeros(gpt.config(), DataType.FLOAT);
      for (int round = 0; round < 2; round++) {
        grads.flat().assign(Float.NaN);
        double[] logps = new GptTraining(parallel).step(tokens, prompts, GptBackwardTest::dpoGradient, grads);
        assertArrayEquals(gpt.responseLogProbs(tokens, prompts), logps, 1e-5);
        Map<String, Tensor> got = grads.toCheckpoint().weights();
        for (String name : expected.keySet()) {
          assertArrayEquals(expected.get(name).data(), got.get(name).data(), 1e-6f, threads + " threads: " + name);
        }
      }
    }
  }

  @Test
  void aFailingLossInARowSplitStepFailsTheStepWithoutHanging() {
    GptParams grads = GptParams.zeros(gpt.config(), DataType.FLOAT);
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> new GptTraining(gpt.withRowThreads(2))
        .step(tokens, prompts, logps -> { throw new IllegalStateException("loss failed"); }, grads));
    assertEquals("loss failed", e.getMessage());
  }

  @Test
  void float64ModelGivesTheSameGradients() {
    Gpt model64 = Gpt.of(GptParams.from(gpt.params().toCheckpoint(), DataType.DOUBLE));
    Map<String, Tensor> g32 = gradients(gpt), g64 = gradients(model64);
    for (String name : g32.keySet()) {
      float[] a = g32.get(name).data(), b = g64.get(name).data();
      double maxAbs = 0, maxDiff = 0;
      for (int i = 0; i < a.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(b[i]));
        maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
      }
      assertTrue(maxDiff <= 1e-4 * maxAbs, name + ": float32 vs float64 max diff " + maxDiff + " of " + maxAbs);
    }
  }

  @Test
  void chunkedLmHeadGivesTheSameGradients() {
    Map<String, Tensor> whole = gradients(gpt);
    Map<String, Tensor> chunked = gradients(gpt.withLogitsChunkBytes(5 * 4 * 1000)); // 5 rows per chunk
    for (String name : whole.keySet()) {
      assertArrayEquals(whole.get(name).data(), chunked.get(name).data(), 1e-6f, name);
    }
  }
}
