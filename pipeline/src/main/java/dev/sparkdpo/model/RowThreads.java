package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BiFunction;
import java.util.function.IntFunction;

/**
 * Splits a batch's rows over threads, each running its share with single-threaded BLAS: on small matrices
 * (transformer blocks of a few hundred rows per sequence) this uses cores better than one thread driving
 * multi-threaded BLAS, whose threads synchronise on every product. Measured on 2 cores with the tiny bench shape:
 * two single-threaded tasks score 1.43x the tokens/s of one task with 2 BLAS threads. Pair it with
 * {@code NativeThreads.set(1, 1)}. ND4J ops are thread-safe on distinct arrays and workspaces are per thread, so the
 * model's shared weights are only read.
 */
final class RowThreads {
  private static final ExecutorService POOL = Executors.newCachedThreadPool(r -> {
    Thread t = new Thread(r, "gpt-rows");
    t.setDaemon(true);
    return t;
  });

  private RowThreads() {}

  /** {@code parts} contiguous, nearly equal ranges {start, end} of {@code rows} rows (fewer if rows < parts). */
  static int[][] split(int rows, int parts) {
    int n = Math.max(1, Math.min(rows, parts));
    int[][] out = new int[n][];
    for (int i = 0; i < n; i++) out[i] = new int[] {(int) ((long) rows * i / n), (int) ((long) rows * (i + 1) / n)};
    return out;
  }

  /**
   * f(i) for every part, part 0 on the calling thread and the others on pool threads; results in part order. Returns
   * or throws only once every part has finished (no part keeps running after a failure); a part's exception is
   * rethrown as thrown (not wrapped), others' are added as suppressed.
   */
  static <T> List<T> run(int parts, IntFunction<T> f) {
    List<CompletableFuture<T>> others = new ArrayList<>();
    Throwable failure = null;
    T first = null;
    try {
      for (int i = 1; i < parts; i++) {
        int part = i;
        others.add(CompletableFuture.supplyAsync(() -> f.apply(part), POOL));
      }
      first = f.apply(0);
    } catch (RuntimeException | Error e) {
      failure = e;
    }
    List<T> out = new ArrayList<>();
    out.add(first);
    for (CompletableFuture<T> c : others) {
      try {
        out.add(c.join());
      } catch (CompletionException e) {
        Throwable cause = e.getCause() == null ? e : e.getCause();
        if (failure == null) failure = cause;
        else if (failure != cause) failure.addSuppressed(cause);
      }
    }
    if (failure instanceof RuntimeException r) throw r;
    if (failure instanceof Error err) throw err;
    if (failure != null) throw new IllegalStateException(failure);
    return out;
  }

  /**
   * f over the rows of (tokens, from) split into parts, one part per thread, with the per-row results of the parts
   * put back in row order.
   */
  static double[][] mapRows(int[][] tokens, int[] from, int threads, BiFunction<int[][], int[], double[][]> f) {
    int[][] parts = split(tokens.length, threads);
    List<double[][]> partResults = run(parts.length, i -> f.apply(rows(tokens, parts[i]), rows(from, parts[i])));
    double[][] out = new double[tokens.length][];
    for (int i = 0; i < parts.length; i++) {
      System.arraycopy(partResults.get(i), 0, out, parts[i][0], parts[i][1] - parts[i][0]);
    }
    return out;
  }

  static int[][] rows(int[][] a, int[] range) {
    return Arrays.copyOfRange(a, range[0], range[1]);
  }

  static int[] rows(int[] a, int[] range) {
    return Arrays.copyOfRange(a, range[0], range[1]);
  }
}
