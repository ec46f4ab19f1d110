package dev.sparkdpo.model;

import java.util.Arrays;

/**
 * A float32 tensor, row-major. The shape is copied; the data array is not (callers may fill it in place). Equality
 * and hash code are by content ({@link Arrays#equals(float[], float[])}: NaN equals NaN, 0.0 differs from -0.0).
 */
public record Tensor(long[] shape, float[] data) {

  public Tensor {
    shape = shape.clone();
    long n = numel(shape);
    if (n != data.length) {
      throw new IllegalArgumentException("shape " + shapeString(shape) + " holds " + n + " elements, data has "
          + data.length);
    }
  }

  public static Tensor zeros(long... shape) {
    long n = numel(shape);
    if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("tensor too large: " + shapeString(shape));
    return new Tensor(shape, new float[(int) n]);
  }

  /** Number of elements. */
  public long size() {
    return data.length;
  }

  @Override
  public long[] shape() {
    return shape.clone();
  }

  public boolean hasShape(long... expected) {
    return Arrays.equals(shape, expected);
  }

  static long numel(long[] shape) {
    long n = 1;
    for (long d : shape) {
      if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + shapeString(shape));
      n = Math.multiplyExact(n, d);
    }
    return n;
  }

  /** "[1000, 64]". */
  public static String shapeString(long[] shape) {
    return Arrays.toString(shape);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Tensor t && Arrays.equals(shape, t.shape) && Arrays.equals(data, t.data);
  }

  @Override
  public int hashCode() {
    return 31 * Arrays.hashCode(shape) + Arrays.hashCode(data);
  }

  @Override
  public String toString() {
    return "Tensor" + shapeString(shape);
  }
}
