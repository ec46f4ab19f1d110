package dev.sparkdpo.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * GPT-2's linear layer (HF Conv1D): y = x W + b with W in [in, out] layout (c_attn, c_proj, c_fc), and the views of a
 * gradient vector its backward writes dW and db into (null: frozen, the backward only returns dx).
 */
final class Conv1D implements Linear {
  private final INDArray weight;     // [in, out]
  private final INDArray bias;       // [out]
  private final INDArray weightGrad; // [in, out] or null
  private final INDArray biasGrad;   // [out] or null

  Conv1D(INDArray weight, INDArray bias, INDArray weightGrad, INDArray biasGrad) {
    if ((weightGrad == null) != (biasGrad == null)) throw new IllegalArgumentException("both gradients or neither");
    this.weight = weight;
    this.bias = bias;
    this.weightGrad = weightGrad;
    this.biasGrad = biasGrad;
  }

  /** x W + b. Nd4j.gemm calls BLAS directly; INDArray.mmul goes through the MatMul op at twice the cost. */
  @Override
  public INDArray forward(INDArray x) {
    return Nd4j.gemm(x, weight, false, false).addiRowVector(bias);                          // [rows, out]
  }

  /** dW = x^T dy, db = sum_rows dy (into the gradient views); returns dx = dy W^T. */
  @Override
  public INDArray backward(INDArray x, INDArray dy) {
    if (weightGrad != null) {
      gemm(x, dy, weightGrad, true, false, 0.0);                                            // [in, out]
      dy.sum(biasGrad, 0);                                                                  // [out]
    }
    return Nd4j.gemm(dy, weight, false, true);                                              // [rows, in]
  }

  /**
   * c = op(a) op(b) + beta c through BLAS into c, which may be a view (a gradient tensor inside the flat gradient
   * vector); Nd4j.gemm refuses views.
   */
  static void gemm(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB, double beta) {
    Nd4j.getBlasWrapper().level3().gemm(a, b, c, transposeA, transposeB, 1.0, beta);
  }
}
