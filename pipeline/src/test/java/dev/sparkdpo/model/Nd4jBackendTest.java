package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The CPU-tuning guard's decisions, for every backend, without a GPU (the tests run on the CPU backend). */
class Nd4jBackendTest {
  @Test
  void backendFromTheClassNd4jLoaded() {
    assertEquals(Nd4jBackend.CPU, Nd4jBackend.ofClassName("org.nd4j.linalg.cpu.nativecpu.CpuBackend"));
    assertEquals(Nd4jBackend.CUDA, Nd4jBackend.ofClassName("org.nd4j.linalg.jcublas.JCublasBackend"));
    assertEquals(Nd4jBackend.OTHER, Nd4jBackend.ofClassName("org.nd4j.linalg.somefuture.Backend"));
    assertEquals(Nd4jBackend.OTHER, Nd4jBackend.ofClassName(null));
  }

  @Test
  void theDefaultBuildRunsOnTheCpuBackend() {
    assertEquals(Nd4jBackend.CPU, Nd4jBackend.current(), "the default build must bundle nd4j-native only");
  }

  @Test
  void cpuThreadTuningOnlyOnTheCpuBackend() {
    assertTrue(Nd4jBackend.CPU.tunesCpuThreads());
    assertFalse(Nd4jBackend.CUDA.tunesCpuThreads());
    assertFalse(Nd4jBackend.OTHER.tunesCpuThreads());
    assertEquals(4, Nd4jBackend.CPU.rowThreads(4));
    assertEquals(1, Nd4jBackend.CUDA.rowThreads(4));
    assertEquals(1, Nd4jBackend.OTHER.rowThreads(4));
  }

  @Test
  void nativeThreadsLeaveANonCpuBackendAlone() {
    int before = NativeThreads.opThreads(), blasBefore = NativeThreads.blasThreads();
    int other = before == 1 ? 2 : 1;
    try {
      assertFalse(NativeThreads.set(Nd4jBackend.CUDA, 1, other));
      assertEquals(before, NativeThreads.opThreads(), "nothing set on CUDA");
      assertTrue(NativeThreads.set(Nd4jBackend.CPU, 1, other));
      assertEquals(other, NativeThreads.opThreads(), "set on the CPU backend");
      // argument checks hold whatever the backend: a wrong count is a caller's bug on a GPU too
      assertThrows(IllegalArgumentException.class, () -> NativeThreads.set(Nd4jBackend.CUDA, 0, 1));
    } finally {
      NativeThreads.set(Nd4jBackend.CPU, blasBefore, before);
    }
  }
}
