package dev.sparkdpo.model;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One KV-cached forward of b rows of t new positions each (right-padded), architecture-neutral: per (row, position)
 * in row-major order the token, its position and the cache slot its keys and values go to (the trash slot for
 * padding); mask [B, 1, T, S] (0 visible, -1e9 hidden; broadcast over heads) hides from each query every slot after
 * its own position; last[i] is the flat index of row i's last real position, whose logits are returned.
 */
public record DecodeStep(int b, int t, int[] tokens, int[] positions, int[] slots, INDArray mask, int[] last) {}
