package dev.sparkdpo.model;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A batch's keys and values for KV-cached decoding: per layer [B, H, S, hs] with S = capacity + 1 slots (slot =
 * position; the last slot is a trash slot the padding of a ragged feed writes to and no query ever sees). Outside any
 * workspace: it outlives every step. H is the model's key/value heads (fewer than its query heads with grouped-query
 * attention).
 */
public final class KvCache {
  private final INDArray[] keys, values;
  private final int capacity;

  KvCache(int layers, int rows, int kvHeads, int capacity, int headSize, DataType dataType) {
    this.capacity = capacity;
    keys = new INDArray[layers];
    values = new INDArray[layers];
    Workspaces.outside(() -> {
      for (int l = 0; l < layers; l++) {
        keys[l] = Nd4j.zeros(dataType, rows, kvHeads, capacity + 1, headSize);
        values[l] = Nd4j.zeros(dataType, rows, kvHeads, capacity + 1, headSize);
      }
      return null;
    });
  }

  /** Positions a row can hold. */
  public int capacity() {
    return capacity;
  }

  /** Slots per row and head: capacity + the trash slot. */
  public int slots() {
    return capacity + 1;
  }

  /** The slot padding positions write to. */
  public int trashSlot() {
    return capacity;
  }

  INDArray keys(int layer) {
    return keys[layer];
  }

  INDArray values(int layer) {
    return values[layer];
  }

  /** Keeps only these rows (indices into the current rows, ascending): finished rows leave the batch. */
  public void keep(int[] rows) {
    Workspaces.outside(() -> {
      for (int l = 0; l < keys.length; l++) {
        keys[l] = keepRows(keys[l], rows);
        values[l] = keepRows(values[l], rows);
      }
      return null;
    });
  }

  /** Rows of a [B, H, S, hs] array: pullRows over its [B, H*S*hs] view. */
  private static INDArray keepRows(INDArray a, int[] rows) {
    long[] shape = a.shape();
    INDArray flat = a.reshape('c', shape[0], a.length() / shape[0]);
    return Nd4j.pullRows(flat, 1, rows).reshape('c', rows.length, shape[1], shape[2], shape[3]);
  }
}
