package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.demo.DemoData;
import dev.sparkdpo.jobs.DemoDataCommand;
import java.util.Map;

/** The demo's data (only when the config has a demo block): tokenizer, corpus, preferences, lexicon. */
final class DemoDataStage implements PipelineStage {
  @Override
  public String name() {
    return Pipeline.DEMO;
  }

  @Override
  public boolean enabled(PipelineContext c) {
    return c.demo();
  }

  @Override
  public StageResult run(PipelineContext c) {
    DemoData.Options opts = DemoDataCommand.options(c.settings("demo", "demo", Map.of(),
        Map.of("output", c.dir(name()))));
    DemoData.Result r = DemoData.run(opts, c.spark().sparkContext().hadoopConfiguration(), c.forced(name()));
    return StageResult.of(r.skipped(), c.dir(name()), r.fingerprint());
  }
}
