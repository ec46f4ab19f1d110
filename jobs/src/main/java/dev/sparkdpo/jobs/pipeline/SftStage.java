package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.jobs.TrainCommand;
import dev.sparkdpo.train.TrainOptions;
import dev.sparkdpo.train.Trainer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The reference model by SFT (block sft: train's keys, objective sft) into {@code <root>/sft}, from the start model,
 * on sft.data: by default the demo's corpus, else the chosen responses of {@code <root>/ingest}. Its model/ is then
 * the model of reference and train. A killed run resumes from its newest checkpoint.
 */
final class SftStage implements PipelineStage {
  @Override
  public String name() {
    return Pipeline.SFT;
  }

  @Override
  public boolean enabled(PipelineContext c) {
    return c.given("sft");
  }

  @Override
  public StageResult run(PipelineContext c) {
    Map<String, Object> fill = new LinkedHashMap<>();
    fill.put("data", c.demo() ? c.dir(Pipeline.DEMO, "corpus") : c.dir(Pipeline.INGEST));
    fill.put("objective", "sft");
    boolean force = c.forced(name());
    TrainOptions opts = TrainCommand.options(c.settings("train", "sft", fill, Map.of("model", c.startModel(),
        "output", c.dir(name()), "force", force, "resume", !force)));
    if (opts.objective() != TrainOptions.Objective.SFT) {
      throw new IllegalArgumentException("sft.objective: the sft block trains the reference model by SFT: remove"
          + " objective, or set it to sft");
    }
    opts = TrainStage.merged(c, "sft", opts); // sft/model is the model of reference and train
    Trainer.Result r = Trainer.run(c.spark(), opts);
    return StageResult.of(r.skipped(), c.dir(name()), c.fingerprintOf(c.dir(name())));
  }
}
