package dev.sparkdpo.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A LoRA adapter around a frozen linear layer, PEFT's {@code lora.Linear} over a Conv1D: y = base(x) + s (x A^T) B^T
 * with PEFT's shapes A = lora_A.weight [r, in], B = lora_B.weight [out, r] (nn.Linear layout, also when the base is a
 * Conv1D with fan_in_fan_out) and s = lora_alpha / r. No dropout (LoraConfig refuses any). The base layer must be
 * frozen (built without gradient views): only A and B get gradients, into views of the adapters' gradient vector
 * (null: inference only).
 */
final class LoraLinear implements Linear {
  private final Linear base;
  private final INDArray a;     // [r, in]
  private final INDArray b;     // [out, r]
  private final double scale;   // alpha / r
  private final INDArray aGrad; // [r, in] or null
  private final INDArray bGrad; // [out, r] or null

  LoraLinear(Linear base, INDArray a, INDArray b, double scale, INDArray aGrad, INDArray bGrad) {
    if ((aGrad == null) != (bGrad == null)) throw new IllegalArgumentException("both gradients or neither");
    if (a.rank() != 2 || b.rank() != 2 || a.size(0) != b.size(1)) {
      throw new IllegalArgumentException("lora_A must be [r, in] and lora_B [out, r]");
    }
    this.base = base;
    this.a = a;
    this.b = b;
    this.scale = scale;
    this.aGrad = aGrad;
    this.bGrad = bGrad;
  }

  /** base(x) + s (x A^T) B^T: the rank-r path costs rows * r * (in + out), small beside the base's rows * in * out. */
  @Override
  public INDArray forward(INDArray x) {
    INDArray y = base.forward(x);                                                           // [rows, out]
    INDArray xa = Nd4j.gemm(x, a, false, true).muli(scale);                                 // [rows, r] = s x A^T
    Conv1D.gemm(xa, b, y, false, true, 1.0);                                                // y += (s x A^T) B^T
    return y;
  }

  /**
   * With u = x A^T [rows, r] and y = base(x) + s u B^T:
   * dB = s dy^T u [out, r]; dA = s (dy B)^T x [r, in]; dx = base's dx + s (dy B) A [rows, in].
   * The frozen base writes no gradient. u is recomputed (rows * in * r) rather than kept from the forward: the
   * blocks keep only the layer's input.
   */
  @Override
  public INDArray backward(INDArray x, INDArray dy) {
    INDArray dyB = Nd4j.gemm(dy, b, false, false).muli(scale);                              // [rows, r] = s dy B
    if (aGrad != null) {
      INDArray su = Nd4j.gemm(x, a, false, true).muli(scale);                               // [rows, r] = s x A^T
      Conv1D.gemm(dy, su, bGrad, true, false, 0.0);                                         // [out, r] = dy^T s u
      Conv1D.gemm(dyB, x, aGrad, true, false, 0.0);                                         // [r, in] = (s dy B)^T x
    }
    INDArray dx = base.backward(x, dy);                                                     // [rows, in]
    Conv1D.gemm(dyB, a, dx, false, false, 1.0);                                             // dx += (s dy B) A
    return dx;
  }
}
