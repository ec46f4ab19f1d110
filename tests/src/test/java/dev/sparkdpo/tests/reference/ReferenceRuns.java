package dev.sparkdpo.tests.reference;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.reference.ReferenceStage;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.cli.CliRuns.Run;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Runs {@code spark-dpo ingest} and {@code spark-dpo reference} in this JVM ({@link CliRuns}) and reads what they
 * wrote, with the run's own session, into plain records.
 */
final class ReferenceRuns {
  private ReferenceRuns() {}

  /** One pair of a tokenized ingest output: every {@link PairSchema#TOKENIZED_PAIRS} column (arrays as lists). */
  record Pair(Map<String, Object> columns) {
    String id() {
      return (String) columns.get(PairSchema.ID);
    }

    String split() {
      return (String) columns.get(PairSchema.SPLIT);
    }

    int[] ids(String column) {
      return ((List<?>) columns.get(column)).stream().mapToInt(i -> (Integer) i).toArray();
    }

    int promptLength() {
      return ids(PairSchema.PROMPT_IDS).length;
    }

    /** The model's input for the chosen response: prompt ids, then chosen ids. */
    int[] chosenRow() {
      return concat(ids(PairSchema.PROMPT_IDS), ids(PairSchema.CHOSEN_IDS));
    }

    int[] rejectedRow() {
      return concat(ids(PairSchema.PROMPT_IDS), ids(PairSchema.REJECTED_IDS));
    }

    /** Tokens of the pair's longer row. */
    int longest() {
      return Math.max(chosenRow().length, rejectedRow().length);
    }

    private static int[] concat(int[] a, int[] b) {
      int[] out = java.util.Arrays.copyOf(a, a.length + b.length);
      System.arraycopy(b, 0, out, a.length, b.length);
      return out;
    }
  }

  /** A pair of a reference output with its two log-probs. */
  record Scored(Pair pair, double chosen, double rejected) {}

  /** A tokenized ingest output: its directory, stats.json and pairs by id. */
  record IngestOutput(Path dir, JsonNode stats, Map<String, Pair> pairs) {}

  /** What a reference run returned, printed and wrote; the output fields are null unless it exited 0 with _SUCCESS. */
  record Result(Run run, Path output, JsonNode json, StructType schema, List<String> splitDirs,
      Map<String, Scored> pairs) {

    /** The one-line JSON summary the command printed. */
    JsonNode printed() {
      return run.printedJson();
    }

    String describe() {
      return run.describe();
    }

    long count(String field) {
      return json.path(field).asLong(-1);
    }
  }

  /** {@code reference} on {@code master} without a UI, plus {@code extra}. */
  static List<String> referenceArgs(String master, Path data, Path model, Path output, String... extra) {
    List<String> a = new ArrayList<>(List.of("reference", "--master", master, "--data", data.toString(), "--model",
        model.toString(), "--output", output.toString(), "--conf", "spark.ui.enabled=false"));
    a.addAll(List.of(extra));
    return a;
  }

  /** {@code args} followed by {@code extra}. */
  static List<String> with(List<String> args, String... extra) {
    List<String> a = new ArrayList<>(args);
    a.addAll(List.of(extra));
    return a;
  }

  /** Runs {@code spark-dpo ingest args...} (which must succeed) and reads its pairs. */
  static IngestOutput ingest(Path output, List<String> args) {
    return CliRuns.run(args.toArray(String[]::new), (run, spark) -> {
      if (run.exitCode() != 0 || !Files.exists(output.resolve("_SUCCESS"))) {
        throw new AssertionError("ingest failed:\n" + run.describe());
      }
      try {
        JsonNode stats = CliRuns.JSON.readTree(output.resolve("stats.json").toFile());
        return new IngestOutput(output, stats, readPairs(spark, output.resolve("pairs")));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  /** Runs {@code spark-dpo reference args...} and reads its output when it completed. */
  static Result reference(Path output, List<String> args) {
    return reference(output, null, args);
  }

  /** As {@link #reference(Path, List)}; {@code inSession} runs after a completed run, before its session stops. */
  static Result reference(Path output, Consumer<SparkSession> inSession, List<String> args) {
    return CliRuns.run(args.toArray(String[]::new), (run, spark) -> {
      if (run.exitCode() != 0 || !Files.exists(output.resolve("_SUCCESS")) || spark == null) {
        return new Result(run, output, null, null, null, null);
      }
      try {
        JsonNode json = CliRuns.JSON.readTree(output.resolve(ReferenceStage.REFERENCE_JSON).toFile());
        var df = spark.read().parquet(output.resolve("pairs").toString());
        Map<String, Scored> pairs = new LinkedHashMap<>();
        for (Row r : df.collectAsList()) {
          Scored s = new Scored(pair(r), r.getAs(ReferenceStage.REF_CHOSEN), r.getAs(ReferenceStage.REF_REJECTED));
          if (pairs.put(s.pair().id(), s) != null) throw new AssertionError("pair " + s.pair().id() + " twice");
        }
        if (inSession != null) inSession.accept(spark);
        return new Result(run, output, json, df.schema(), splitDirs(output.resolve("pairs")), pairs);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    });
  }

  static Map<String, Pair> readPairs(SparkSession spark, Path pairsDir) {
    Map<String, Pair> pairs = new LinkedHashMap<>();
    for (Row r : spark.read().parquet(pairsDir.toString()).collectAsList()) {
      Pair p = pair(r);
      if (pairs.put(p.id(), p) != null) throw new AssertionError("pair " + p.id() + " twice in " + pairsDir);
    }
    return pairs;
  }

  /** The ingest columns of a row (a reference output row has two more, which are left out). */
  private static Pair pair(Row r) {
    Map<String, Object> columns = new LinkedHashMap<>();
    for (StructField f : PairSchema.TOKENIZED_PAIRS.fields()) {
      int i = r.fieldIndex(f.name());
      columns.put(f.name(), f.dataType() instanceof ArrayType ? new ArrayList<>(r.getList(i)) : r.get(i));
    }
    return new Pair(columns);
  }

  static List<String> splitDirs(Path pairsDir) {
    try (Stream<Path> s = Files.list(pairsDir)) {
      return s.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
