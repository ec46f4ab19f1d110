package dev.sparkdpo.model;

import java.util.function.Function;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A causal language model as the rest of spark-dpo uses it, whatever its architecture: sequence log-probs (the
 * reference scorer, evaluate, training's eval), a training step (the DL4J layer), and KV-cached decoding (the
 * {@link Sampler}). {@link Gpt} is GPT-2; another architecture (e.g. Llama: RMSNorm, RoPE, SwiGLU, grouped-query
 * attention) is another implementation with its own {@link ModelConfig} and checkpoint mapping.
 *
 * <p>Thread-safe for concurrent calls on distinct inputs (temporaries live in per-thread workspaces), except
 * {@link #trainingStep}, which runs one step at a time.
 */
public interface LanguageModel {

  ModelConfig config();

  /** The type the model computes in (float32 for work, float64 for gradient checks). */
  DataType dataType();

  /** Threads the rows of a batch are split over. */
  int rowThreadsCount();

  /** The same model (weights shared) running the rows of a batch on this many threads. */
  LanguageModel withRowThreads(int threads);

  /**
   * Sum over each row's response tokens (positions promptLen..len-1) of their log-prob given everything before:
   * the DPO sequence log-prob. Rows are right-padded internally; chosen and rejected of a pair go through one batch.
   */
  double[] responseLogProbs(int[][] tokens, int[] promptLengths);

  /** out[b][t] = log softmax(logits[b, t])[tokens[b][t + 1]] for t < len_b - 1. */
  float[][] tokenLogProbs(int[][] tokens);

  /**
   * One training step's gradients: the forward gives the rows' response log-probs (as {@link #responseLogProbs}),
   * {@code lossGradient} maps them to d(loss)/d(log-prob) per row, and the backward overwrites {@code gradients} (a
   * flat vector in {@link ModelConfig#parameterShapes} order, e.g. DL4J's gradient view) with d(loss)/d(params).
   * Returns the log-probs. {@code seed} seeds the step's random masks (LoRA dropout: the forward is a training pass,
   * the returned log-probs those of its masks); the same seed, the same masks.
   */
  double[] trainingStep(int[][] tokens, int[] promptLengths, Function<double[], double[]> lossGradient,
      INDArray gradients, long seed);

  /** {@link #trainingStep(int[][], int[], Function, INDArray, long)} with seed 0. */
  default double[] trainingStep(int[][] tokens, int[] promptLengths, Function<double[], double[]> lossGradient,
      INDArray gradients) {
    return trainingStep(tokens, promptLengths, lossGradient, gradients, 0);
  }

  /** An empty KV cache for {@code rows} rows of up to {@code capacity} positions. */
  KvCache newKvCache(int rows, int capacity);

  /**
   * Runs the step's new positions through the model, writing their keys and values into the cache; returns the logits
   * [B, V] of each row's last new position.
   */
  INDArray decode(KvCache cache, DecodeStep step);
}
