package dev.sparkdpo.model;

import java.util.function.UnaryOperator;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Layer norm over the last dim of [rows, D]: y = (x - mean) rstd w + b, rstd = 1 / sqrt(biased variance + eps), as
 * torch. With the views of a gradient vector its backward writes dw and db into (null: frozen).
 */
final class LayerNorm {

  /**
   * The output [rows, D] and, if the forward kept them, what the backward reads: xhat = (x - mean) rstd [rows, D],
   * rstd [rows, 1]. out may be dropped once xhat is kept ({@link #output} recomputes it).
   */
  record Normed(INDArray out, INDArray xhat, INDArray rstd) {

    /** xhat and rstd copied by {@code copy}, out dropped: what a training forward keeps. */
    Normed copiedBy(UnaryOperator<INDArray> copy) {
      return new Normed(null, copy.apply(xhat), copy.apply(rstd));
    }
  }

  private final INDArray weight, bias;         // [D]
  private final INDArray weightGrad, biasGrad; // [D] or null
  private final double epsilon;

  LayerNorm(INDArray weight, INDArray bias, INDArray weightGrad, INDArray biasGrad, double epsilon) {
    if ((weightGrad == null) != (biasGrad == null)) throw new IllegalArgumentException("both gradients or neither");
    this.weight = weight;
    this.bias = bias;
    this.weightGrad = weightGrad;
    this.biasGrad = biasGrad;
    this.epsilon = epsilon;
  }

  /** The normalised rows; with keep, also xhat and rstd for {@link #backward} (else they are overwritten, null). */
  Normed forward(INDArray x, boolean keep) {
    INDArray xc = x.subColumnVector(x.mean(true, 1));                                       // [rows, D]
    INDArray variance = xc.mul(xc).mean(true, 1); // biased, as torch                          [rows, 1]
    INDArray rstd = Transforms.pow(variance.addi(epsilon), -0.5, false);
    INDArray xhat = xc.muliColumnVector(rstd);
    if (!keep) return new Normed(xhat.muliRowVector(weight).addiRowVector(bias), null, null);
    return new Normed(xhat.mulRowVector(weight).addiRowVector(bias), xhat, rstd);
  }

  /** The output of a kept forward, recomputed from xhat if it was dropped: xhat w + b [rows, D]. */
  INDArray output(Normed n) {
    return n.out() != null ? n.out() : n.xhat().mulRowVector(weight).addiRowVector(bias);
  }

  /** The normalised rows only (inference). */
  INDArray apply(INDArray x) {
    return forward(x, false).out();
  }

  /**
   * y = xhat w + b, xhat = (x - mean) rstd: dw = sum_rows dy xhat, db = sum_rows dy into the gradient views, and with
   * g = dy w, dx = rstd (g - mean(g) - xhat mean(g xhat)), means over the row.
   */
  INDArray backward(Normed n, INDArray dy) {
    if (weightGrad != null) {
      dy.mul(n.xhat()).sum(weightGrad, 0);
      dy.sum(biasGrad, 0);
    }
    INDArray dxhat = dy.mulRowVector(weight);                                               // [rows, D]
    INDArray meanG = dxhat.mean(true, 1);                                                   // [rows, 1]
    INDArray meanGx = dxhat.mul(n.xhat()).mean(true, 1);                                    // [rows, 1]
    return dxhat.subiColumnVector(meanG).subi(n.xhat().mulColumnVector(meanGx)).muliColumnVector(n.rstd());
  }
}
