package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.jobs.TrainCommand;
import dev.sparkdpo.train.TrainOptions;
import dev.sparkdpo.train.Trainer;
import java.util.Map;

/**
 * The policy (block train) on {@code <root>/reference}, from the model of reference, into {@code <root>/train}. A
 * killed run resumes from its newest checkpoint; a finished run with the same settings and data is skipped. With
 * lora-rank the run merges its adapters into model/ ({@link #merged}).
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
    opts = merged(c, "train", opts);
    Trainer.Result r = Trainer.run(c.spark(), opts);
    return StageResult.of(r.skipped(), c.dir(name()), c.fingerprintOf(c.dir(name())));
  }

  /**
   * A LoRA run in a pipeline always merges: the later stages (reference after sft, evaluate, generate-pairs, runs'
   * checkpoint evals of the policy) read the stage's model/, a plain HF model, which only --merge writes; adapter/ is
   * written as well. Simpler than teaching every reader base + adapter/, and a merged model is what they would compute
   * anyway. {@code block}.merge = false, set by the user, would be silently overridden: refused.
   */
  static TrainOptions merged(PipelineContext c, String block, TrainOptions opts) {
    if (opts.lora() == null || opts.lora().merge()) return opts;
    if (c.given(block + ".merge")) {
      throw new IllegalArgumentException(block + ".merge = false: in a pipeline a LoRA run always writes model/ with"
          + " the adapters merged (the later stages read it); remove merge from the " + block + " block");
    }
    return opts.withLora(new TrainOptions.Lora(opts.lora().config(), true));
  }
}
