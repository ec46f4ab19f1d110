package dev.sparkdpo.model;

import java.util.OptionalInt;

/**
 * How {@link Sampler} picks tokens: logits / temperature (0 = greedy argmax), then top-k (0 = off), then top-p
 * (nucleus, 1 = off), for at most {@code maxNewTokens} tokens per row or until {@code eosId}. Deterministic for a seed.
 */
public record SamplingConfig(double temperature, int topK, double topP, int maxNewTokens, OptionalInt eosId,
    long seed) {

  public SamplingConfig {
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException("temperature must be >= 0 and finite, got " + temperature);
    }
    if (topK < 0) throw new IllegalArgumentException("topK must be >= 0 (0 = off), got " + topK);
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
    if (maxNewTokens < 0) throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
    if (eosId == null) throw new IllegalArgumentException("eosId must not be null (use OptionalInt.empty())");
    if (eosId.isPresent() && eosId.getAsInt() < 0) {
      throw new IllegalArgumentException("eosId must be >= 0, got " + eosId.getAsInt());
    }
  }

  /** Argmax decoding without EOS. */
  public static SamplingConfig greedy(int maxNewTokens) {
    return new SamplingConfig(0, 0, 1, maxNewTokens, OptionalInt.empty(), 0);
  }

  public boolean isGreedy() {
    return temperature == 0;
  }
}
