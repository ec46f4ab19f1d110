package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.data.Ingest;
import dev.sparkdpo.data.IngestOptions;
import dev.sparkdpo.jobs.IngestCommand;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Ingest into {@code <root>/ingest}. With the demo, its preferences and tokenizer are the defaults of ingest.input and
 * ingest.tokenizer. Ingest itself never skips (a rerun needs --overwrite): here the output is kept when its manifest's
 * fingerprint (settings + the input files' paths and sizes) equals this run's, and replaced otherwise.
 */
final class IngestStage implements PipelineStage {
  private static final Logger LOG = LoggerFactory.getLogger(IngestStage.class);

  @Override
  public String name() {
    return Pipeline.INGEST;
  }

  /** With the demo or an ingest block; a pipeline whose pairs come from generate-pairs needs no ingest. */
  @Override
  public boolean enabled(PipelineContext c) {
    return c.demo() || c.given(Pipeline.INGEST);
  }

  @Override
  public StageResult run(PipelineContext c) {
    Map<String, Object> fill = new LinkedHashMap<>();
    if (c.demo()) {
      fill.put("input", List.of(c.dir(Pipeline.DEMO, "preferences")));
      fill.put("tokenizer", c.demoTokenizer());
    }
    String output = c.dir(name());
    // the run root is the pipeline's: replacing its own ingest output (never anything else: StageOutput) is its job
    IngestOptions opts = IngestCommand.options(c.settings("ingest", "ingest", fill,
        Map.of("output", output, "overwrite", true)));
    String fingerprint = Ingest.fingerprint(c.spark(), opts);
    if (!c.forced(name()) && fingerprint.equals(c.completeFingerprintOf(output))) {
      LOG.info("pipeline: ingest {} is complete with the same inputs and settings: skipped", output);
      return StageResult.of(true, output, fingerprint);
    }
    Ingest.run(c.spark(), opts);
    return StageResult.of(false, output, c.fingerprintOf(output));
  }
}
