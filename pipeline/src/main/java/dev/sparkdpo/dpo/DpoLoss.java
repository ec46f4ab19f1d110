package dev.sparkdpo.dpo;

import static dev.sparkdpo.dpo.Sigmoids.logSigmoid;
import static dev.sparkdpo.dpo.Sigmoids.sigmoid;
import static dev.sparkdpo.dpo.Sigmoids.sigmoidSlope;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * DPO losses on sequence log-probs, following TRL's {@code DPOTrainer.dpo_loss}, with their analytic derivatives for the
 * model's backward pass.
 *
 * <p>Per pair, with a = policyChosen - refChosen, b = policyRejected - refRejected (references read as 0 when
 * reference-free), h = a - b (TRL's {@code logits}), z = beta * h, eps = label smoothing, sigma the logistic function:
 * <ul>
 *   <li>sigmoid: -(1-eps) log sigma(z) - eps log sigma(-z) (DPO; cDPO when eps &gt; 0)</li>
 *   <li>robust: (-(1-eps) log sigma(z) + eps log sigma(-z)) / (1 - 2 eps)</li>
 *   <li>exo_pair: sigma(z) (log sigma(z) - log(1-eps)) + sigma(-z) (log sigma(-z) - log eps), eps = 1e-3 when 0 (as TRL)</li>
 *   <li>hinge: max(0, 1 - z)</li>
 *   <li>ipo: (h - 1/(2 beta))^2; with {@link DpoConfig#ipoLengthNormalized()} h = a/chosenTokens - b/rejectedTokens</li>
 *   <li>bco_pair: -log sigma(beta a - delta) - log sigma(-(beta b - delta)); TRL's delta is a running mean of the
 *       rewards across steps, here the mean of the 2n rewards of this batch (or a caller-supplied value, see
 *       {@link #compute(DpoConfig, PairLogps, double)}); delta is a constant for the derivative (TRL detaches it)</li>
 *   <li>sppo_hard: (a - 1/(2 beta))^2 + (b + 1/(2 beta))^2</li>
 *   <li>nca_pair: -log sigma(beta a) - 0.5 log sigma(-beta a) - 0.5 log sigma(-beta b)</li>
 *   <li>apo_zero: 1 - sigma(beta a) + sigma(beta b)</li>
 *   <li>apo_down: sigma(beta a) + 1 - sigma(beta (a - b))</li>
 *   <li>sft: -policyChosen / chosenTokens (NLL per token of the chosen response; no reference)</li>
 * </ul>
 * A pair's loss is the weighted sum of its terms (TRL's {@code loss_type} list with {@code loss_weights}); the batch
 * loss is the mean over pairs. Rewards are beta * (policy - reference), never weighted or length-normalised.
 */
public final class DpoLoss {
  /** EXO's epsilon when label smoothing is 0 (TRL sets {@code self.label_smoothing = 1e-3}). */
  static final double EXO_DEFAULT_EPS = 1e-3;

  private DpoLoss() {}

  /** Loss, derivatives, rewards and metrics; bco_pair's delta is the mean reward of this batch. */
  public static DpoResult compute(DpoConfig cfg, PairLogps logps) {
    return run(cfg, logps, Double.NaN);
  }

  /**
   * As {@link #compute(DpoConfig, PairLogps)}, with bco_pair's delta given by the caller (e.g. a running mean of the
   * rewards over steps, as TRL keeps).
   */
  public static DpoResult compute(DpoConfig cfg, PairLogps logps, double bcoDelta) {
    if (!Double.isFinite(bcoDelta)) throw new IllegalArgumentException("bco delta must be finite, got " + bcoDelta);
    return run(cfg, logps, bcoDelta);
  }

  /** The mean of the 2n rewards beta * (policy - reference) of the batch: bco_pair's delta in {@link #compute}. */
  public static double batchMeanReward(DpoConfig cfg, PairLogps logps) {
    double sum = 0;
    int n = logps.size();
    for (int i = 0; i < n; i++) {
      sum += cfg.beta() * (chosenRatio(cfg, logps, i) + rejectedRatio(cfg, logps, i));
    }
    return sum / (2.0 * n);
  }

  private static DpoResult run(DpoConfig cfg, PairLogps in, double bcoDelta) {
    int n = in.size();
    if (n == 0) throw new IllegalArgumentException("the batch has no pairs");
    checkInputs(cfg, in);
    double delta = Double.isNaN(bcoDelta) ? batchMeanReward(cfg, in) : bcoDelta;

    double[] perPair = new double[n];
    double[] dChosen = new double[n];
    double[] dRejected = new double[n];
    double[] chosenRewards = new double[n];
    double[] rejectedRewards = new double[n];
    double total = 0;
    for (int i = 0; i < n; i++) {
      Pair p = new Pair(chosenRatio(cfg, in, i), rejectedRatio(cfg, in, i), in.policyChosen()[i],
          in.chosenTokens()[i], in.rejectedTokens()[i]);
      double value = 0;
      double dc = 0;
      double dr = 0;
      for (int k = 0; k < cfg.losses().size(); k++) {
        double w = cfg.weight(k);
        if (w == 0) continue;
        Term t = term(cfg.losses().get(k), cfg, p, delta);
        value += w * t.value();
        dc += w * t.dChosen();
        dr += w * t.dRejected();
      }
      perPair[i] = value;
      dChosen[i] = dc / n;
      dRejected[i] = dr / n;
      chosenRewards[i] = cfg.beta() * p.a();
      rejectedRewards[i] = cfg.beta() * p.b();
      total += value;
    }
    double loss = total / n;
    return new DpoResult(loss, perPair, dChosen, dRejected, chosenRewards, rejectedRewards,
        metrics(loss, in, chosenRewards, rejectedRewards));
  }

  /** One pair's log-ratios a, b, the policy's chosen log-prob (for sft) and the token counts. */
  private record Pair(double a, double b, double policyChosen, int chosenTokens, int rejectedTokens) {
    double h() {
      return a - b;
    }
  }

  /** One loss term of one pair, with its partial derivatives in policyChosen and policyRejected. */
  private record Term(double value, double dChosen, double dRejected) {
    /** A term that depends on the pair only through h = a - b, with slope g = d value / d h. */
    static Term ofLogits(double value, double g) {
      return new Term(value, g, -g);
    }
  }

  private static Term term(LossType type, DpoConfig cfg, Pair p, double delta) {
    double beta = cfg.beta();
    double eps = cfg.labelSmoothing();
    double z = beta * p.h();
    switch (type) {
      case SIGMOID: {
        double v = -(1 - eps) * logSigmoid(z) - eps * logSigmoid(-z);
        return Term.ofLogits(v, beta * (-(1 - eps) * sigmoid(-z) + eps * sigmoid(z)));
      }
      case ROBUST: {
        double norm = 1 - 2 * eps;
        double v = (-(1 - eps) * logSigmoid(z) + eps * logSigmoid(-z)) / norm;
        return Term.ofLogits(v, beta * (-(1 - eps) * sigmoid(-z) - eps * sigmoid(z)) / norm);
      }
      case EXO_PAIR: {
        double e = eps == 0 ? EXO_DEFAULT_EPS : eps;
        double v = sigmoid(z) * (logSigmoid(z) - Math.log1p(-e)) + sigmoid(-z) * (logSigmoid(-z) - Math.log(e));
        // d/dz = sigma(z) sigma(-z) (z - log((1-e)/e)), using log sigma(z) - log sigma(-z) = z
        return Term.ofLogits(v, beta * sigmoidSlope(z) * (z - (Math.log1p(-e) - Math.log(e))));
      }
      case HINGE:
        return Term.ofLogits(Math.max(0, 1 - z), z < 1 ? -beta : 0);
      case IPO: {
        double target = 1 / (2 * beta);
        if (!cfg.ipoLengthNormalized()) {
          double r = p.h() - target;
          return Term.ofLogits(r * r, 2 * r);
        }
        double r = p.a() / p.chosenTokens() - p.b() / p.rejectedTokens() - target;
        return new Term(r * r, 2 * r / p.chosenTokens(), -2 * r / p.rejectedTokens());
      }
      case BCO_PAIR: {
        double x = beta * p.a() - delta;
        double y = beta * p.b() - delta;
        return new Term(-logSigmoid(x) - logSigmoid(-y), -beta * sigmoid(-x), beta * sigmoid(y));
      }
      case SPPO_HARD: {
        double ra = p.a() - 0.5 / beta;
        double rb = p.b() + 0.5 / beta;
        return new Term(ra * ra + rb * rb, 2 * ra, 2 * rb);
      }
      case NCA_PAIR: {
        double c = beta * p.a();
        double r = beta * p.b();
        double v = -logSigmoid(c) - 0.5 * logSigmoid(-c) - 0.5 * logSigmoid(-r);
        return new Term(v, beta * (-sigmoid(-c) + 0.5 * sigmoid(c)), beta * 0.5 * sigmoid(r));
      }
      case APO_ZERO: {
        double c = beta * p.a();
        double r = beta * p.b();
        return new Term(1 - sigmoid(c) + sigmoid(r), -beta * sigmoidSlope(c), beta * sigmoidSlope(r));
      }
      case APO_DOWN: {
        double c = beta * p.a();
        double v = sigmoid(c) + 1 - sigmoid(z);
        return new Term(v, beta * (sigmoidSlope(c) - sigmoidSlope(z)), beta * sigmoidSlope(z));
      }
      case SFT:
        return new Term(-p.policyChosen() / p.chosenTokens(), -1.0 / p.chosenTokens(), 0);
      default:
        throw new IllegalStateException("unhandled loss type " + type);
    }
  }

  private static double chosenRatio(DpoConfig cfg, PairLogps in, int i) {
    return in.policyChosen()[i] - (cfg.referenceFree() ? 0 : in.refChosen()[i]);
  }

  private static double rejectedRatio(DpoConfig cfg, PairLogps in, int i) {
    return in.policyRejected()[i] - (cfg.referenceFree() ? 0 : in.refRejected()[i]);
  }

  private static void checkInputs(DpoConfig cfg, PairLogps in) {
    boolean needsTokens = cfg.losses().contains(LossType.SFT)
        || (cfg.ipoLengthNormalized() && cfg.losses().contains(LossType.IPO));
    for (int i = 0; i < in.size(); i++) {
      finite("policyChosen", in.policyChosen(), i);
      finite("policyRejected", in.policyRejected(), i);
      if (!cfg.referenceFree()) {
        finite("refChosen", in.refChosen(), i);
        finite("refRejected", in.refRejected(), i);
      }
      if (needsTokens && (in.chosenTokens()[i] <= 0 || in.rejectedTokens()[i] <= 0)) {
        throw new IllegalArgumentException("pair " + i + " has " + in.chosenTokens()[i] + " chosen and "
            + in.rejectedTokens()[i] + " rejected response tokens; " + cfg.losses()
            + " divides by them, so both must be > 0");
      }
    }
  }

  private static void finite(String name, double[] a, int i) {
    if (!Double.isFinite(a[i])) {
      throw new IllegalArgumentException(name + "[" + i + "] is " + a[i] + ": log-probs must be finite");
    }
  }

  private static Map<String, Double> metrics(double loss, PairLogps in, double[] chosenRewards,
      double[] rejectedRewards) {
    int n = in.size();
    double rc = 0;
    double rr = 0;
    double acc = 0;
    double lc = 0;
    double lr = 0;
    for (int i = 0; i < n; i++) {
      rc += chosenRewards[i];
      rr += rejectedRewards[i];
      if (chosenRewards[i] > rejectedRewards[i]) acc++;
      lc += in.policyChosen()[i];
      lr += in.policyRejected()[i];
    }
    Map<String, Double> m = new LinkedHashMap<>();
    m.put("loss", loss);
    m.put("rewards/chosen", rc / n);
    m.put("rewards/rejected", rr / n);
    m.put("rewards/accuracies", acc / n);
    m.put("rewards/margins", (rc - rr) / n);
    m.put("logps/chosen", lc / n);
    m.put("logps/rejected", lr / n);
    return Collections.unmodifiableMap(m);
  }
}
