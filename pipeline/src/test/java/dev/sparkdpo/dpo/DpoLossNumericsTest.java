package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** Extreme logits, hand-computed values, combinations and input checks. */
class DpoLossNumericsTest {

  /** Two pairs with beta * h = +1000 and -1000 (beta = 1, reference 0). */
  private static PairLogps extreme() {
    return new PairLogps(new double[] {-1, -1001}, new double[] {-1001, -1}, new double[] {0, 0},
        new double[] {0, 0}, new int[] {3, 4}, new int[] {5, 6});
  }

  @Test
  void everyLossIsFiniteAtLogitsPlusMinus1000() {
    for (LossType t : LossType.values()) {
      for (double ls : new double[] {0, 0.1}) {
        for (boolean normalised : new boolean[] {false, true}) {
          DpoConfig cfg = new DpoConfig(1.0, ls, List.of(t), null, false, normalised);
          DpoResult r = DpoLoss.compute(cfg, extreme());
          String what = t + " ls=" + ls + " normalised=" + normalised;
          assertTrue(Double.isFinite(r.loss()), what + " loss " + r.loss());
          for (int i = 0; i < 2; i++) {
            assertTrue(Double.isFinite(r.perPairLoss()[i]), what + " pair " + i);
            assertTrue(Double.isFinite(r.dPolicyChosen()[i]), what + " dChosen " + i);
            assertTrue(Double.isFinite(r.dPolicyRejected()[i]), what + " dRejected " + i);
          }
          r.metrics().forEach((k, v) -> assertTrue(Double.isFinite(v), what + " metric " + k));
        }
      }
    }
  }

  @Test
  void sigmoidSaturatesLinearly() {
    DpoResult r = DpoLoss.compute(DpoConfig.of(1.0, 0, LossType.SIGMOID), extreme());
    assertEquals(0, r.perPairLoss()[0], 1e-300);
    assertEquals(1000, r.perPairLoss()[1], 1e-9);
    assertEquals(0, r.dPolicyChosen()[0], 1e-300);
    assertEquals(-0.5, r.dPolicyChosen()[1], 1e-12);    // -beta / n
    assertEquals(0.5, r.dPolicyRejected()[1], 1e-12);

    DpoResult cdpo = DpoLoss.compute(DpoConfig.of(1.0, 0.1, LossType.SIGMOID), extreme());
    assertEquals(0.1 * 1000, cdpo.perPairLoss()[0], 1e-9);
    assertEquals(0.9 * 1000, cdpo.perPairLoss()[1], 1e-9);
  }

  @Test
  void exoAndRobustAtExtremes() {
    DpoResult exo = DpoLoss.compute(DpoConfig.of(1.0, 0.1, LossType.EXO_PAIR), extreme());
    assertEquals(-Math.log(0.9), exo.perPairLoss()[0], 1e-12);   // sigma(z) -> 1: log 1 - log(1 - eps)
    assertEquals(-Math.log(0.1), exo.perPairLoss()[1], 1e-12);   // sigma(-z) -> 1: log 1 - log eps
    DpoResult robust = DpoLoss.compute(DpoConfig.of(1.0, 0.1, LossType.ROBUST), extreme());
    assertEquals(-0.1 * 1000 / 0.8, robust.perPairLoss()[0], 1e-9);
    assertEquals(0.9 * 1000 / 0.8, robust.perPairLoss()[1], 1e-9);
  }

  @Test
  void handComputedSmallCase() {
    // a = 2, b = -1, h = 3, beta = 0.5: z = 1.5
    PairLogps p = new PairLogps(new double[] {-8}, new double[] {-12}, new double[] {-10}, new double[] {-11},
        new int[] {4}, new int[] {2});
    double z = 1.5;
    double sig = 1 / (1 + Math.exp(-z));
    assertEquals(Math.log1p(Math.exp(-z)), loss(LossType.SIGMOID, p), 1e-12);
    assertEquals(0, loss(LossType.HINGE, p), 0);
    assertEquals(Math.pow(3 - 1, 2), loss(LossType.IPO, p), 1e-12);
    assertEquals(Math.pow(2 - 1, 2) + Math.pow(-1 + 1, 2), loss(LossType.SPPO_HARD, p), 1e-12);
    assertEquals(1 - 1 / (1 + Math.exp(-1)) + 1 / (1 + Math.exp(0.5)), loss(LossType.APO_ZERO, p), 1e-12);
    assertEquals(1 / (1 + Math.exp(-1)) + 1 - sig, loss(LossType.APO_DOWN, p), 1e-12);
    assertEquals(Math.log1p(Math.exp(-1)) + 0.5 * Math.log1p(Math.exp(1)) + 0.5 * Math.log1p(Math.exp(-0.5)),
        loss(LossType.NCA_PAIR, p), 1e-12);
    // bco_pair, one pair: delta = (1 + -0.5) / 2 = 0.25
    assertEquals(Math.log1p(Math.exp(-(1 - 0.25))) + Math.log1p(Math.exp(-0.5 - 0.25)),
        loss(LossType.BCO_PAIR, p), 1e-12);
    assertEquals(8.0 / 4, loss(LossType.SFT, p), 1e-12);
    double exoEps = 1e-3;
    assertEquals(sig * (Math.log(sig) - Math.log(1 - exoEps)) + (1 - sig) * (Math.log(1 - sig) - Math.log(exoEps)),
        loss(LossType.EXO_PAIR, p), 1e-12);
  }

