package dev.sparkdpo.model;

/**
 * Derived seeds: a SplitMix64 finalizer over a seed and a salt, so that seeds one apart (steps, row parts, tensors)
 * give unrelated streams. Per-tensor init ({@link GptInit}, {@link LoraParams}) salts with a name's (specified,
 * stable) String hash code; LoRA dropout's masks with the step, the row part and the module name.
 */
public final class Seeds {
  private Seeds() {}

  /** The seed of {@code salt} under {@code seed}. */
  public static long mix(long seed, long salt) {
    long z = seed + 0x9E3779B97F4A7C15L * salt;
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  /** The seed of a tensor or module name under {@code seed}. */
  public static long mix(long seed, String name) {
    return mix(seed, name.hashCode() + 1L);
  }
}
