package dev.sparkdpo.tests.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.jobs.SparkDpo;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.StructType;
import scala.Option;

/**
 * Runs the real CLI ({@link SparkDpo#run}) in this JVM, captures what it prints, and reads the output it wrote with
 * the session it created (then stops that session, so the next run builds its own from its own options).
 */
final class IngestRuns {
  static final ObjectMapper JSON = new ObjectMapper();

  static {
    // the project's own logging (conf/log4j2.properties: spark-dpo at INFO, Spark at WARN) instead of Spark's INFO
    // defaults, which print thousands of lines per run; -Dsparkdpo.tests.sparkInfoLogs=true keeps Spark's
    String root = System.getProperty("project.root");
    Path config = root == null ? null : Paths.get(root, "conf", "log4j2.properties");
    if (config != null && Files.isRegularFile(config) && !Boolean.getBoolean("sparkdpo.tests.sparkInfoLogs")) {
      org.apache.logging.log4j.core.config.Configurator.reconfigure(config.toUri());
    }
  }

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
    stopSpark();
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    long t0 = System.nanoTime();
    int code;
    try {
      System.setOut(new PrintStream(new Tee(oldOut, out), true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(new Tee(oldErr, err), true, StandardCharsets.UTF_8));
      code = SparkDpo.run(args);
    } finally {
      System.out.flush();
      System.err.flush();
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    String stdout = out.toString(StandardCharsets.UTF_8);
    String stderr = err.toString(StandardCharsets.UTF_8);
    try {
      Option<SparkSession> active = SparkSession.getActiveSession();
      SparkSession spark = active.isDefined() ? active.get() : null;
      String appId = spark == null ? null : spark.sparkContext().applicationId();
      if (code != 0 || output == null || !Files.exists(output.resolve("_SUCCESS")) || spark == null) {
        return new Result(args, code, stdout, stderr, seconds, output, appId, null, null, null, null, null);
      }
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
      return new Result(args, code, stdout, stderr, seconds, output, appId, stats, schema, splitDirs, pairs, quarantine);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } finally {
      stopSpark();
    }
  }

  static boolean hasParquet(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) return false;
    try (Stream<Path> s = Files.walk(dir)) {
      return s.anyMatch(p -> p.getFileName().toString().endsWith(".parquet"));
    }
  }

  /** Stops the active and the default session (the CLI leaves its session running) and forgets them. */
  static void stopSpark() {
    Option<SparkSession> active = SparkSession.getActiveSession();
    if (active.isDefined()) active.get().stop();
    Option<SparkSession> dflt = SparkSession.getDefaultSession();
    if (dflt.isDefined()) dflt.get().stop();
    SparkSession.clearActiveSession();
    SparkSession.clearDefaultSession();
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
    try (Stream<Path> s = Files.walk(dir)) {
      return s.map(p -> dir.relativize(p).toString()).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Siblings of {@code output} that look like AtomicOutput's temporary directories ({@code .<name>.tmp-*}). */
  static List<String> tempSiblings(Path output) {
    Path parent = output.getParent();
    if (!Files.isDirectory(parent)) return List.of();
    try (Stream<Path> s = Files.list(parent)) {
      return s.map(p -> p.getFileName().toString())
          .filter(n -> n.startsWith("." + output.getFileName() + ".tmp")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) return;
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** ../shared: the {@code shared.dir} system property, else {@code <project.root>/../shared}, else ../../shared. */
  static Path sharedDir() {
    String shared = System.getProperty("shared.dir");
    if (shared != null && !shared.isBlank()) return Paths.get(shared).toAbsolutePath().normalize();
    String root = System.getProperty("project.root");
    if (root != null && !root.isBlank()) return Paths.get(root, "..", "shared").toAbsolutePath().normalize();
    return Paths.get(System.getProperty("user.dir"), "..", "..", "shared").toAbsolutePath().normalize();
  }

  static Path gpt2Tokenizer() {
    return sharedDir().resolve("fixtures/gpt2-tokenizer/tokenizer.json");
  }

  static String tail(String s, int lines) {
    String[] l = s.split("\\R");
    return String.join("\n", Arrays.copyOfRange(l, Math.max(0, l.length - lines), l.length));
  }

  /** Writes to two streams. */
  private static final class Tee extends OutputStream {
    private final OutputStream a;
    private final OutputStream b;

    Tee(OutputStream a, OutputStream b) {
      this.a = a;
      this.b = b;
    }

    @Override
    public synchronized void write(int c) throws IOException {
      a.write(c);
      b.write(c);
    }

    @Override
    public synchronized void write(byte[] buf, int off, int len) throws IOException {
      a.write(buf, off, len);
      b.write(buf, off, len);
    }

    @Override
    public synchronized void flush() throws IOException {
      a.flush();
      b.flush();
    }
  }
}
