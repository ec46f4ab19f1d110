package dev.sparkdpo.data.tokenize;

import java.io.Serializable;
import java.util.Objects;

/**
 * Serializable tokenizer settings shipped to Spark executors.
 *
 * @param path a {@code tokenizer.json} file or an HF model directory containing one
 * @param maxLength max tokens of prompt + one response; 0 = no limit, otherwise at least 2
 * @param maxPromptLength max prompt tokens; 0 = no limit
 * @param truncation which end of the prompt survives truncation
 * @param appendEos append the tokenizer's EOS id to both responses (if it has one)
 */
public record TokenizerSpec(String path, int maxLength, int maxPromptLength, Truncation truncation, boolean appendEos)
    implements Serializable {

  public TokenizerSpec {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(truncation, "truncation");
    if (maxLength < 0 || maxLength == 1) {
      throw new IllegalArgumentException("--max-length must be 0 (no limit) or >= 2, got " + maxLength);
    }
    if (maxPromptLength < 0) {
      throw new IllegalArgumentException("--max-prompt-length must be 0 (no limit) or > 0, got " + maxPromptLength);
    }
  }
}
