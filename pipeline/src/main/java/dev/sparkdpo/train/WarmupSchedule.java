package dev.sparkdpo.train;

import java.util.Locale;
import java.util.Objects;
import org.nd4j.linalg.schedule.ISchedule;
import org.nd4j.shade.jackson.annotation.JsonProperty;

/**
 * Learning rate with linear warmup from 0, then constant or cosine decay, as Hugging Face's
 * {@code get_constant_schedule_with_warmup} / {@code get_cosine_schedule_with_warmup} (what TRL uses; the DPO paper:
 * warmup over 150 steps). A DL4J {@link ISchedule}: it travels inside the network's JSON configuration (to Spark
 * executors too), so it is a plain bean with Jackson properties.
 *
 * <p>For step s (0-based, DL4J's iteration count): s < warmup: peak * s / warmup; then constant: peak; cosine:
 * peak * 0.5 * (1 + cos(pi * min(1, (s - warmup) / (total - warmup)))).
 */
public final class WarmupSchedule implements ISchedule {
  private static final long serialVersionUID = 1L;

  public enum Decay {
    CONSTANT, COSINE;

    public static Decay parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("learning-rate decay must be constant or cosine, got '" + s + "'");
      }
    }
  }

  private final double peak;
  private final int warmupSteps;
  private final int totalSteps;
  private final Decay decay;

  public WarmupSchedule(@JsonProperty("peak") double peak, @JsonProperty("warmupSteps") int warmupSteps,
      @JsonProperty("totalSteps") int totalSteps, @JsonProperty("decay") Decay decay) {
    if (!(peak > 0) || Double.isInfinite(peak)) throw new IllegalArgumentException("learning rate must be > 0, got " + peak);
    if (warmupSteps < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
    if (decay == null) throw new IllegalArgumentException("decay must be constant or cosine");
    if (decay == Decay.COSINE && totalSteps <= warmupSteps) {
      throw new IllegalArgumentException("cosine decay needs total steps (" + totalSteps + ") > warmup steps ("
          + warmupSteps + ")");
    }
    this.peak = peak;
    this.warmupSteps = warmupSteps;
    this.totalSteps = totalSteps;
    this.decay = decay;
  }

  @Override
  public double valueAt(int iteration, int epoch) {
    if (iteration < warmupSteps) return peak * iteration / warmupSteps;
    if (decay == Decay.CONSTANT) return peak;
    double progress = Math.min(1.0, (double) (iteration - warmupSteps) / (totalSteps - warmupSteps));
    return peak * 0.5 * (1 + Math.cos(Math.PI * progress));
  }

  @Override
  public ISchedule clone() {
    return new WarmupSchedule(peak, warmupSteps, totalSteps, decay);
  }

  @JsonProperty("peak")
  public double getPeak() {
    return peak;
  }

  @JsonProperty("warmupSteps")
  public int getWarmupSteps() {
    return warmupSteps;
  }

  @JsonProperty("totalSteps")
  public int getTotalSteps() {
    return totalSteps;
  }

  @JsonProperty("decay")
  public Decay getDecay() {
    return decay;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof WarmupSchedule w && w.peak == peak && w.warmupSteps == warmupSteps
        && w.totalSteps == totalSteps && w.decay == decay;
  }

  @Override
  public int hashCode() {
    return Objects.hash(peak, warmupSteps, totalSteps, decay);
  }

  @Override
  public String toString() {
    return "WarmupSchedule(peak=" + peak + ", warmup=" + warmupSteps + ", total=" + totalSteps + ", " + decay + ")";
  }
}
