package dev.sparkdpo.data.tokenize;

import java.util.Arrays;

/**
 * Token ids of one preference pair. The prompt and the responses are tokenized separately; the trainer
 * concatenates {@code promptIds + chosenIds} and {@code promptIds + rejectedIds}. Equality is by content.
 */
public record TokenizedPair(int[] promptIds, int[] chosenIds, int[] rejectedIds,
              boolean promptTruncated, boolean responseTruncated) {

  @Override
  public boolean equals(Object o) {
    return o instanceof TokenizedPair p
        && Arrays.equals(promptIds, p.promptIds)
        && Arrays.equals(chosenIds, p.chosenIds)
        && Arrays.equals(rejectedIds, p.rejectedIds)
        && promptTruncated == p.promptTruncated
        && responseTruncated == p.responseTruncated;
  }

  @Override
  public int hashCode() {
    int h = Arrays.hashCode(promptIds);
    h = 31 * h + Arrays.hashCode(chosenIds);
    h = 31 * h + Arrays.hashCode(rejectedIds);
    return 31 * h + (promptTruncated ? 2 : 0) + (responseTruncated ? 1 : 0);
  }

  @Override
  public String toString() {
    return "TokenizedPair[prompt=" + Arrays.toString(promptIds)
        + ", chosen=" + Arrays.toString(chosenIds)
        + ", rejected=" + Arrays.toString(rejectedIds)
        + ", promptTruncated=" + promptTruncated
        + ", responseTruncated=" + responseTruncated + "]";
  }
}
