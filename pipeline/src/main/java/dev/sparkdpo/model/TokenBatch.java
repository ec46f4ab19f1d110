package dev.sparkdpo.model;

import java.util.Arrays;

/** Right-padded token ids flattened to B*T rows (pad id 0), with each row's position and real length. */
record TokenBatch(int b, int t, int[] ids, int[] positions, int[] lengths) {

  static TokenBatch of(int[][] tokens, int vocabSize, int contextLength) {
    if (tokens.length == 0) throw new IllegalArgumentException("empty batch");
    int b = tokens.length;
    int t = Arrays.stream(tokens).mapToInt(row -> row.length).max().getAsInt();
    if (t == 0) throw new IllegalArgumentException("all sequences are empty");
    if (t > contextLength) {
      throw new IllegalArgumentException("sequence length " + t + " > nPositions " + contextLength);
    }
    int[] ids = new int[b * t], positions = new int[b * t], lengths = new int[b];
    for (int i = 0; i < b; i++) {
      lengths[i] = tokens[i].length;
      for (int j = 0; j < t; j++) {
        int id = j < tokens[i].length ? tokens[i][j] : 0;
        if (id < 0 || id >= vocabSize) throw new IllegalArgumentException("token id out of range: " + id);
        ids[i * t + j] = id;
        positions[i * t + j] = j;
      }
    }
    return new TokenBatch(b, t, ids, positions, lengths);
  }

  static TokenBatch of(int[][] tokens, ModelConfig config) {
    return of(tokens, config.vocabSize(), config.contextLength());
  }
}
