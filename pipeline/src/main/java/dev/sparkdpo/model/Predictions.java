package dev.sparkdpo.model;

/**
 * The next-token predictions a batch is scored on: for batch row i, positions from[i]..len_i-2 predict tokens
 * from[i]+1..len_i-1. The final hidden states are computed for positions first..T-1 only ({@link #first}); each
 * prediction is a row of them ({@code rows}), the token it predicts ({@code targets}) and its batch row
 * ({@code rowOfSeq}), in batch-row then position order.
 */
record Predictions(int first, int[] rows, int[] targets, int[] rowOfSeq) {

  static Predictions of(TokenBatch batch, int[][] tokens, int[] from) {
    int first = firstQuery(batch, from);
    int tq = batch.t() - first;
    int n = 0;
    for (int i = 0; i < batch.b(); i++) n += Math.max(0, batch.lengths()[i] - 1 - from[i]);
    int[] rows = new int[n], targets = new int[n], rowOfSeq = new int[n];
    int k = 0;
    for (int i = 0; i < batch.b(); i++) {
      for (int t = from[i]; t < batch.lengths()[i] - 1; t++, k++) {
        rows[k] = i * tq + t - first;
        targets[k] = tokens[i][t + 1];
        rowOfSeq[k] = i;
      }
    }
    return new Predictions(first, rows, targets, rowOfSeq);
  }

  /** The first position that predicts a response token: the prompt's last. */
  static int[] responseFrom(int[] promptLengths) {
    int[] from = new int[promptLengths.length];
    for (int i = 0; i < from.length; i++) from[i] = promptLengths[i] - 1;
    return from;
  }

  /** The earliest position whose next-token log-prob is wanted (from[i] for rows with any), capped at T - 1. */
  static int firstQuery(TokenBatch batch, int[] from) {
    int first = batch.t() - 1;
    for (int i = 0; i < batch.b(); i++) {
      if (batch.lengths()[i] - 1 > from[i]) first = Math.min(first, from[i]);
    }
    return first;
  }

  /** Summed log-probs per batch row of b rows, given one log-prob per prediction. */
  double[] perRow(double[] logps, int b) {
    double[] out = new double[b];
    for (int j = 0; j < logps.length; j++) out[rowOfSeq[j]] += logps[j];
    return out;
  }

  /** One prompt length per row, each in [1, row length] (the first response token needs a position before it). */
  static void checkPromptLengths(int[][] tokens, int[] promptLengths) {
    if (promptLengths.length != tokens.length) throw new IllegalArgumentException("one prompt length per row");
    for (int i = 0; i < tokens.length; i++) {
      if (promptLengths[i] < 1 || promptLengths[i] > tokens[i].length) {
        throw new IllegalArgumentException("row " + i + ": prompt length " + promptLengths[i] + " not in [1, "
            + tokens[i].length + "]");
      }
    }
  }
}
