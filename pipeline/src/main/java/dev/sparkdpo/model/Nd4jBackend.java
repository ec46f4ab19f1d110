package dev.sparkdpo.model;

import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ND4J backend this JVM runs on. The classpath picks it (the default build bundles nd4j-native, {@code -Pcuda}
 * nd4j-cuda-11.6), so the same code runs on either; what is tuned for the CPU backend asks here first and leaves the
 * CUDA backend as it configures itself:
 * <ul>
 *   <li>{@link NativeThreads}: OpenBLAS and libnd4j thread counts. On CUDA the BLAS is cuBLAS on the GPU and the host
 *       threads only launch kernels: sizing them to the task's CPU cores would throttle the host side for nothing.</li>
 *   <li>{@link Gpt#withRowThreads}: splitting a batch's rows over host threads, each with single-threaded BLAS, pays on
 *       CPU cores; on a GPU it cuts one large kernel launch into several small ones on one device.</li>
 * </ul>
 * (OPENBLAS_THREAD_TIMEOUT in the environment is read only by OpenBLAS and needs no guard.)
 */
public enum Nd4jBackend {
  /** nd4j-native: libnd4j on the CPU with OpenBLAS (or MKL). */
  CPU,
  /** nd4j-cuda: libnd4j on an NVIDIA GPU with cuBLAS. */
  CUDA,
  /** anything else (a backend of a later ND4J): treated as not the CPU one, so nothing CPU-specific is applied. */
  OTHER;

  private static final Logger LOG = LoggerFactory.getLogger(Nd4jBackend.class);

  /** The backend of a backend class name, as {@code Nd4j.getBackend().getClass().getName()} gives it. */
  static Nd4jBackend ofClassName(String backendClass) {
    if (backendClass == null) return OTHER;
    if (backendClass.startsWith("org.nd4j.linalg.cpu.")) return CPU;         // ...cpu.nativecpu.CpuBackend
    if (backendClass.startsWith("org.nd4j.linalg.jcublas.")) return CUDA;    // ...jcublas.JCublasBackend
    return OTHER;
  }

  /** This JVM's backend (ND4J loads one per JVM; looked up once). */
  public static Nd4jBackend current() {
    return Current.BACKEND;
  }

  /** Whether CPU thread tuning (OpenBLAS/libnd4j threads, row threads) applies on this backend. */
  public boolean tunesCpuThreads() {
    return this == CPU;
  }

  /** Row threads a model should use when asked for {@code requested}: as asked on CPU, one elsewhere. */
  int rowThreads(int requested) {
    return tunesCpuThreads() ? requested : 1;
  }

  // holder: loading ND4J's backend is deferred to the first use, as Nd4j itself does
  private static final class Current {
    static final Nd4jBackend BACKEND = detect();

    private static Nd4jBackend detect() {
      String name = Nd4j.getBackend().getClass().getName();
      Nd4jBackend b = ofClassName(name);
      if (!b.tunesCpuThreads()) {
        LOG.info("ND4J backend {} ({}): CPU thread tuning (OpenBLAS/libnd4j threads, row threads) is off", b, name);
      }
      return b;
    }
  }
}
