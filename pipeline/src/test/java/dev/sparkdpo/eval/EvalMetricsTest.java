package dev.sparkdpo.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** eval.json's numbers on hand-computed inputs. */
class EvalMetricsTest {
  private static EvalSamples.Sample sample(double policyReward, double referenceReward, double lp, double lr) {
    return new EvalSamples.Sample("p", "x", 0, 1, new EvalSamples.Completion("a", 3, policyReward, lp, lr),
        new EvalSamples.Completion("b", 5, referenceReward, -7, -6));
  }

  @Test
  void winRateCountsTiesHalfAndKlIsPolicyMinusReference() {
    List<EvalSamples.Sample> s = List.of(sample(2, 1, -10, -12), sample(0, 0, -5, -5), sample(-1, 3, -8, -7),
        sample(1.5, 1.5, -4, -6));
    // win, tie, loss, tie: (1 + 0.5 + 0 + 0.5) / 4
    assertEquals(0.5, EvalMetrics.winRate(s), 0);
    assertEquals(1.0, EvalMetrics.winRate(List.of(sample(1, 0, 0, 0))), 0);
    double[] kl = EvalMetrics.klTerms(s); // 2, 0, -1, 2
    assertEquals(0.75, EvalMetrics.mean(kl), 0);
    // population std: deviations 1.25, -0.75, -1.75, 1.25 -> (1.5625 + 0.5625 + 3.0625 + 1.5625) / 4 = 1.6875
    assertEquals(Math.sqrt(1.6875), EvalMetrics.std(kl), 1e-15);
    EvalMetrics.Samples policy = EvalMetrics.samples(s.stream().map(EvalSamples.Sample::policy).toList(), true);
    assertEquals(new EvalMetrics.Samples(0.625, EvalMetrics.std(new double[] {2, 0, -1, 1.5}), -6.75, 3), policy);
    EvalMetrics.Samples ref = EvalMetrics.samples(s.stream().map(EvalSamples.Sample::reference).toList(), false);
    assertEquals(-6, ref.logpMean(), 0); // the reference's own log-prob of its samples
  }

  @Test
  void preferenceMarginsAndAccuracy() {
    double[] pc = {-10, -20, -5}, pr = {-12, -18, -5}, rc = {-11, -19, -6}, rr = {-11, -19, -6};
    // beta * ((pc - rc) - (pr - rr)): 0.5 * (1 - (-1)) = 1, 0.5 * (-1 - 1) = -1, 0.5 * (1 - 1) = 0 (a tie: no win)
    EvalMetrics.Preference p = EvalMetrics.policy(0.5, pc, pr, rc, rr);
    assertEquals(new EvalMetrics.Preference(3, 1.0 / 3, 0, -35.0 / 3, -35.0 / 3), p);
    EvalMetrics.Preference r = EvalMetrics.reference(new double[] {-1, -4}, new double[] {-2, -3});
    assertEquals(new EvalMetrics.Preference(2, 0.5, 0, -2.5, -2.5), r);
  }

  @Test
  void promptSeedsAreDeterministicAndDifferByPromptAndSeed() {
    long a = EvaluateStage.promptSeed(42, "0123456789abcdef");
    assertEquals(a, EvaluateStage.promptSeed(42, "0123456789abcdef"));
    assertNotEquals(a, EvaluateStage.promptSeed(43, "0123456789abcdef"));
    assertNotEquals(a, EvaluateStage.promptSeed(42, "0123456789abcdee"));
  }
}
