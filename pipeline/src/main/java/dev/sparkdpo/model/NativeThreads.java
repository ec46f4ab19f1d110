package dev.sparkdpo.model;

import org.nd4j.linalg.factory.Nd4j;

/**
 * Thread counts of ND4J's CPU backend in this JVM: OpenBLAS's threads (matrix products) and libnd4j's own pool
 * (every other op). A Spark executor should use its cores (spark.executor.cores / spark.task.cpus), not every core
 * of the machine, or two executors on one host oversubscribe it.
 *
 * <p>OpenBLAS worker threads spin for a while after each product; unless OPENBLAS_THREAD_TIMEOUT is small (set
 * before the JVM starts: bin/spark-dpo and spark.executorEnv do), they steal the cores the next element-wise op runs
 * on. Measured on 2 cores with the tiny benchmark model: libnd4j's pool at 1 thread with BLAS at 2 gave the fastest
 * transformer block (the pool's threads otherwise compete with BLAS's during products).
 *
 * <p>CPU backend only: on any other (the CUDA one of {@code -Pcuda}) {@link #set} leaves ND4J as it is (see
 * {@link Nd4jBackend}).
 */
public final class NativeThreads {
  private NativeThreads() {}

  /**
   * BLAS threads for matrix products and libnd4j threads for other ops (each at least 1). libnd4j's pool size
   * (maxThreads) cannot go below 2 in 1.0.0-M2.1 (setMaxThreads(1) is ignored); the master-thread count, which is
   * how many threads one op's loops use, can. Does nothing on a backend other than the CPU one.
   */
  public static void set(int blasThreads, int opThreads) {
    set(Nd4jBackend.current(), blasThreads, opThreads);
  }

  /** {@link #set} as on {@code backend}; whether anything was set. */
  static boolean set(Nd4jBackend backend, int blasThreads, int opThreads) {
    if (blasThreads < 1 || opThreads < 1) throw new IllegalArgumentException("thread counts must be >= 1");
    if (!backend.tunesCpuThreads()) return false;
    Nd4j.getEnvironment().setMaxThreads(Math.max(opThreads, blasThreads));
    Nd4j.getEnvironment().setMaxMasterThreads(opThreads);
    Nd4j.factory().blas().setMaxThreads(blasThreads);
    return true;
  }

  /** BLAS threads as ND4J reports them. */
  public static int blasThreads() {
    return Nd4j.factory().blas().getMaxThreads();
  }

  /** Threads one libnd4j op uses (its master-thread count). */
  public static int opThreads() {
    return Nd4j.getEnvironment().maxMasterThreads();
  }

  /** The OPENBLAS_THREAD_TIMEOUT this JVM started with, or null (then OpenBLAS's default spin, see above). */
  public static String openBlasThreadTimeout() {
    return System.getenv("OPENBLAS_THREAD_TIMEOUT");
  }
}
