package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Training step of a {@link Gpt} for sequence-level losses such as DPO (explicit, llm.c style): a forward that keeps
 * the activations each layer's backward needs, then gradients of the loss with respect to every parameter given
 * d(loss)/d(sequence log-prob) of each row. The maths is beside the code: the lm_head and log-softmax in
 * {@link LmHead#backward}, each block in {@link GptBlock#backward}, layer norm in {@link LayerNorm#backward}, the
 * linear layers in {@link Conv1D#backward}.
 *
 * <p>Sequence log-prob of row b = sum over response positions t of log softmax(h_t wte^T)[y_{t+1}], so
 * d/dlogits_t = dseq_b (onehot(y_{t+1}) - softmax(logits_t)) at those positions and 0 elsewhere. The [rows, V] logits
 * are recomputed in chunks in the backward (never [B, T, V] at once). Parameter gradients are written straight into
 * a {@link GptParams} gradient vector (BLAS gemm into its views); {@link #step} runs forward and backward with every
 * temporary and cached activation in one reused ND4J workspace, which is what makes it fast: fresh off-heap buffers
 * cost more than the arithmetic at these sizes.
 */
public final class GptTraining {

  /** One forward pass: the sequence log-probs and the activations its backward reads. */
  public static final class Forward {
    final Gpt.Activations activations;

    private Forward(Gpt.Activations activations) {
      this.activations = activations;
    }

    /** Summed response log-prob of each batch row (as {@link Gpt#responseLogProbs}). */
    public double[] logps() {
      return activations.logps.clone();
    }
  }

  private static final String STEP_WORKSPACE = "gpt-train-step";

  private final Gpt gpt;
  private final GptConfig config;
  private final List<GptParams> partGradients = new ArrayList<>();
  private INDArray lastFlat;        // the flat vector gradientsOver saw last
  private GptParams lastGradients;  // and its views

  public GptTraining(Gpt gpt) {
    this.gpt = gpt;
    this.config = gpt.config();
  }

  /**
   * One training step's gradients: forward, then {@code lossGradient} maps the rows' sequence log-probs to
   * d(loss)/d(log-prob) per row, then the backward overwrites {@code out} with d(loss)/d(params). All activations
   * and temporaries live in one per-thread workspace reused from step to step. Returns the sequence log-probs.
   */
  public double[] step(int[][] tokens, int[] promptLengths, Function<double[], double[]> lossGradient,
      GptParams out) {
    checkGradientVector(out);
    Predictions.checkPromptLengths(tokens, promptLengths); // here, so that errors name the row of the whole batch
    int[][] parts = RowThreads.split(tokens.length, gpt.rowThreadsCount());
    if (parts.length == 1) {
      return Workspaces.inWorkspace(STEP_WORKSPACE, () -> {
        Gpt.Activations f = gpt.forwardKeeping(tokens, promptLengths);
        gpt.backward(f, checkedGradient(lossGradient.apply(f.logps.clone()), tokens.length), out);
        return f.logps;
      });
    }
    // rows split over threads (Gpt#withRowThreads): each forwards its rows, the loss sees all rows' log-probs, each
    // backward writes its own gradient vector, and the vectors are summed into out
    List<CompletableFuture<double[]>> logps = new ArrayList<>();
    for (int i = 0; i < parts.length; i++) logps.add(new CompletableFuture<>());
    CompletableFuture<double[]> dSeq = new CompletableFuture<>();
    GptParams[] grads = new GptParams[parts.length];
    grads[0] = out;
    for (int i = 1; i < parts.length; i++) grads[i] = partGradients(i);
    RowThreads.run(parts.length, i -> {
      try {
        return Workspaces.inWorkspace(STEP_WORKSPACE, () -> {
          Gpt.Activations f = gpt.forwardKeeping(RowThreads.rows(tokens, parts[i]),
              RowThreads.rows(promptLengths, parts[i]));
          logps.get(i).complete(f.logps);
          if (i == 0) dSeq.complete(checkedGradient(lossGradient.apply(joined(logps, parts, tokens.length)),
              tokens.length));
          gpt.backward(f, Arrays.copyOfRange(dSeq.join(), parts[i][0], parts[i][1]), grads[i]);
          return f.logps;
        });
      } catch (RuntimeException | Error e) { // never leave the other parts waiting
        logps.get(i).completeExceptionally(e);
        dSeq.completeExceptionally(e);
        throw e;
      }
    });
    for (int i = 1; i < parts.length; i++) out.flat().addi(grads[i].flat());
    return joined(logps, parts, tokens.length);
  }

  /** The parts' log-probs in batch-row order (waits for every part). */
  private static double[] joined(List<CompletableFuture<double[]>> logps, int[][] parts, int rows) {
    double[] all = new double[rows];
    for (int j = 0; j < parts.length; j++) {
      System.arraycopy(logps.get(j).join(), 0, all, parts[j][0], parts[j][1] - parts[j][0]);
    }
    return all;
  }

  private static double[] checkedGradient(double[] dSeq, int rows) {
    if (dSeq.length != rows) throw new IllegalArgumentException("one gradient per batch row");
    return dSeq;
  }

  /**
   * The gradient vector of row part i > 0, allocated once per GptTraining (outside any workspace); so one
   * GptTraining runs one step at a time (as DL4J and the bench use it).
   */
  private synchronized GptParams partGradients(int i) {
    while (partGradients.size() < i) partGradients.add(GptParams.zeros(config, gpt.dataType()));
    return partGradients.get(i - 1);
  }

  /** Named views over a flat gradient vector (e.g. DL4J's gradient view), rebuilt only when the vector changes. */
  synchronized GptParams gradientsOver(INDArray flat) {
    if (lastFlat != flat) {
      lastGradients = Workspaces.outside(() -> GptParams.over(config, flat));
      lastFlat = flat;
    }
    return lastGradients;
  }

  /**
   * Forward with cached activations for the right-padded batch; promptLengths as in {@link Gpt#responseLogProbs}.
   * The cache is ordinary (garbage-collected) memory: prefer {@link #step} in loops.
   */
  public Forward forward(int[][] tokens, int[] promptLengths) {
    return new Forward(Workspaces.outside(() -> gpt.forwardKeeping(tokens, promptLengths)));
  }

  /**
   * Gradients of the loss for the cached forward, given d(loss)/d(logps()[b]) per row: HF names and shapes, in
   * {@link GptCheckpoint#parameterNames} order; wte holds both the embedding and the tied lm_head contribution.
   */
  public Map<String, Tensor> backward(Forward f, double[] dLossDSeqLogp) {
    GptParams g = GptParams.zeros(config, gpt.dataType());
    backward(f, dLossDSeqLogp, g);
    return g.toCheckpoint().weights();
  }

  /**
   * As {@link #backward(Forward, double[])}, writing the gradients into {@code out} (e.g. a view of DL4J's flat
   * gradient vector): every element of {@code out} is overwritten. Consumes f (its activations are dropped as the
   * backward passes them).
   */
  public void backward(Forward f, double[] dLossDSeqLogp, GptParams out) {
    if (dLossDSeqLogp.length != f.activations.batch.b()) throw new IllegalArgumentException("one gradient per batch row");
    checkGradientVector(out);
    Workspaces.outside(() -> {
      gpt.backward(f.activations, dLossDSeqLogp, out);
      return null;
    });
  }

  /** Forward then backward in one call. */
  public Map<String, Tensor> backward(int[][] tokens, int[] promptLengths, double[] dLossDSeqLogp) {
    return backward(forward(tokens, promptLengths), dLossDSeqLogp);
  }

  private void checkGradientVector(GptParams out) {
    if (!out.config().equals(config)) throw new IllegalArgumentException("gradient vector of another model config");
    if (out.dataType() != gpt.dataType()) {
      throw new IllegalArgumentException("gradient vector is " + out.dataType() + ", the model " + gpt.dataType());
    }
  }
}
