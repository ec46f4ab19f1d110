package dev.sparkdpo.eval;

import java.io.Serializable;

/** The records of samples.jsonl (one per prompt and sample index); Jackson writes them snake_case. */
public final class EvalSamples {
  private EvalSamples() {}

  /** A prompt to sample from: its id (hash of its token ids), text, tokens and sampling seed. */
  public record Prompt(String promptId, String prompt, int[] promptIds, long seed) implements Serializable {}

  /**
   * One completion: its text (decoded without a trailing EOS), token count (EOS included: it is part of y), reward,
   * and log π(y|x) and log π_ref(y|x) summed over its tokens.
   */
  public record Completion(String completion, int tokens, double reward, double logpPolicy, double logpReference)
      implements Serializable {}

  /**
   * Sample {@code sample} of a prompt from each model: both drew from the same random stream (sampler seed
   * {@code seed}, row {@code sample} of a batch of K copies of the prompt), so the two are paired.
   */
  public record Sample(String promptId, String prompt, int sample, long seed, Completion policy,
      Completion reference) implements Serializable {}
}
