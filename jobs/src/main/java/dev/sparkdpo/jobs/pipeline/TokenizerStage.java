package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.data.tokenize.CorpusTokenizer;
import dev.sparkdpo.jobs.TokenizerCommand;
import java.util.Map;

/**
 * A word-level tokenizer over a corpus (only when the config has a tokenizer block) into {@code <root>/tokenizer}:
 * then ingest, init-model and the stages after them use its tokenizer.json.
 */
final class TokenizerStage implements PipelineStage {
  @Override
  public String name() {
    return Pipeline.TOKENIZER;
  }

  @Override
  public boolean enabled(PipelineContext c) {
    return c.given(Pipeline.TOKENIZER);
  }

  @Override
  public StageResult run(PipelineContext c) {
    CorpusTokenizer.Options opts = TokenizerCommand.options(c.settings("tokenizer", "tokenizer", Map.of(),
        Map.of("output", c.dir(name()))));
    CorpusTokenizer.Result r = CorpusTokenizer.run(c.spark(), opts, c.forced(name()));
    return StageResult.of(r.skipped(), c.dir(name()), r.fingerprint());
  }
}
