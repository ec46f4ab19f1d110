package dev.sparkdpo.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.typesafe.config.Config;
import dev.sparkdpo.data.Ingest;
import dev.sparkdpo.data.IngestOptions;
import dev.sparkdpo.data.IngestStats;
import dev.sparkdpo.data.formats.FormatOptions;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Benchmarks that print JSON (and optionally write it to a file). Speed is measured here, never in unit tests. */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Benchmarks; each prints a JSON result.",
    subcommands = {BenchCommand.IngestBench.class})
public final class BenchCommand {

  @Command(name = "ingest", mixinStandardHelpOptions = true, sortOptions = false,
      description = {"Generates a synthetic flat JSONL corpus and times ingest (parse -> validate -> dedup -> write)",
          "without and with tokenization. Spark start-up and corpus generation are not timed."})
  static final class IngestBench implements Callable<Integer> {
    @Option(names = "--pairs", description = "Pairs in the corpus (default ${DEFAULT-VALUE}).", defaultValue = "1000000")
    long pairs;

    @Option(names = "--shards", description = "JSONL files the corpus is split into (default ${DEFAULT-VALUE}).",
        defaultValue = "8")
    int shards;

    @Option(names = "--tokenizer", paramLabel = "PATH",
        description = "tokenizer.json for the tokenized run (default ${DEFAULT-VALUE}; 'none' skips it).",
        defaultValue = "../shared/fixtures/gpt2-tokenizer/tokenizer.json")
    String tokenizer;

    @Option(names = "--max-length", description = "Token budget of the tokenized run (default ${DEFAULT-VALUE}).",
        defaultValue = "512")
    int maxLength;

    @Option(names = "--work-dir", description = "Where the corpus and outputs go (default: a temp dir, deleted after).")
    File workDir;

    @Option(names = "--json-out", description = "Also write the JSON result to this file.")
    File jsonOut;

    @Mixin SparkOptions spark;

    @Override
    public Integer call() throws IOException {
      Config c = new JobConfig(spark.config).resolve();
      Path dir = workDir != null ? workDir.toPath() : Files.createTempDirectory("spark-dpo-bench-ingest");
      boolean cleanup = workDir == null;
      try {
        Path corpus = dir.resolve("corpus");
        long t0 = System.nanoTime();
        SyntheticPreferences.Summary summary = SyntheticPreferences.write(corpus, pairs, shards, 7);
        double genSeconds = (System.nanoTime() - t0) / 1e9;
        SparkSession session = spark.session(c);

        Map<String, Object> result = new LinkedHashMap<>();
        result.put("bench", "ingest");
        result.put("pairs", pairs);
        result.put("records", summary.records());
        result.put("corpus_bytes", summary.bytes());
        result.put("shards", shards);
        result.put("master", session.sparkContext().master());
        result.put("default_parallelism", session.sparkContext().defaultParallelism());
        result.put("available_processors", Runtime.getRuntime().availableProcessors());
        result.put("corpus_generation_s", genSeconds);
        result.put("without_tokenizer", measure(session, corpus, dir.resolve("out-plain"), null));
        if (!tokenizer.equals("none")) {
          TokenizerSpec spec = new TokenizerSpec(tokenizer, maxLength, maxLength / 2, Truncation.KEEP_END, true);
          result.put("with_tokenizer", measure(session, corpus, dir.resolve("out-tokenized"), spec));
        }
        String json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(result);
        System.out.println(json);
        if (jsonOut != null) Files.writeString(jsonOut.toPath(), json);
        return 0;
      } finally {
        if (cleanup) deleteRecursively(dir);
      }
    }

    private static Map<String, Object> measure(SparkSession session, Path corpus, Path out, TokenizerSpec tok) {
      IngestOptions opts = new IngestOptions(List.of(corpus.toString()), out.toString(), null, FormatOptions.DEFAULTS,
          100_000, 16 << 20, 0.0, 5, 5, 0.05, 42, tok, true);
      IngestStats stats = Ingest.run(session, opts);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("elapsed_s", stats.elapsedSeconds());
      m.put("pairs_per_s", stats.inputRecords() / stats.elapsedSeconds());
      m.put("input_records", stats.inputRecords());
      m.put("output_pairs", stats.outputPairs());
      m.put("quarantined", stats.quarantined());
      if (stats.tokenization() != null) m.put("tokenization", stats.tokenization());
      return m;
    }

    private static void deleteRecursively(Path dir) throws IOException {
      if (!Files.exists(dir)) return;
      try (var walk = Files.walk(dir)) {
        walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }
}
