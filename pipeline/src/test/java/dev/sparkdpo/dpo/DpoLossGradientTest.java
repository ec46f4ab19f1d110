package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Analytic d(mean loss)/d(policy log-probs) against central finite differences (h = 1e-6). Tolerance: relative 1e-6,
 * with an absolute floor of 1e-8 * max(1, |loss|), the rounding noise of a central difference at this step. bco_pair's
 * delta is held at the unperturbed batch mean, as TRL detaches it.
 */
class DpoLossGradientTest {
  private static final double H = 1e-6;
  private static final double REL = 1e-6;

  static Stream<Arguments> configs() {
    List<Arguments> out = new ArrayList<>();
    for (LossType t : LossType.values()) {
      for (double beta : new double[] {0.1, 0.5}) {
        out.add(Arguments.of(t + " beta=" + beta, DpoConfig.of(beta, 0, t)));
        out.add(Arguments.of(t + " beta=" + beta + " ls=0.1", DpoConfig.of(beta, 0.1, t)));
      }
      out.add(Arguments.of(t + " reference-free", new DpoConfig(0.1, 0.2, List.of(t), null, true)));
    }
    out.add(Arguments.of("ipo length-normalised",
        new DpoConfig(0.1, 0, List.of(LossType.IPO), null, false, true)));
    out.add(Arguments.of("ipo length-normalised, reference-free",
        new DpoConfig(0.3, 0, List.of(LossType.IPO), null, true, true)));
    out.add(Arguments.of("sigmoid + 0.1 sft",
        new DpoConfig(0.1, 0, List.of(LossType.SIGMOID, LossType.SFT), new double[] {1, 0.1}, false)));
    out.add(Arguments.of("mpo: sigmoid + bco_pair + sft",
        new DpoConfig(0.1, 0.05, List.of(LossType.SIGMOID, LossType.BCO_PAIR, LossType.SFT),
            new double[] {0.8, 0.2, 1.0}, false)));
    out.add(Arguments.of("cdpo + robust + exo, weighted",
        new DpoConfig(0.2, 0.15, List.of(LossType.SIGMOID, LossType.ROBUST, LossType.EXO_PAIR),
            new double[] {0.5, 0.3, 0.2}, false)));
    double[] all = new double[LossType.values().length];
    for (int k = 0; k < all.length; k++) all[k] = 0.1 + 0.07 * k;
    out.add(Arguments.of("every loss type, weighted, ipo normalised",
        new DpoConfig(0.25, 0.1, List.of(LossType.values()), all, false, true)));
    out.add(Arguments.of("every loss type, reference-free",
        new DpoConfig(0.25, 0.1, List.of(LossType.values()), null, true)));
    return out.stream();
  }

  /** 6 pairs with log-probs in [-80, -5] and beta * h of order 1. */
  static PairLogps sample(long seed) {
    Random rnd = new Random(seed);
    int n = 6;
    double[] pc = new double[n];
    double[] pr = new double[n];
    double[] rc = new double[n];
    double[] rr = new double[n];
    int[] nc = new int[n];
    int[] nr = new int[n];
    for (int i = 0; i < n; i++) {
      nc[i] = 1 + rnd.nextInt(30);
      nr[i] = 1 + rnd.nextInt(30);
      rc[i] = -5 - 75 * rnd.nextDouble();
      rr[i] = -5 - 75 * rnd.nextDouble();
      pc[i] = rc[i] + 12 * rnd.nextGaussian();
      pr[i] = rr[i] + 12 * rnd.nextGaussian();
    }
    return new PairLogps(pc, pr, rc, rr, nc, nr);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("configs")
  void matchesFiniteDifferences(String name, DpoConfig cfg) {
    for (long seed = 1; seed <= 3; seed++) {
      PairLogps base = sample(seed);
      double delta = DpoLoss.batchMeanReward(cfg, base);
      DpoResult r = DpoLoss.compute(cfg, base);
      assertEquals(r.loss(), DpoLoss.compute(cfg, base, delta).loss(), 0, "batch-mean delta is the default");
      double floor = 1e-8 * Math.max(1, Math.abs(r.loss()));
      for (int i = 0; i < base.size(); i++) {
        double fdChosen = (lossAt(cfg, base, delta, i, true, H) - lossAt(cfg, base, delta, i, true, -H)) / (2 * H);
        double fdRejected = (lossAt(cfg, base, delta, i, false, H) - lossAt(cfg, base, delta, i, false, -H)) / (2 * H);
        assertClose(fdChosen, r.dPolicyChosen()[i], floor, name + " seed " + seed + " d/dpolicyChosen[" + i + "]");
        assertClose(fdRejected, r.dPolicyRejected()[i], floor,
            name + " seed " + seed + " d/dpolicyRejected[" + i + "]");
      }
    }
  }

  private static double lossAt(DpoConfig cfg, PairLogps base, double delta, int i, boolean chosen, double step) {
    double[] pc = base.policyChosen().clone();
    double[] pr = base.policyRejected().clone();
    if (chosen) pc[i] += step;
    else pr[i] += step;
    PairLogps p = new PairLogps(pc, pr, base.refChosen(), base.refRejected(), base.chosenTokens(),
        base.rejectedTokens());
    return DpoLoss.compute(cfg, p, delta).loss();
  }

  private static void assertClose(double fd, double analytic, double floor, String what) {
    double tol = REL * Math.max(Math.abs(fd), Math.abs(analytic)) + floor;
    assertTrue(Math.abs(fd - analytic) <= tol,
        what + ": finite difference " + fd + " vs analytic " + analytic + " (diff " + Math.abs(fd - analytic)
            + ", tol " + tol + ")");
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("configs")
  void derivativesAreNotAllZero(String name, DpoConfig cfg) {
    DpoResult r = DpoLoss.compute(cfg, sample(7));
    assertTrue(Arrays.stream(r.dPolicyChosen()).anyMatch(d -> d != 0), name + ": some chosen derivative is nonzero");
  }
}
