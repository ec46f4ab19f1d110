package dev.sparkdpo.model;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.BiFunction;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.abstracts.Nd4jWorkspace;
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
public final class Workspaces {
  private Workspaces() {}

  /**
   * The per-thread workspace of one whole pass: a training step (its kept activations) or an inference forward. The
   * two never nest, so they share it (sized to the larger; measured: a separate inference workspace kept 0.4 GB of
   * GPT-2 small's reference forward resident through training).
   */
  static final String PASS = "gpt-pass";

  /** Size of every workspace each thread has opened, by id and thread: what {@link #sizes} reports. */
  private static final Map<String, Long> SIZES = new ConcurrentHashMap<>();

  /**
   * Sized by the first cycle (FIRST_LOOP), exactly: ND4J's default over-allocation of 20% cost 0.9 GB of the GPT-2
   * small train step's 11.7 GB (bench model --config gpt2). A later larger cycle (a longer batch) spills and the
   * workspace grows to it (REALLOCATE).
   */
  static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
      .policyAllocation(AllocationPolicy.STRICT).overallocationLimit(0.0)
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
      record(ws);
      return parent == null ? result.detach() : result.leverageTo(parent.getId());
    }
  }

  /**
   * f's result computed inside the workspace (its scratch memory, reused from call to call), with the arrays that
   * outlive the scope copied out by {@code export}'s copier: into the enclosing workspace if there is one, else into
   * ordinary memory. For results of several arrays, some of them views (a training forward's saved activations):
   * a copy of a view holds only the view's elements.
   */
  static <T> T scoped(String workspaceId, Supplier<T> f, BiFunction<T, UnaryOperator<INDArray>, T> export) {
    MemoryWorkspace parent = Nd4j.getMemoryManager().getCurrentWorkspace();
    try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, workspaceId)) {
      T result = f.get();
      record(ws);
      return export.apply(result, a -> copyInto(parent, a));
    }
  }

  /** A contiguous copy of a in the workspace {@code target} (null: outside every workspace). */
  private static INDArray copyInto(MemoryWorkspace target, INDArray a) {
    try (MemoryWorkspace ignored = target == null ? Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()
        : target.notifyScopeBorrowed()) {
      return a.dup('c');
    }
  }

  /** Runs f with every ND4J array it allocates in a reused per-thread workspace; f must return plain Java data. */
  static <T> T inWorkspace(String workspaceId, Supplier<T> f) {
    try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, workspaceId)) {
      T result = f.get();
      record(ws);
      return result;
    }
  }

  /** Remembers the workspace's size (its memory, reserved or spilled, is the process's until the thread ends). */
  private static void record(MemoryWorkspace ws) {
    long bytes = ws.getCurrentSize();
    if (ws instanceof Nd4jWorkspace w) bytes += w.getSpilledSize() + w.getPinnedSize(); // beyond its block
    SIZES.merge(ws.getId() + "@" + Thread.currentThread().getName(), bytes, Math::max);
  }

  /**
   * Bytes of the model's per-thread workspaces by id, summed over the threads that opened one, as last seen (largest
   * size seen per thread): where a step's activations and temporaries live, for memory reports (bench model).
   */
  public static Map<String, Long> sizes() {
    Map<String, Long> out = new TreeMap<>();
    SIZES.forEach((key, bytes) -> out.merge(key.substring(0, key.indexOf('@')), bytes, Long::sum));
    return out;
  }

  /** f outside any workspace: for arrays that outlive every step (models, caches, gradient vectors). */
  static <T> T outside(Supplier<T> f) {
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return f.get();
    }
  }
}
