package dev.sparkdpo.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A linear layer, [rows, in] to [rows, out], with its backward. The seam for adapters: a LoRA layer is a Linear that
 * wraps the base one (y = base(x) + s x A B, base frozen) and is built in the one place a model's weight mapping
 * builds its layers ({@link GptWeights#layers}); the blocks only ever call these two methods.
 */
interface Linear {

  /** y for x [rows, in]: [rows, out]. */
  INDArray forward(INDArray x);

  /**
   * d loss / dx [rows, in] for the forward's input x and dy = d loss / dy [rows, out]; writes (overwrites) the
   * gradients of the layer's own trainable parameters.
   */
  INDArray backward(INDArray x, INDArray dy);
}