  private static double loss(LossType t, PairLogps p) {
    return DpoLoss.compute(DpoConfig.of(0.5, 0, t), p).loss();
  }

  @Test
  void weightedCombinationIsTheWeightedSum() {
    PairLogps p = DpoLossGradientTest.sample(11);
    DpoResult sigmoid = DpoLoss.compute(DpoConfig.of(0.1, 0, LossType.SIGMOID), p);
    DpoResult sft = DpoLoss.compute(DpoConfig.of(0.1, 0, LossType.SFT), p);
    DpoResult both = DpoLoss.compute(
        new DpoConfig(0.1, 0, List.of(LossType.SIGMOID, LossType.SFT), new double[] {1, 0.1}, false), p);
    assertEquals(sigmoid.loss() + 0.1 * sft.loss(), both.loss(), 1e-12);
    double expectedSft = 0;
    for (int i = 0; i < p.size(); i++) {
      assertEquals(sigmoid.perPairLoss()[i] + 0.1 * sft.perPairLoss()[i], both.perPairLoss()[i], 1e-12);
      assertEquals(sigmoid.dPolicyChosen()[i] + 0.1 * sft.dPolicyChosen()[i], both.dPolicyChosen()[i], 1e-15);
      expectedSft += -p.policyChosen()[i] / p.chosenTokens()[i];
    }
    assertEquals(expectedSft / p.size(), sft.loss(), 1e-12);
    assertEquals(sigmoid.metrics().get("rewards/margins"), both.metrics().get("rewards/margins"), 0);
  }

  @Test
  void referenceFreeReadsReferencesAsZero() {
    PairLogps p = DpoLossGradientTest.sample(5);
    PairLogps zeroRef = new PairLogps(p.policyChosen(), p.policyRejected(), new double[p.size()],
        new double[p.size()], p.chosenTokens(), p.rejectedTokens());
    for (LossType t : LossType.values()) {
      DpoResult free = DpoLoss.compute(new DpoConfig(0.1, 0.1, List.of(t), null, true), p);
      DpoResult zero = DpoLoss.compute(DpoConfig.of(0.1, 0.1, t), zeroRef);
      assertEquals(zero.loss(), free.loss(), 0, t.trlName());
      assertEquals(zero.metrics(), free.metrics(), t.trlName());
    }
  }

  @Test
  void rejectsBadInputs() {
    DpoConfig cfg = DpoConfig.of(0.1, 0, LossType.SIGMOID);
    IllegalArgumentException nan = assertThrows(IllegalArgumentException.class, () -> DpoLoss.compute(cfg,
        new PairLogps(new double[] {Double.NaN}, new double[] {-1}, new double[] {-1}, new double[] {-1},
            new int[] {1}, new int[] {1})));
    assertTrue(nan.getMessage().contains("policyChosen[0]"), nan.getMessage());
    IllegalArgumentException len = assertThrows(IllegalArgumentException.class,
        () -> new PairLogps(new double[2], new double[1], new double[2], new double[2], new int[2], new int[2]));
    assertTrue(len.getMessage().contains("policyRejected has 1"), len.getMessage());
    assertThrows(IllegalArgumentException.class, () -> DpoLoss.compute(cfg,
        new PairLogps(new double[0], new double[0], new double[0], new double[0], new int[0], new int[0])));
    IllegalArgumentException tokens = assertThrows(IllegalArgumentException.class,
        () -> DpoLoss.compute(DpoConfig.of(0.1, 0, LossType.SFT), new PairLogps(new double[] {-1},
            new double[] {-1}, new double[] {-1}, new double[] {-1}, new int[] {0}, new int[] {3})));
    assertTrue(tokens.getMessage().contains("must be > 0"), tokens.getMessage());
  }
}
