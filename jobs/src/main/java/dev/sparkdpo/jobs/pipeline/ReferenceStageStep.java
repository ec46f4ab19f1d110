package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.jobs.ReferenceCommand;
import dev.sparkdpo.reference.ReferenceStage;
import java.util.Map;

/**
 * Reference log-probs of {@code <root>/ingest} (or {@code <root>/generate-pairs} when that stage is enabled) with the
 * model of reference into {@code <root>/reference}.
 */
final class ReferenceStageStep implements PipelineStage {
  @Override
  public String name() {
    return Pipeline.REFERENCE;
  }

  @Override
  public StageResult run(PipelineContext c) {
    ReferenceStage.Options opts = ReferenceCommand.options(c.settings("reference", "reference", Map.of(),
        Map.of("data", GeneratePairsStep.pairsDir(c), "model", c.referenceModel(), "output", c.dir(name()),
            "force", c.forced(name()))));
    ReferenceStage.Result r = ReferenceStage.run(c.spark(), opts);
    return StageResult.of(r.skipped(), c.dir(name()), r.fingerprint());
  }
}
