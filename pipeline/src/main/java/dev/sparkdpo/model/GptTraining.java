package dev.sparkdpo.model;

import java.util.Map;
import java.util.function.Function;

/**
 * Training of a {@link Gpt} for sequence-level losses such as DPO (explicit, llm.c style): a forward that keeps the
 * activations each layer's backward needs, then gradients of the loss with respect to every parameter given
 * d(loss)/d(sequence log-prob) of each row, by HF name ({@link GptParams}). The step itself is {@link TrainingStep}'s;
 * the maths is beside the code: the lm_head and log-softmax in {@link LmHead#backward}, each block in
 * {@link GptBlock#backward}, layer norm in {@link LayerNorm#backward}, the linear layers in {@link Conv1D#backward}.
 *
 * <p>Sequence log-prob of row b = sum over response positions t of log softmax(h_t wte^T)[y_{t+1}], so
 * d/dlogits_t = dseq_b (onehot(y_{t+1}) - softmax(logits_t)) at those positions and 0 elsewhere. The [rows, V] logits
 * are recomputed in chunks in the backward (never [B, T, V] at once). Parameter gradients are written straight into
 * a {@link GptParams} gradient vector (BLAS gemm into its views).
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
      return activations.logps().clone();
    }
  }

  private final Gpt gpt;
  private final GptConfig config;
  private final TrainingStep step;

  public GptTraining(Gpt gpt) {
    this.gpt = gpt;
    this.config = gpt.config();
    this.step = new TrainingStep(gpt);
  }

  /**
   * One training step's gradients: forward, then {@code lossGradient} maps the rows' sequence log-probs to
   * d(loss)/d(log-prob) per row, then the backward overwrites {@code out} with d(loss)/d(params). All activations
   * and temporaries live in one per-thread workspace reused from step to step. Returns the sequence log-probs.
   */
  public double[] step(int[][] tokens, int[] promptLengths, Function<double[], double[]> lossGradient,
      GptParams out) {
    checkGradientVector(out);
    return step.run(tokens, promptLengths, lossGradient, out.flat(), 0);
  }

  /**
   * Forward with cached activations for the right-padded batch; promptLengths as in {@link Gpt#responseLogProbs}.
   * The cache is ordinary (garbage-collected) memory: prefer {@link #step} in loops.
   */
  public Forward forward(int[][] tokens, int[] promptLengths) {
    return new Forward(Workspaces.outside(() -> gpt.forwardKeeping(tokens, promptLengths, 0)));
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
    if (dLossDSeqLogp.length != f.activations.batch.b()) {
      throw new IllegalArgumentException("one gradient per batch row");
    }
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
