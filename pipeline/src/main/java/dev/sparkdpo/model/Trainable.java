package dev.sparkdpo.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The architecture's half of a training step: a forward that keeps what its backward needs, and the backward into a
 * flat gradient vector. {@link TrainingStep} runs them per row part, one part per thread.
 */
interface Trainable {

  ModelConfig config();

  DataType dataType();

  int rowThreadsCount();

  /**
   * Length of the flat gradient vector {@link #backward} writes: every parameter's by default; a model with frozen
   * parts (LoRA adapters over a frozen base) counts only what it trains.
   */
  default long trainableParameterCount() {
    return config().parameterCount();
  }

  /** A forward pass that kept what its backward needs. */
  interface Pass {
    /** Summed response log-prob of each batch row (as {@link LanguageModel#responseLogProbs}); not a copy. */
    double[] logps();
  }

  /**
   * The rows' response log-probs, keeping activations (in the caller's workspace). A training pass: {@code seed}
   * seeds its random masks (LoRA dropout), which its backward must replay.
   */
  Pass forwardKeeping(int[][] tokens, int[] promptLengths, long seed);

  /**
   * Overwrites {@code grads} (a flat vector in {@link ModelConfig#parameterShapes} order) with d loss / d params,
   * given d loss / d (sequence log-prob) of each row of the pass. Consumes the pass: it may drop its activations as
   * the backward passes them.
   */
  void backward(Pass pass, double[] dSeq, INDArray grads);
}
