package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.generate.GeneratePairs;
import dev.sparkdpo.generate.GeneratePairsOptions;
import dev.sparkdpo.jobs.GeneratePairsCommand;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * On-policy pairs (block generate-pairs, optional) into {@code <root>/generate-pairs}: sampled from the model of
 * reference (sft's, or the start model), prompts from generate-pairs.prompts (data the block names) or else
 * {@code <root>/ingest}'s; with the demo, rewarded by the demo's lexicon unless the block gives a reward. When it
 * runs, reference reads its output instead of ingest's.
 */
final class GeneratePairsStep implements PipelineStage {
  @Override
  public String name() {
    return Pipeline.GENERATE_PAIRS;
  }

  @Override
  public boolean enabled(PipelineContext c) {
    return c.given(Pipeline.GENERATE_PAIRS);
  }

  /** The pairs reference and train use: this stage's output when it is enabled, else ingest's. */
  static String pairsDir(PipelineContext c) {
    return c.given(Pipeline.GENERATE_PAIRS) ? c.dir(Pipeline.GENERATE_PAIRS) : c.dir(Pipeline.INGEST);
  }

  @Override
  public StageResult run(PipelineContext c) {
    Map<String, Object> fill = new LinkedHashMap<>();
    if (!c.given(Pipeline.GENERATE_PAIRS + ".prompts")) fill.put("prompts", List.of(c.dir(Pipeline.INGEST)));
    if (c.demo()) fill.put("reward", "lexicon:" + Path.of(c.demoDir(), "lexicon.json"));
    GeneratePairsOptions opts = GeneratePairsCommand.options(c.settings(Pipeline.GENERATE_PAIRS,
        Pipeline.GENERATE_PAIRS, fill, Map.of("model", c.referenceModel(), "output", c.dir(name()),
            "force", c.forced(name()))));
    GeneratePairs.Result r = GeneratePairs.run(c.spark(), opts);
    return StageResult.of(r.skipped(), c.dir(name()), r.fingerprint());
  }
}
