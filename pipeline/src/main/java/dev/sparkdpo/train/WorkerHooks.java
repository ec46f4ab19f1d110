package dev.sparkdpo.train;

import dev.sparkdpo.dpo.GptDpoLayer;
import dev.sparkdpo.model.NativeThreads;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.util.CollectionAccumulator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.spark.api.TrainingHook;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * What the driver adds to DL4J Spark's parameter-averaging workers. The driver sets {@link #firstStep} before each
 * averaging round; the object travels to the workers with the round's tasks.
 *
 * <ul>
 *   <li>As a {@link TrainingHook}, before each minibatch: the task's native threads are the task's cores (not the
 *       machine's), and a fresh worker network continues at the global step. DL4J 1.0.0-M2 builds each round's worker
 *       network from a clone of the configuration, which resets the iteration count to 0: the learning-rate schedule
 *       and Adam's bias correction would restart every round without this.</li>
 *   <li>As a listener: after each minibatch's gradient, the worker's pair and token counts, loss, TRL metrics and
 *       gradient norm go to a {@link CollectionAccumulator} the driver reads after the round.</li>
 * </ul>
 */
public final class WorkerHooks extends BaseTrainingListener implements TrainingHook {
  private static final long serialVersionUID = 1L;

  private final CollectionAccumulator<WorkerStep> steps;
  private long firstStep;

  // per task (the object is deserialized per task): set in onGradientCalculation, read in iterationDone
  private transient double gradNorm;
  private transient long tokens;
  private transient long fitStarted;

  public WorkerHooks(CollectionAccumulator<WorkerStep> steps) {
    this.steps = steps;
  }

  /** The global step the next round's first minibatch is (0-based). */
  public void setFirstStep(long step) {
    this.firstStep = step;
  }

  // --------------------------------------------------------------------------------------------------- TrainingHook

  @Override
  public void preUpdate(MultiDataSet minibatch, Model model) {
    before(model);
  }

  @Override
  public void preUpdate(DataSet minibatch, Model model) {
    before(model);
  }

  private void before(Model model) {
    fitStarted = System.nanoTime();
    TaskContext task = TaskContext.get();
    if (task != null) NativeThreads.set(Math.max(1, task.cpus()), 1);
    if (model instanceof ComputationGraph g && g.getConfiguration().getIterationCount() < firstStep) {
      g.getConfiguration().setIterationCount((int) firstStep);
    }
  }

  @Override
  public void postUpdate(MultiDataSet minibatch, Model model) {}

  @Override
  public void postUpdate(DataSet minibatch, Model model) {}

  // ------------------------------------------------------------------------------------------------------- listener

  @Override
  public void onGradientCalculation(Model model) {
    GptDpoLayer layer = layer(model);
    tokens = layer.lastTokens();
    // DL4J's gradient here is that of the summed loss (its updater divides by the minibatch size afterwards)
    gradNorm = model.gradient().gradient().norm2Number().doubleValue() / layer.lastResult().perPairLoss().length;
  }

  @Override
  public void iterationDone(Model model, int iteration, int epoch) {
    var result = layer(model).lastResult();
    if (result == null) return;
    TaskContext task = TaskContext.get();
    int worker = task == null ? 0 : task.partitionId();
    steps.add(new WorkerStep(iteration, worker, result.perPairLoss().length, tokens, gradNorm,
        (System.nanoTime() - fitStarted) / 1e9, result.metrics()));
  }

  private static GptDpoLayer layer(Model model) {
    if (model instanceof ComputationGraph g && g.getNumOutputArrays() == 1
        && g.getOutputLayer(0) instanceof GptDpoLayer l) {
      return l;
    }
    throw new IllegalStateException("WorkerHooks expects a ComputationGraph whose output is a GptDpoLayer, got "
        + model.getClass().getName());
  }

  /**
   * One report per (step, worker), in step then worker order: the last one received when a retried task attempt
   * reported a step twice (Spark applies the accumulator updates of every successful attempt of a shuffle-map task).
   */
  static List<WorkerStep> latest(List<WorkerStep> all) {
    java.util.Map<String, WorkerStep> unique = new java.util.LinkedHashMap<>();
    for (WorkerStep w : all) unique.put(w.step + ":" + w.worker, w);
    List<WorkerStep> out = new ArrayList<>(unique.values());
    out.sort((a, b) -> a.step != b.step ? Long.compare(a.step, b.step) : Integer.compare(a.worker, b.worker));
    return out;
  }
}
