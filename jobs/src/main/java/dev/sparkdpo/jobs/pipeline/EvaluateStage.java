package dev.sparkdpo.jobs.pipeline;

import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Evaluate (block evaluate) into {@code <root>/evaluate}: eval.json, samples.jsonl, and the report (report.html,
 * plots/) that evaluate writes at its end.
 *
 * <p>NOT YET WIRED: {@code dev.sparkdpo.eval.EvaluateStage.run(SparkSession, EvaluateOptions)} is written on another
 * branch. This class is the one place to wire it at the merge: build EvaluateOptions from the evaluate block (through
 * the evaluate command's options(JobConfig), like the other stages) with {@link #wiring} filled in, run it, and
 * return its skipped flag and the manifest's fingerprint. Until then the stage reports "not wired" in pipeline.json.
 */
final class EvaluateStage implements PipelineStage {
  private static final Logger LOG = LoggerFactory.getLogger(EvaluateStage.class);

  /** What the pipeline wires into evaluate's options (the rest: the evaluate block's settings). */
  record Wiring(String data, String model, String referenceModel, String output, String reward, String trainMetrics) {}

  @Override
  public String name() {
    return Pipeline.EVALUATE;
  }

  static Wiring wiring(PipelineContext c) {
    String reward = c.demo() ? "lexicon:" + Path.of(c.demoDir(), "lexicon.json") : null; // else evaluate.reward
    return new Wiring(c.dir(Pipeline.REFERENCE), Path.of(c.dir(Pipeline.TRAIN), "model").toString(),
        c.referenceModel(), c.dir(Pipeline.EVALUATE), reward, c.dir(Pipeline.TRAIN));
  }

  @Override
  public StageResult run(PipelineContext c) {
    Wiring w = wiring(c);
    // TODO(merge with the evaluate branch): EvaluateOptions from c.settings("evaluate", "evaluate", fill, wired) and
    // dev.sparkdpo.eval.EvaluateStage.run(c.spark(), options); return its result.
    LOG.warn("pipeline: evaluate is not wired into this build yet (dev.sparkdpo.eval.EvaluateStage): it would read {}"
        + " with policy {} against {} into {}", w.data(), w.model(), w.referenceModel(), w.output());
    return new StageResult(false, w.output(), null, Pipeline.NOT_WIRED);
  }
}
