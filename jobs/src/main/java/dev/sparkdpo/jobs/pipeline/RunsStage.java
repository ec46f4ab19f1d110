package dev.sparkdpo.jobs.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.train.Checkpoints;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * pipeline.runs after the pipeline's own train and evaluate (see {@link Runs}): each trained run's train and evaluate
 * (each skipping itself when up to date, so a killed sweep resumes), each Best-of-N run's evaluate of the reference
 * with N x samples-per-prompt samples, and with checkpoint-evals the evaluation of every checkpoint.
 */
final class RunsStage implements PipelineStage {
  private static final Logger LOG = LoggerFactory.getLogger(RunsStage.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  /** Under evaluate-steps/: a LoRA run's checkpoints merged into its base, the models their evaluations read. */
  static final String MERGED = "merged";

  @Override
  public String name() {
    return Pipeline.RUNS;
  }

  @Override
  public boolean enabled(PipelineContext c) {
    return Runs.of(c).any();
  }

  @Override
  public StageResult run(PipelineContext c) throws Exception {
    Runs runs = Runs.of(c);
    boolean force = c.forced(name());
    List<String> ran = new ArrayList<>();
    if (runs.checkpointEvals() && evaluateCheckpoints(c, c.runDir().getName())) ran.add("checkpoints");
    for (int i = 0; i < runs.runs().size(); i++) {
      Runs.Run run = runs.runs().get(i);
      LOG.info("pipeline: run {} ({} of {}){}", run.name(), i + 1, runs.runs().size(),
          run.bestOf() > 0 ? ": best-of-" + run.bestOf() + " of the reference" : "");
      PipelineContext rc = c.forRun(run.name(), Runs.config(c, run), force);
      boolean didSomething;
      if (run.bestOf() > 0) {
        // the policy is the reference itself: Frontier picks the best of each N of its samples
        didSomething = !EvaluateStage.evaluate(rc, c.referenceModel(), rc.dir(Pipeline.EVALUATE), run.name(), null,
            Map.of()).skipped();
      } else {
        didSomething = !new TrainStage().run(rc).skipped();
        didSomething |= !new EvaluateStage().run(rc).skipped();
        if (runs.checkpointEvals()) didSomething |= evaluateCheckpoints(rc, run.name());
      }
      if (didSomething) ran.add(run.name());
    }
    String note = runs.runs().size() + " runs under " + c.dir(Pipeline.RUNS) + (ran.isEmpty() ? ", all up to date"
        : "; ran: " + String.join(", ", ran));
    return new StageResult(ran.isEmpty(), c.dir(Pipeline.RUNS).toString(), null, note);
  }

  /**
   * Evaluates each checkpoint of the context's train but the last (the final model); true if any was computed. A
   * LoRA run's checkpoint holds adapters only: its policy is the run's base model (train's model, the context's
   * reference model) with them merged, written once into {@code evaluate-steps/merged/step-K/} (a plain model
   * directory, what evaluate reads, as train's own merged model/).
   */
  static boolean evaluateCheckpoints(PipelineContext c, String label) {
    String train = c.dir(Pipeline.TRAIN);
    long last = finalStep(train);
    boolean any = false;
    for (Map.Entry<Long, Path> ckpt : Runs.checkpoints(train).entrySet()) {
      if (ckpt.getKey() == last) continue;
      String step = "step-" + ckpt.getKey();
      String policy = ckpt.getValue().toString();
      if (Checkpoints.holdsAdapters(ckpt.getValue())) {
        policy = c.inRunDir(Runs.EVALUATE_STEPS, MERGED, step);
        if (Checkpoints.saveMergedCheckpoint(ckpt.getValue(), Runs.local(c.referenceModel()), Runs.local(policy))) {
          LOG.info("pipeline: {}@{}: adapters of {} merged into {}", label, ckpt.getKey(), ckpt.getValue(), policy);
        }
      }
      String out = c.inRunDir(Runs.EVALUATE_STEPS, step);
      any |= !EvaluateStage.evaluate(c, policy, out, label + "@" + ckpt.getKey(), null, Map.of()).skipped();
    }
    return any;
  }

  /** The steps train.json reports (the final model's step), or -1 when it is missing. */
  static long finalStep(String train) {
    Path file = Runs.local(train).resolve("train.json");
    if (!Files.isRegularFile(file)) return -1;
    try {
      return JSON.readTree(file.toFile()).path("steps").asLong(-1);
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
    }
  }
}
