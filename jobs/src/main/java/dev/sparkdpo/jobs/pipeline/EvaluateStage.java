package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.eval.EvaluateOptions;
import dev.sparkdpo.jobs.EvaluateCommand;
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
    // the run is labelled by its directory's name: the run root's, or the run's under runs/
    return evaluate(c, c.dir(Pipeline.TRAIN, "model"), c.dir(name()), c.runDir().getName(), c.dir(Pipeline.TRAIN),
        Map.of());
  }

  /**
   * Evaluates {@code model} against the model of reference into {@code output}: the evaluate block with the pipeline's
   * wiring, {@code fill} keys only where the block leaves them out.
   */
  static StageResult evaluate(PipelineContext c, String model, String output, String label, String trainMetrics,
      Map<String, Object> fill) {
    Map<String, Object> f = new LinkedHashMap<>(fill);
    if (c.demo()) f.put("reward", "lexicon:" + c.dir(Pipeline.DEMO, "lexicon.json"));
    if (trainMetrics != null) f.put("train-metrics", trainMetrics);
    // the policy's implicit reward uses the beta it was trained with
    f.put("beta", c.settings("train", "train", Map.of(), Map.of()).block().getDouble("beta"));
    f.put("label", label);
    EvaluateOptions opts = EvaluateCommand.options(c.settings("evaluate", "evaluate", f, Map.of(
        "data", c.dir(Pipeline.REFERENCE), "model", model, "reference-model", c.referenceModel(), "output", output,
        "force", c.forced(Pipeline.EVALUATE))));
    dev.sparkdpo.eval.EvaluateStage.Result r = dev.sparkdpo.eval.EvaluateStage.run(c.spark(), opts);
    return StageResult.of(r.skipped(), output, r.fingerprint());
  }
}
