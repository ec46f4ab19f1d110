package dev.sparkdpo.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import dev.sparkdpo.data.tokenize.CorpusTokenizer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** A word-level tokenizer over a text corpus (block {@code tokenizer}; a pipeline stage when the config has it). */
@Command(name = "tokenizer", mixinStandardHelpOptions = true, sortOptions = false,
    abbreviateSynopsis = true, usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {"Builds a word-level tokenizer.json from text files.",
        "",
        "Counts the corpus's words across the executors (the Whitespace pre-tokenizer's words: \\w+ runs and "
            + "punctuation runs, lower-cased unless --no-lowercase), keeps the most frequent (with <|endoftext|> and "
            + "<unk>: --vocab-size in all) plus the words of --keep-words that occur in the corpus, and writes "
            + "<output>/tokenizer.json (Hugging Face WordLevel) and <output>/stats.json (coverage of the corpus).",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class TokenizerCommand implements Callable<Integer> {
  @Option(names = "--data", paramLabel = "PATH", description = "Text files: a directory or glob (any Hadoop file system).")
  String data;

  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically).")
  String output;

  @Option(names = "--vocab-size", paramLabel = "N", description = "Tokens in all, <|endoftext|> and <unk> included "
      + "(default ${DEFAULT-VALUE}).")
  Integer vocabSize;

  @Option(names = "--keep-words", paramLabel = "FILE", description = "Words to keep when the corpus has them: a word -> "
      + "score JSON (e.g. the reward's lexicon) or one word per line.")
  String keepWords;

  @Option(names = "--min-count", paramLabel = "N", description = "A word must occur this often (default ${DEFAULT-VALUE}).")
  Integer minCount;

  @Option(names = "--lowercase", negatable = true, description = "Lower-case the text (default ${DEFAULT-VALUE}).")
  Boolean lowercase;

  @Option(names = "--force", description = "Rebuild even when a complete output with the same settings exists.")
  Boolean force;

  @Mixin SparkOptions spark;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    JobConfig c = JobConfig.resolve(spec);
    CorpusTokenizer.Options opts = options(c);
    SparkSession session = spark.session(c.config());
    CorpusTokenizer.Result r = CorpusTokenizer.run(session, opts, c.block().getBoolean("force"));
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("skipped", r.skipped());
    out.put("output", r.output());
    out.put("vocab_size", r.vocabSize());
    out.put("coverage", r.coverage());
    System.out.println(new ObjectMapper().writeValueAsString(out));
    return 0;
  }

  /** The tokenizer block of resolved settings as options; a bad value names its option. */
  public static CorpusTokenizer.Options options(JobConfig c) {
    Config t = c.block();
    return new CorpusTokenizer.Options(c.required("data"), c.required("output"), t.getInt("vocab-size"),
        t.hasPath("keep-words") ? t.getString("keep-words") : null, t.getInt("min-count"), t.getBoolean("lowercase"));
  }
}
