package dev.sparkdpo.model;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Every parameter of a GPT in one flat row vector [1, n] (HF names in {@link GptCheckpoint#parameterNames} order,
 * each tensor row-major), with a named view per tensor. This is DL4J's parameter layout: a layer owns a slice of the
 * network's flat parameter (and gradient) vector and reads its tensors as views, so an update of the flat vector
 * (an optimizer step, parameter averaging) is an update of the model, with no copies.
 */
public final class GptParams {
  private final GptConfig config;
  private final INDArray flat;
  private final Map<String, INDArray> views;

  private GptParams(GptConfig config, INDArray flat, Map<String, INDArray> views) {
    this.config = config;
    this.flat = flat;
    this.views = views;
  }

  /** Number of parameters of a model of this config (the tied lm_head counted once). */
  public static long count(GptConfig config) {
    return config.parameterCount();
  }

  /**
   * Views over an existing flat vector of {@link #count} elements (a [1, n] or [n] array, contiguous, any float
   * type): writes through the views change {@code flat} and vice versa.
   */
  public static GptParams over(GptConfig config, INDArray flat) {
    long n = count(config);
    if (flat.length() != n) {
      throw new IllegalArgumentException("flat parameter vector has " + flat.length() + " elements, the model needs "
          + n);
    }
    if (!flat.dataType().isFPType()) throw new IllegalArgumentException("parameters must be floating point");
    if (flat.rank() > 2 || (flat.rank() == 2 && flat.size(0) != 1) || flat.elementWiseStride() != 1) {
      throw new IllegalArgumentException("flat parameters must be a contiguous [1, n] or [n] vector, got shape "
          + Arrays.toString(flat.shape()) + " stride " + Arrays.toString(flat.stride()));
    }
    INDArray row = flat.rank() == 2 ? flat : flat.reshape('c', true, 1, n); // enforceView: a copy would lose writes
    Map<String, INDArray> views = new LinkedHashMap<>();
    long offset = 0;
    for (Map.Entry<String, long[]> e : config.parameterShapes().entrySet()) {
      long len = Tensor.numel(e.getValue());
      views.put(e.getKey(), row.get(NDArrayIndex.interval(0, 1), NDArrayIndex.interval(offset, offset + len))
          .reshape('c', true, e.getValue()));
      offset += len;
    }
    return new GptParams(config, row, Collections.unmodifiableMap(views));
  }

  /** A new zero vector (outside any workspace). */
  public static GptParams zeros(GptConfig config, DataType dataType) {
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return over(config, Nd4j.zeros(dataType, 1, count(config)));
    }
  }

  /** The checkpoint's weights copied into a new flat vector of the given type. */
  public static GptParams from(GptCheckpoint checkpoint, DataType dataType) {
    GptParams p = zeros(checkpoint.config(), dataType);
    p.copyFrom(checkpoint);
    return p;
  }

  /** Overwrites these parameters with the checkpoint's weights (same config). */
  public void copyFrom(GptCheckpoint checkpoint) {
    if (!checkpoint.config().equals(config)) throw new IllegalArgumentException("checkpoint config differs");
    for (Map.Entry<String, INDArray> e : views.entrySet()) {
      Tensor t = checkpoint.weights().get(e.getKey());
      if (t == null) throw new IllegalArgumentException("checkpoint has no " + e.getKey());
      if (!Arrays.equals(t.shape(), e.getValue().shape())) {
        throw new IllegalArgumentException(e.getKey() + ": shape " + Tensor.shapeString(t.shape()) + ", expected "
            + Tensor.shapeString(e.getValue().shape()));
      }
      try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
        e.getValue().assign(Nd4j.create(t.data(), t.shape(), 'c'));
      }
    }
  }

  /** A float32 copy as a checkpoint (HF names and shapes), e.g. to save. */
  public GptCheckpoint toCheckpoint() {
    Map<String, Tensor> weights = new LinkedHashMap<>();
    views.forEach((name, v) -> weights.put(name, new Tensor(v.shape(),
        v.castTo(DataType.FLOAT).dup('c').reshape(v.length()).toFloatVector())));
    return new GptCheckpoint(config, weights);
  }

  public GptConfig config() {
    return config;
  }

  /** The flat [1, n] vector (the memory every view shares). */
  public INDArray flat() {
    return flat;
  }

  public DataType dataType() {
    return flat.dataType();
  }

  /** The view of one tensor by its HF name. */
  public INDArray get(String name) {
    INDArray v = views.get(name);
    if (v == null) throw new IllegalArgumentException("no parameter " + name);
    return v;
  }

  /** Every view by HF name, in flat order. */
  public Map<String, INDArray> views() {
    return views;
  }
}
