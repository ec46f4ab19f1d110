package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.eval.EvaluateOptions;
import dev.sparkdpo.jobs.EvaluateCommand;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Evaluate (block evaluate) into {@code <root>/evaluate}: eval.json, samples.jsonl, and the report (report.html,
 * plots/) that evaluate writes at its end. The policy is train's model, the reference the model of reference (sft's,
 * or the given one), the data the reference output's eval split; with the demo, the reward is the demo's lexicon.
 */
final class EvaluateStage implements PipelineStage {
  @Override
  public String name() {
    return Pipeline.EVALUATE;
  }

  @Override
  public StageResult run(PipelineContext c) {
    Map<String, Object> fill = new LinkedHashMap<>();
    if (c.demo()) fill.put("reward", "lexicon:" + c.dir(Pipeline.DEMO, "lexicon.json"));
    fill.put("train-metrics", c.dir(Pipeline.TRAIN));
    // the policy's implicit reward uses the beta it was trained with; the run is labelled by its root's name
    fill.put("beta", c.settings("train", "train", Map.of(), Map.of()).block().getDouble("beta"));
    fill.put("label", c.root().getName());
    EvaluateOptions opts = EvaluateCommand.options(c.settings("evaluate", "evaluate", fill, Map.of(
        "data", c.dir(Pipeline.REFERENCE), "model", c.dir(Pipeline.TRAIN, "model"),
        "reference-model", c.referenceModel(), "output", c.dir(name()), "force", c.forced(name()))));
    dev.sparkdpo.eval.EvaluateStage.Result r = dev.sparkdpo.eval.EvaluateStage.run(c.spark(), opts);
    return StageResult.of(r.skipped(), c.dir(name()), r.fingerprint());
  }
}
