package dev.sparkdpo.generate;

import java.util.List;

/**
 * What {@code bin/spark-dpo generate-pairs} asks for. {@code prompts}: text files, directories or globs, or one
 * ingest output (a directory with pairs/); {@code tokenizer}: null = the model's tokenizer.json. Every value is checked
 * here, and a bad one names its option.
 *
 * @param promptWordsMin the shortest sentence prefix, in words (text prompts)
 * @param promptWordsMax the longest sentence prefix, in words (text prompts)
 * @param maxPrompts at most this many prompts, the first in a seeded hash order (0 = all)
 * @param batchRows sampler rows per batch (prompts x samples): prompts are grouped by this before the groups are
 *     spread over the executors, so a group, and what it samples, never depends on the partitioning
 */
public record GeneratePairsOptions(List<String> prompts, String model, String reward, String output, String tokenizer,
    int samplesPerPrompt, int maxNewTokens, double temperature, double topP, Pairing pairing, double minRewardGap,
    long seed, double evalFraction, int maxPrompts, int promptWordsMin, int promptWordsMax, int batchRows,
    boolean force, long progressSeconds) {

  public GeneratePairsOptions {
    if (prompts == null || prompts.isEmpty() || prompts.stream().anyMatch(p -> p == null || p.isBlank())) {
      throw new IllegalArgumentException("--prompts is required: text files, directories or globs, or an ingest"
          + " output");
    }
    prompts = List.copyOf(prompts);
    require(model, "--model");
    require(reward, "--reward");
    require(output, "--output");
    if (tokenizer != null && tokenizer.isBlank()) tokenizer = null;
    if (samplesPerPrompt < 2) {
      throw new IllegalArgumentException("--samples-per-prompt must be >= 2 (a pair needs two completions), got "
          + samplesPerPrompt);
    }
    if (maxNewTokens < 1) throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + maxNewTokens);
    if (!(temperature > 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException("--temperature must be > 0 and finite (greedy decoding would give every"
          + " sample of a prompt the same text), got " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
    if (pairing == null) throw new IllegalArgumentException("--pairing is required: best-worst or all");
    if (!(minRewardGap >= 0) || Double.isInfinite(minRewardGap)) {
      throw new IllegalArgumentException("--min-reward-gap must be >= 0 and finite, got " + minRewardGap);
    }
    if (!(evalFraction >= 0 && evalFraction < 1)) {
      throw new IllegalArgumentException("--eval-fraction must be in [0, 1), got " + evalFraction);
    }
    if (maxPrompts < 0) throw new IllegalArgumentException("--max-prompts must be >= 0 (0 = all), got " + maxPrompts);
    if (promptWordsMin < 1 || promptWordsMax < promptWordsMin) {
      throw new IllegalArgumentException("--prompt-words " + promptWordsMin + "-" + promptWordsMax + ": give MIN-MAX"
          + " with 1 <= MIN <= MAX, e.g. 2-8");
    }
    if (batchRows < 1) throw new IllegalArgumentException("--batch-rows must be >= 1, got " + batchRows);
    if (progressSeconds < 1) throw new IllegalArgumentException("--progress-seconds must be >= 1, got " + progressSeconds);
  }

  /** {@code MIN-MAX} (e.g. 2-8, or 4 for 4-4) as {min, max}; anything else names the option and the form. */
  public static int[] promptWords(String spec) {
    String s = spec == null ? "" : spec.strip();
    try {
      int dash = s.indexOf('-');
      if (dash < 0) {
        int n = Integer.parseInt(s);
        return new int[] {n, n};
      }
      return new int[] {Integer.parseInt(s.substring(0, dash).strip()), Integer.parseInt(s.substring(dash + 1).strip())};
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("--prompt-words " + spec + ": give MIN-MAX words, e.g. 2-8");
    }
  }

  /** Prompts per sampler batch: batchRows / samplesPerPrompt, at least one. */
  public int promptsPerBatch() {
    return Math.max(1, batchRows / samplesPerPrompt);
  }

  private static void require(String value, String option) {
    if (value == null || value.isBlank()) throw new IllegalArgumentException(option + " is required");
  }
}
