package dev.sparkdpo.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import com.sun.jna.Library;
import com.sun.jna.Native;
import org.bytedeco.javacpp.Loader;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Which of OpenBLAS's kernels this JVM's matrix products run on.
 *
 * <p>ND4J 1.0.0-M2.1 bundles OpenBLAS 0.3.19 (javacpp's openblas 0.3.19-1.5.7), which picks its kernels from the
 * CPU's model number. A CPU newer than it knows gets "Prescott", the generic SSE3 kernels, even when the CPU has
 * AVX-512. Measured on this machine (a Xeon with AVX-512 FP16, newer than 0.3.19): sgemm [4096,768]·[768,2304] on one
 * thread at 12-23 GFLOP/s with Prescott against 58-74 with the SkylakeX kernels, and the whole GPT-2 small DPO train
 * step (bench model) 2.6x faster.
 *
 * <p>OpenBLAS reads OPENBLAS_CORETYPE from the C environment once, when its library loads. So {@link #prepare}, run
 * before anything loads ND4J (by {@code SparkDpo.main}, by the executors' {@code NativeSetupPlugin}, by the test
 * JVMs), sets it from the CPU's own feature flags in /proc/cpuinfo: AVX-512 F/CD/BW/DQ/VL → SKYLAKEX, else AVX2 +
 * FMA → HASWELL, else nothing (OpenBLAS detects as before). Choosing from the flags, never the model number, means a
 * kernel never uses an instruction the CPU lacks. A value already in the environment is the user's and is kept.
 */
public final class OpenBlasCore {
  private static final Logger LOG = LoggerFactory.getLogger(OpenBlasCore.class);

  /** The environment variable OpenBLAS reads (see its README: "OPENBLAS_CORETYPE"). */
  public static final String ENV = "OPENBLAS_CORETYPE";

  private static final List<String> AVX512 = List.of("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl");

  private static String outcome; // what prepare() did, once per JVM

  private OpenBlasCore() {}

  /** The core type for a CPU with these feature flags (as /proc/cpuinfo names them), or null to let OpenBLAS pick. */
  static String coreFor(Set<String> flags) {
    if (flags.containsAll(AVX512)) return "SKYLAKEX";
    if (flags.contains("avx2") && flags.contains("fma")) return "HASWELL";
    return null;
  }

  /** The feature flags of the first processor in /proc/cpuinfo's lines ("flags : fpu vme ..."); empty if none. */
  static Set<String> cpuFlags(Stream<String> cpuinfo) {
    return cpuinfo.filter(l -> l.startsWith("flags")).findFirst()
        .map(l -> l.substring(l.indexOf(':') + 1).strip())
        .map(s -> Arrays.stream(s.split("\\s+")).collect(Collectors.toUnmodifiableSet()))
        .orElse(Set.of());
  }

  /**
   * Sets OPENBLAS_CORETYPE for this CPU in this process's environment, once, if it is not set and OpenBLAS has not
   * loaded yet; returns what it did (for logs and the bench's JSON). Never throws: on another OS, without
   * /proc/cpuinfo or without a C library JNA can call, OpenBLAS detects the CPU itself as it always did.
   */
  public static synchronized String prepare() {
    if (outcome == null) outcome = decide();
    return outcome;
  }

  private static String decide() {
    String given = System.getenv(ENV);
    if (given != null && !given.isBlank()) return "kept " + ENV + "=" + given + " from the environment";
    if (openBlasLoaded()) {
      LOG.warn("OpenBLAS loaded before its kernels could be chosen for this CPU: call OpenBlasCore.prepare() first"
          + " (or set {} in the environment)", ENV);
      return "too late: OpenBLAS had already loaded";
    }
    Path cpuinfo = Path.of("/proc/cpuinfo");
    if (!Files.isReadable(cpuinfo)) return "no /proc/cpuinfo: OpenBLAS detects the CPU";
    String core;
    try (Stream<String> lines = Files.lines(cpuinfo)) {
      core = coreFor(cpuFlags(lines));
    } catch (IOException | RuntimeException e) {
      return "unreadable /proc/cpuinfo (" + e.getMessage() + "): OpenBLAS detects the CPU";
    }
    if (core == null) return "no AVX2/AVX-512: OpenBLAS detects the CPU";
    try {
      int rc = Native.load("c", LibC.class).setenv(ENV, core, 0);
      if (rc != 0) return "setenv failed (" + rc + "): OpenBLAS detects the CPU";
    } catch (LinkageError | RuntimeException e) { // no JNA dispatch library for this platform, no libc
      LOG.debug("cannot set {} in the C environment: {}", ENV, e.toString());
      return "setenv unavailable: OpenBLAS detects the CPU";
    }
    LOG.debug("{}={} for this CPU's flags (OpenBLAS 0.3.19 would pick by model number)", ENV, core);
    return "set " + ENV + "=" + core + " from the CPU's flags";
  }

  /** Whether javacpp has loaded an OpenBLAS library in this JVM (ND4J's CPU backend loads it with Nd4j). */
  private static boolean openBlasLoaded() {
    return !openBlasLibraries().isEmpty();
  }

  /**
   * The paths (null where javacpp did not record one) of the OpenBLAS libraries javacpp has loaded in this JVM: none
   * before ND4J loads, or on CUDA.
   */
  private static List<String> openBlasLibraries() {
    return Loader.getLoadedLibraries().entrySet().stream().filter(e -> e.getKey().startsWith("openblas"))
        .map(Map.Entry::getValue).toList();
  }

  /**
   * The kernels OpenBLAS runs on ("SkylakeX", "Haswell", "Prescott", ...) as it reports them once loaded (load ND4J
   * first), or null if no OpenBLAS is loaded (the CUDA backend) or it cannot be asked.
   */
  public static String loadedCoreName() {
    for (String library : openBlasLibraries()) {
      if (library == null) continue;
      try {
        return Native.load(library, OpenBlas.class).openblas_get_corename();
      } catch (LinkageError | RuntimeException ex) {
        LOG.debug("cannot ask {} its core: {}", library, ex.toString());
      }
    }
    return null;
  }

  /** The one libc function used: int setenv(const char*, const char*, int overwrite). */
  interface LibC extends Library {
    int setenv(String name, String value, int overwrite);
  }

  /** OpenBLAS's char* openblas_get_corename(void). */
  interface OpenBlas extends Library {
    String openblas_get_corename();
  }
}
