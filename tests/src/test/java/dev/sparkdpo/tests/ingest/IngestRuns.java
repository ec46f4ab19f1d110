package dev.sparkdpo.tests.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.tests.cli.CliRuns;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;

/**
 * Runs the real ingest CLI in this JVM ({@link CliRuns}) and reads the output it wrote with the session it created
 * (then stops that session, so the next run builds its own from its own options).
 */
final class IngestRuns {
  static final ObjectMapper JSON = CliRuns.JSON;

  private IngestRuns() {}

  /** One row of {@code pairs/}; the token fields are null without --tokenizer. */
  record PairRow(String id, String prompt, String chosen, String rejected, String format, String source, long record,
      String split, int[] promptIds, int[] chosenIds, int[] rejectedIds, Integer promptLen, Integer chosenLen,
      Integer rejectedLen, Boolean promptTruncated, Boolean responseTruncated) {

    /** The file name of {@link #source}. */
    String file() {
      return fileName(source);
    }
  }

  /** One row of {@code quarantine/}. */
  record QuarantineRow(String source, Long record, Long line, String reason, String detail, String raw) {
    String file() {
      return fileName(source);
    }
  }

  /** What a run returned, printed and wrote. Output fields are null when the run failed or wrote nothing. */
  record Result(String[] args, int exitCode, String stdout, String stderr, double seconds, Path output, String appId,
      JsonNode stats, StructType pairsSchema, List<String> splitDirs, List<PairRow> pairs,
      List<QuarantineRow> quarantine) {

    String describe() {
      return "spark-dpo " + String.join(" ", args) + " -> exit " + exitCode + "\n--- stderr (tail):\n"
          + tail(stderr, 60);
    }
  }

  static String fileName(String source) {
    return new org.apache.hadoop.fs.Path(source).getName();
  }

  /** The local path of a Hadoop path string ({@code file:/x/y} → {@code /x/y}). */
  static Path localPath(String source) {
    return Paths.get(new org.apache.hadoop.fs.Path(source).toUri().getPath());
  }

  /**
   * Runs {@code spark-dpo args...}. When it exits 0 and {@code output} has {@code _SUCCESS}, reads stats.json,
   * pairs/ and quarantine/ (with the run's own session). Always stops every Spark session afterwards.
   */
  static Result run(Path output, String... args) {
    return run(output, null, args);
  }

  /** As {@link #run(Path, String...)}; {@code inSession} runs after a successful run, before its session stops. */
  static Result run(Path output, java.util.function.Consumer<SparkSession> inSession, String... args) {
    return CliRuns.run(args, (run, spark) -> {
      if (run.exitCode() != 0 || output == null || !Files.exists(output.resolve("_SUCCESS")) || spark == null) {
        return result(run, output, null, null, null, null, null);
      }
      try {
        JsonNode stats = JSON.readTree(output.resolve("stats.json").toFile());
        // a directory without any Parquet file (no rows written) cannot be read without a schema: no rows, no schema
        StructType schema = null;
        List<PairRow> pairs = List.of();
        if (hasParquet(output.resolve("pairs"))) {
          org.apache.spark.sql.Dataset<Row> pairsDf = spark.read().parquet(output.resolve("pairs").toString());
          schema = pairsDf.schema();
          pairs = pairsDf.collectAsList().stream().map(IngestRuns::pairRow).toList();
        }
        List<QuarantineRow> quarantine = !hasParquet(output.resolve("quarantine")) ? List.of()
            : spark.read().parquet(output.resolve("quarantine").toString())
                .collectAsList().stream().map(IngestRuns::quarantineRow).toList();
        List<String> splitDirs;
        try (Stream<Path> s = Files.list(output.resolve("pairs"))) {
          splitDirs = s.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList();
        }
        if (inSession != null) inSession.accept(spark);
        return result(run, output, stats, schema, splitDirs, pairs, quarantine);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  private static Result result(CliRuns.Run run, Path output, JsonNode stats, StructType schema, List<String> splitDirs,
      List<PairRow> pairs, List<QuarantineRow> quarantine) {
    return new Result(run.args(), run.exitCode(), run.stdout(), run.stderr(), run.seconds(), output, run.appId(), stats,
        schema, splitDirs, pairs, quarantine);
  }

  static boolean hasParquet(Path dir) throws IOException {
    return CliRuns.hasParquet(dir);
  }

  /** Stops the active and the default session (the CLI leaves its session running) and forgets them. */
  static void stopSpark() {
    CliRuns.stopSpark();
  }

  private static PairRow pairRow(Row r) {
    boolean tok = Arrays.asList(r.schema().fieldNames()).contains("prompt_ids");
    return new PairRow(r.getAs("id"), r.getAs("prompt"), r.getAs("chosen"), r.getAs("rejected"), r.getAs("format"),
        r.getAs("source"), r.<Long>getAs("record"), r.getAs("split"),
        tok ? ints(r, "prompt_ids") : null, tok ? ints(r, "chosen_ids") : null, tok ? ints(r, "rejected_ids") : null,
        tok ? r.<Integer>getAs("prompt_len") : null, tok ? r.<Integer>getAs("chosen_len") : null,
        tok ? r.<Integer>getAs("rejected_len") : null, tok ? r.<Boolean>getAs("prompt_truncated") : null,
        tok ? r.<Boolean>getAs("response_truncated") : null);
  }

  private static int[] ints(Row r, String field) {
    List<Integer> l = r.getList(r.fieldIndex(field));
    return l.stream().mapToInt(Integer::intValue).toArray();
  }

  private static QuarantineRow quarantineRow(Row r) {
    return new QuarantineRow(r.getAs("source"), r.getAs("record"), r.getAs("line"), r.getAs("reason"),
        r.getAs("detail"), r.getAs("raw"));
  }

  /** Files and directories under {@code dir}, relative, sorted (for "left intact" checks). */
  static List<String> listing(Path dir) {
    return CliRuns.listing(dir);
  }

  /** Siblings of {@code output} that look like StageOutput's temporary directories ({@code .<name>.tmp-*}). */
  static List<String> tempSiblings(Path output) {
    return CliRuns.tempSiblings(output);
  }

  static void deleteRecursively(Path dir) {
    CliRuns.deleteRecursively(dir);
  }

  /** The test fixtures: {@link CliRuns#testData()}. */
  static Path testData() {
    return CliRuns.testData();
  }

  static Path gpt2Tokenizer() {
    return CliRuns.gpt2Tokenizer();
  }

  static String tail(String s, int lines) {
    return CliRuns.tail(s, lines);
  }
}
