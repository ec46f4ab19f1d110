package dev.sparkdpo.reference;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Packs preference pairs into batches under a token budget: pairs sorted by length (longest first), each batch as
 * many pairs as fit when its 2 rows per pair (chosen and rejected together) are right-padded to its longest row.
 * Sorting keeps rows of a batch close in length, so padding stays small.
 */
public final class LengthBatches {
  private LengthBatches() {}

  /** One batch: indices into the input, and its padded and real token counts. */
  public record Batch(int[] pairs, int paddedLength, long paddedTokens, long realTokens) {}

  /**
   * @param chosenLengths   full length (prompt + response) of each pair's chosen row
   * @param rejectedLengths full length of each pair's rejected row
   * @param tokenBudget     max padded tokens per batch (a longer single pair still gets a batch of its own)
   */
  public static List<Batch> pack(int[] chosenLengths, int[] rejectedLengths, long tokenBudget) {
    return pack(chosenLengths, rejectedLengths, tokenBudget, longest -> Integer.MAX_VALUE);
  }

  /** As above, with at most {@code maxPairs.applyAsInt(longest)} pairs in a batch padded to {@code longest}. */
  public static List<Batch> pack(int[] chosenLengths, int[] rejectedLengths, long tokenBudget,
      java.util.function.IntUnaryOperator maxPairs) {
    if (chosenLengths.length != rejectedLengths.length) throw new IllegalArgumentException("one length each");
    if (tokenBudget < 1) throw new IllegalArgumentException("token budget must be >= 1, got " + tokenBudget);
    int n = chosenLengths.length;
    Integer[] order = new Integer[n];
    for (int i = 0; i < n; i++) order[i] = i;
    Arrays.sort(order, Comparator.comparingInt((Integer i) -> Math.max(chosenLengths[i], rejectedLengths[i]))
        .reversed().thenComparingInt(i -> i));
    List<Batch> batches = new ArrayList<>();
    int start = 0;
    while (start < n) {
      int longest = Math.max(chosenLengths[order[start]], rejectedLengths[order[start]]); // sorted: the first
      long fit = Math.min(tokenBudget / (2L * longest), maxPairs.applyAsInt(longest));
      int count = (int) Math.max(1, Math.min(n - start, fit));
      int[] pairs = new int[count];
      long real = 0;
      for (int j = 0; j < count; j++) {
        pairs[j] = order[start + j];
        real += chosenLengths[pairs[j]] + rejectedLengths[pairs[j]];
      }
      batches.add(new Batch(pairs, longest, 2L * count * longest, real));
      start += count;
    }
    return batches;
  }
}
