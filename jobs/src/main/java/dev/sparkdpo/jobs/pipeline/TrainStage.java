package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.jobs.TrainCommand;
import dev.sparkdpo.train.TrainOptions;
import dev.sparkdpo.train.Trainer;
import java.util.Map;

/**
 * The policy (block train) on {@code <root>/reference}, from the model of reference, into {@code <root>/train}. A
 * killed run resumes from its newest checkpoint; a finished run with the same settings and data is skipped.
 */
final class TrainStage implements PipelineStage {
  @Override
  public String name() {
    return Pipeline.TRAIN;
  }

  @Override
  public StageResult run(PipelineContext c) {
    boolean force = c.forced(name());
    TrainOptions opts = TrainCommand.options(c.settings("train", "train", Map.of(), Map.of(
        "data", c.dir(Pipeline.REFERENCE), "model", c.referenceModel(), "output", c.dir(name()),
        "force", force, "resume", !force)));
    Trainer.Result r = Trainer.run(c.spark(), opts);
    return StageResult.of(r.skipped(), c.dir(name()), c.fingerprintOf(c.dir(name())));
  }
}
