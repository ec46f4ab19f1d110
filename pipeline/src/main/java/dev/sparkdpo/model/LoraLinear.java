package dev.sparkdpo.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.random.impl.DropOutInverted;
import org.nd4j.linalg.api.rng.Random;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A LoRA adapter around a frozen linear layer, PEFT's {@code lora.Linear} over a Conv1D: y = base(x) + s (x A^T) B^T
 * with PEFT's shapes A = lora_A.weight [r, in], B = lora_B.weight [out, r] (nn.Linear layout, also when the base is a
 * Conv1D with fan_in_fan_out) and s = lora_alpha / r. The base layer must be frozen (built without gradient views):
 * only A and B get gradients, into views of the adapters' gradient vector (null: inference only).
 *
 * <p>lora_dropout p > 0 in a training pass (a mask seed is given): y = base(x) + s (drop(x) A^T) B^T with PEFT's
 * inverted dropout drop(x) = x * m / (1 - p), m_ij ~ Bernoulli(1 - p), a fresh mask per pass (its seed). The base
 * path sees x itself. The backward needs the same mask: it is not kept but drawn again from the same seed (a
 * counter-based generator: the values depend only on the seed and the element index), so dropout costs no memory
 * between the forward and the backward, only two more draws of [rows, in]. Without a seed (inference: log-probs,
 * evaluation, sampling) there is no dropout, as PEFT's eval mode.
 */
final class LoraLinear implements Linear {
  private final Linear base;
  private final INDArray a;     // [r, in]
  private final INDArray b;     // [out, r]
  private final double scale;   // alpha / r
  private final double dropout; // p, the probability of dropping an input of the adapter path
  private final Long maskSeed;  // the pass's mask seed; null: no dropout (inference, or p = 0)
  private final INDArray aGrad; // [r, in] or null
  private final INDArray bGrad; // [out, r] or null

  LoraLinear(Linear base, INDArray a, INDArray b, double scale, double dropout, Long maskSeed, INDArray aGrad,
      INDArray bGrad) {
    if ((aGrad == null) != (bGrad == null)) throw new IllegalArgumentException("both gradients or neither");
    if (a.rank() != 2 || b.rank() != 2 || a.size(0) != b.size(1)) {
      throw new IllegalArgumentException("lora_A must be [r, in] and lora_B [out, r]");
    }
    if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("dropout must be in [0, 1)");
    this.base = base;
    this.a = a;
    this.b = b;
    this.scale = scale;
    this.dropout = dropout;
    this.maskSeed = dropout > 0 ? maskSeed : null;
    this.aGrad = aGrad;
    this.bGrad = bGrad;
  }

  /**
   * base(x) + s (drop(x) A^T) B^T: the rank-r path costs rows * r * (in + out), small beside the base's
   * rows * in * out.
   */
  @Override
  public INDArray forward(INDArray x) {
    INDArray y = base.forward(x);                                                           // [rows, out]
    INDArray xa = Nd4j.gemm(dropped(x), a, false, true).muli(scale);                        // [rows, r] = s xd A^T
    Conv1D.gemm(xa, b, y, false, true, 1.0);                                                // y += (s xd A^T) B^T
    return y;
  }

  /**
   * With xd = drop(x) = x * m / (1 - p) (xd = x without dropout), u = xd A^T [rows, r], y = base(x) + s u B^T:
   * dB = s dy^T u [out, r]; dA = s (dy B)^T xd [r, in]; dx = base's dx + (s (dy B) A) * m / (1 - p) [rows, in], i.e.
   * the adapter path's gradient goes through the same mask (drop of it with the forward's seed).
   * The frozen base writes no gradient. u (and xd) are recomputed (rows * in * r) rather than kept from the forward:
   * the blocks keep only the layer's input.
   */
  @Override
  public INDArray backward(INDArray x, INDArray dy) {
    INDArray dyB = Nd4j.gemm(dy, b, false, false).muli(scale);                              // [rows, r] = s dy B
    if (aGrad != null) {
      INDArray xd = dropped(x);                                                             // [rows, in], forward's m
      INDArray su = Nd4j.gemm(xd, a, false, true).muli(scale);                              // [rows, r] = s xd A^T
      Conv1D.gemm(dy, su, bGrad, true, false, 0.0);                                         // [out, r] = dy^T s u
      Conv1D.gemm(dyB, xd, aGrad, true, false, 0.0);                                        // [r, in] = (s dy B)^T xd
    }
    INDArray dx = base.backward(x, dy);                                                     // [rows, in]
    if (maskSeed == null) {
      Conv1D.gemm(dyB, a, dx, false, false, 1.0);                                           // dx += (s dy B) A
    } else {
      dx.addi(dropped(Nd4j.gemm(dyB, a, false, false)));                                    // dx += drop((s dy B) A)
    }
    return dx;
  }

  /** drop(t) with this pass's mask (t itself without one): a new array, t unchanged. */
  private INDArray dropped(INDArray t) {
    return maskSeed == null ? t : dropped(t, dropout, maskSeed);
  }

  /**
   * Inverted dropout of t [rows, n] with the mask of {@code seed}: t * m / (1 - p), m ~ Bernoulli(1 - p) drawn by a
   * fresh generator of that seed (libnd4j's DropOutInverted keeps t_i where the i-th uniform draw is below 1 - p). Two
   * arrays of one shape get the same mask from one seed; the input is copied to 'c' order first so that element i is
   * the same position in both.
   */
  static INDArray dropped(INDArray t, double p, long seed) {
    INDArray in = t.ordering() == 'c' && !t.isView() ? t : t.dup('c');
    INDArray out = in.ulike();
    Random r = Nd4j.getRandomFactory().getNewRandomInstance(seed); // a small native state, freed at once
    try {
      Nd4j.getExecutioner().exec(new DropOutInverted(in, out, 1 - p), r);
    } finally {
      close(r);
    }
    return out;
  }

  private static void close(Random r) {
    try {
      r.close();
    } catch (Exception e) {
      throw new IllegalStateException("closing a dropout mask generator failed", e);
    }
  }
}
