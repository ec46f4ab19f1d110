package dev.sparkdpo.dpo;

import java.util.Arrays;
import java.util.List;

/**
 * Settings of {@link DpoLoss}, named after TRL's {@code DPOConfig}: {@code beta}, {@code label_smoothing} (cDPO for
 * sigmoid, robust DPO, and EXO's epsilon), {@code loss_type} as a list with {@code loss_weights} (null weights: 1 each,
 * as in TRL), and {@code reference_free} (reference log-probs read as 0).
 *
 * <p>{@code ipoLengthNormalized}: TRL's trainer divides sequence log-probs by their token counts when {@code ipo} is
 * used ({@code concatenated_forward}: {@code all_logps = all_logps / loss_mask.sum(-1)}), while {@code dpo_loss} itself
 * takes whatever log-probs it is given. The shared golden fixture computes IPO on summed log-probs, so the default is
 * {@code false} (IPO on summed log-probs, like the golden); {@code true} gives TRL's length-normalised IPO (applied to
 * the IPO term only, see {@link DpoLoss}).
 */
public record DpoConfig(double beta, double labelSmoothing, List<LossType> losses, double[] weights,
    boolean referenceFree, boolean ipoLengthNormalized) {

  public DpoConfig {
    if (!(beta > 0) || Double.isInfinite(beta)) {
      throw new IllegalArgumentException("beta must be a finite number > 0, got " + beta);
    }
    if (!(labelSmoothing >= 0 && labelSmoothing <= 0.5)) {
      throw new IllegalArgumentException("label_smoothing must be in [0, 0.5], got " + labelSmoothing);
    }
    if (losses == null || losses.isEmpty()) {
      throw new IllegalArgumentException("at least one loss type is required; valid: " + LossType.validNames());
    }
    for (LossType t : losses) {
      if (t == null) throw new IllegalArgumentException("loss types contain null: " + losses);
    }
    losses = List.copyOf(losses);
    if (losses.contains(LossType.ROBUST) && labelSmoothing >= 0.5) {
      throw new IllegalArgumentException(
          "robust loss divides by (1 - 2 * label_smoothing): label_smoothing must be < 0.5, got " + labelSmoothing);
    }
    if (weights == null) {
      weights = new double[losses.size()];
      Arrays.fill(weights, 1.0);
    } else {
      if (weights.length != losses.size()) {
        throw new IllegalArgumentException("loss_weights has " + weights.length + " entries but loss_type has "
            + losses.size() + " " + losses + ": give one weight per loss type");
      }
      weights = weights.clone();
      for (int k = 0; k < weights.length; k++) {
        if (!(weights[k] >= 0) || Double.isInfinite(weights[k])) {
          throw new IllegalArgumentException("loss weight " + k + " (" + losses.get(k).trlName()
              + ") must be a finite number >= 0, got " + weights[k]);
        }
      }
    }
  }

  /** IPO on summed log-probs (see the class comment). */
  public DpoConfig(double beta, double labelSmoothing, List<LossType> losses, double[] weights, boolean referenceFree) {
    this(beta, labelSmoothing, losses, weights, referenceFree, false);
  }

  /** One loss type, weight 1, with a reference model. */
  public static DpoConfig of(double beta, double labelSmoothing, LossType loss) {
    return new DpoConfig(beta, labelSmoothing, List.of(loss), null, false);
  }

  @Override
  public double[] weights() {
    return weights.clone();
  }

  double weight(int k) {
    return weights[k];
  }
}
