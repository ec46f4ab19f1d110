package dev.sparkdpo.model;

import java.util.Map;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A model architecture's hyper-parameters and its checkpoint mapping: what the DL4J layer, the trainer and the stages
 * need to know of a model without knowing which architecture it is.
 */
public interface ModelConfig {

  int vocabSize();

  /** The longest sequence the model takes (GPT-2's n_positions). */
  int contextLength();

  /** Query heads per attention layer (for memory estimates of the [B, H, T, T] attention scores). */
  int attentionHeads();

  /**
   * The checkpoint mapping: the Hugging Face tensor names and shapes of the model's parameters, in the order of its
   * flat parameter (and gradient) vector.
   */
  Map<String, long[]> parameterShapes();

  /** Number of parameters (tied tensors counted once): the length of the flat vector. */
  default long parameterCount() {
    return parameterShapes().values().stream().mapToLong(Tensor::numel).sum();
  }

  /** A model over a flat parameter vector in {@link #parameterShapes} order (not copied: updates are the model's). */
  LanguageModel model(INDArray flatParameters);
}
