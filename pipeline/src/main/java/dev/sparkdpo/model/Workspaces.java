package dev.sparkdpo.model;

import java.util.function.Supplier;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Per-thread ND4J workspaces: the temporaries of one block / logits chunk / step reuse the same memory from call to
 * call instead of fresh off-heap buffers freed by GC (3-4x faster on CPU; works the same on CUDA).
 */
final class Workspaces {
  private Workspaces() {}

  static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
      .policyAllocation(AllocationPolicy.OVERALLOCATE).overallocationLimit(0.2)
      .policyLearning(LearningPolicy.FIRST_LOOP).policySpill(SpillPolicy.REALLOCATE)
      .build();

  /**
   * f's result, computed inside the workspace; the only array that outlives the scope, moved into the enclosing
   * workspace if there is one (see {@link #inWorkspace}), else detached to ordinary memory.
   */
  static INDArray scoped(String workspaceId, Supplier<INDArray> f) {
    MemoryWorkspace parent = Nd4j.getMemoryManager().getCurrentWorkspace();
    try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, workspaceId)) {
      INDArray result = f.get();
      return parent == null ? result.detach() : result.leverageTo(parent.getId());
    }
  }

  /** Runs f with every ND4J array it allocates in a reused per-thread workspace; f must return plain Java data. */
  static <T> T inWorkspace(String workspaceId, Supplier<T> f) {
    try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, workspaceId)) {
      return f.get();
    }
  }

  /** f outside any workspace: for arrays that outlive every step (models, caches, gradient vectors). */
  static <T> T outside(Supplier<T> f) {
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return f.get();
    }
  }
}
