package dev.sparkdpo.eval;

import java.util.List;

/** The numbers of eval.json, computed from per-pair log-probs and per-sample records (driver side, plain math). */
public final class EvalMetrics {
  private EvalMetrics() {}

  /** Preference metrics of one model over the eval pairs. */
  public record Preference(long pairs, double accuracy, double marginMean, double chosenLogpMean,
      double rejectedLogpMean) {}

  /** Sample metrics of one model's completions. */
  public record Samples(double rewardMean, double rewardStd, double logpMean, double lengthMean) {}

  /**
   * The policy against the reference on pairs i with summed log-probs pc, pr (policy chosen / rejected) and rc, rr
   * (reference): margin_i = beta * ((pc_i - rc_i) - (pr_i - rr_i)), DPO's implicit reward margin; accuracy = share of
   * margin_i > 0 (a tie is not a win: a policy equal to the reference scores 0).
   */
  public static Preference policy(double beta, double[] pc, double[] pr, double[] rc, double[] rr) {
    int n = pc.length;
    double[] margin = new double[n];
    for (int i = 0; i < n; i++) margin[i] = beta * ((pc[i] - rc[i]) - (pr[i] - rr[i]));
    return preference(margin, pc, pr);
  }

  /** The reference as its own baseline: margin_i = rc_i - rr_i, its raw log-prob margin. */
  public static Preference reference(double[] rc, double[] rr) {
    int n = rc.length;
    double[] margin = new double[n];
    for (int i = 0; i < n; i++) margin[i] = rc[i] - rr[i];
    return preference(margin, rc, rr);
  }

  private static Preference preference(double[] margin, double[] chosen, double[] rejected) {
    int n = margin.length;
    int correct = 0;
    for (double m : margin) if (m > 0) correct++;
    return new Preference(n, n == 0 ? Double.NaN : (double) correct / n, mean(margin), mean(chosen), mean(rejected));
  }

  /** A model's completions: reward mean and (population) std, mean of the model's own log-prob, mean token count. */
  public static Samples samples(List<EvalSamples.Completion> completions, boolean policy) {
    int n = completions.size();
    double[] reward = new double[n], logp = new double[n], length = new double[n];
    for (int i = 0; i < n; i++) {
      EvalSamples.Completion c = completions.get(i);
      reward[i] = c.reward();
      logp[i] = policy ? c.logpPolicy() : c.logpReference();
      length[i] = c.tokens();
    }
    return new Samples(mean(reward), std(reward), mean(logp), mean(length));
  }

  /**
   * Per policy sample y ~ π(·|x): log π(y|x) - log π_ref(y|x), whose mean over samples is the Monte Carlo estimate of
   * KL(π || π_ref) per prompt (sequence level, summed over tokens).
   */
  public static double[] klTerms(List<EvalSamples.Sample> samples) {
    double[] kl = new double[samples.size()];
    for (int i = 0; i < kl.length; i++) {
      EvalSamples.Completion p = samples.get(i).policy();
      kl[i] = p.logpPolicy() - p.logpReference();
    }
    return kl;
  }

  /** Share of paired samples where the policy's reward beats the reference's; a tie counts half. */
  public static double winRate(List<EvalSamples.Sample> samples) {
    double wins = 0;
    for (EvalSamples.Sample s : samples) {
      double p = s.policy().reward(), r = s.reference().reward();
      wins += p > r ? 1 : p == r ? 0.5 : 0;
    }
    return samples.isEmpty() ? Double.NaN : wins / samples.size();
  }

  public static double mean(double[] x) {
    if (x.length == 0) return Double.NaN;
    double s = 0;
    for (double v : x) s += v;
    return s / x.length;
  }

  /** Population standard deviation: sqrt(mean((x - mean)^2)). */
  public static double std(double[] x) {
    if (x.length == 0) return Double.NaN;
    double m = mean(x), s = 0;
    for (double v : x) s += (v - m) * (v - m);
    return Math.sqrt(s / x.length);
  }
}
