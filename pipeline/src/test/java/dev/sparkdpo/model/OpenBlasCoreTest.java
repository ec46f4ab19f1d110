package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class OpenBlasCoreTest {

  @Test
  void theKernelsFollowTheCpuFlagsNotTheModelNumber() {
    assertEquals("SKYLAKEX", OpenBlasCore.coreFor(Set.of("fma", "avx2", "avx512f", "avx512cd", "avx512bw",
        "avx512dq", "avx512vl", "avx512_fp16")));
    // AVX-512 foundation alone (Knights Landing: no BW/DQ/VL) is not what the SkylakeX kernels need
    assertEquals("HASWELL", OpenBlasCore.coreFor(Set.of("fma", "avx2", "avx512f", "avx512cd")));
    assertEquals("HASWELL", OpenBlasCore.coreFor(Set.of("sse4_2", "avx", "avx2", "fma")));
    assertNull(OpenBlasCore.coreFor(Set.of("sse4_2", "avx")));   // Sandy Bridge: OpenBLAS detects it
    assertNull(OpenBlasCore.coreFor(Set.of("avx2")));            // AVX2 without FMA does not exist; never guess
    assertNull(OpenBlasCore.coreFor(Set.of()));                  // not x86 / no /proc/cpuinfo
  }

  @Test
  void flagsAreReadFromTheFirstProcessor() {
    Set<String> flags = OpenBlasCore.cpuFlags(Stream.of("processor\t: 0", "model name\t: Intel(R) Xeon(R)",
        "flags\t\t: fpu vme avx2 fma avx512f", "processor\t: 1", "flags\t\t: fpu"));
    assertEquals(Set.of("fpu", "vme", "avx2", "fma", "avx512f"), flags);
    assertEquals(Set.of(), OpenBlasCore.cpuFlags(Stream.of("processor\t: 0")));
  }

  /**
   * In this test JVM OpenBlasCoreForTests ran before ND4J loaded, so the loaded OpenBLAS runs the kernels this CPU's
   * flags call for (on a CPU OpenBLAS 0.3.19 does not know, "Prescott" without it).
   */
  @Test
  void theLoadedOpenBlasRunsTheChosenKernels() throws IOException {
    Path cpuinfo = Path.of("/proc/cpuinfo");
    Assumptions.assumeTrue(Files.isReadable(cpuinfo) && Nd4jBackend.current() == Nd4jBackend.CPU);
    String expected;
    try (Stream<String> lines = Files.lines(cpuinfo)) {
      expected = OpenBlasCore.coreFor(OpenBlasCore.cpuFlags(lines));
    }
    Assumptions.assumeTrue(expected != null, "no AVX2: OpenBLAS picks by itself");
    Assumptions.assumeTrue(System.getenv(OpenBlasCore.ENV) == null, "the environment chose the kernels");
    Nd4j.ones(DataType.FLOAT, 2, 2).mmul(Nd4j.ones(DataType.FLOAT, 2, 2)); // ND4J (and OpenBLAS) loaded
    String core = OpenBlasCore.loadedCoreName();
    assertEquals(expected.toLowerCase(), core == null ? null : core.toLowerCase(), OpenBlasCore.prepare());
    assertTrue(OpenBlasCore.prepare().startsWith("set "), OpenBlasCore.prepare());
  }
}
