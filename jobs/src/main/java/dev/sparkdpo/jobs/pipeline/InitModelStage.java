package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.jobs.InitModelCommand;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A fresh GPT-2 in {@code <root>/init-model} (block init-model), when the config gives no pipeline.model; sized for
 * ingest's tokenizer unless init-model.tokenizer says otherwise.
 */
final class InitModelStage implements PipelineStage {
  @Override
  public String name() {
    return Pipeline.INIT_MODEL;
  }

  @Override
  public boolean enabled(PipelineContext c) {
    return c.pipelineSetting("model") == null;
  }

  @Override
  public StageResult run(PipelineContext c) throws Exception {
    Map<String, Object> fill = new LinkedHashMap<>();
    String tokenizer = c.ingestTokenizer();
    if (tokenizer != null) fill.put("tokenizer", tokenizer);
    InitModelCommand.Options opts = InitModelCommand.options(c.settings("init-model", "init-model", fill,
        Map.of("output", c.dir(name()), "overwrite", true)));
    InitModelCommand.Result r = InitModelCommand.run(opts, !c.forced(name()));
    return StageResult.of(r.skipped(), c.dir(name()), r.fingerprint());
  }
}
