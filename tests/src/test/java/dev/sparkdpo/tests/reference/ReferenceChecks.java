package dev.sparkdpo.tests.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.reference.ReferenceStage;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.reference.ReferenceRuns.IngestOutput;
import dev.sparkdpo.tests.reference.ReferenceRuns.Pair;
import dev.sparkdpo.tests.reference.ReferenceRuns.Result;
import dev.sparkdpo.tests.reference.ReferenceRuns.Scored;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** Assertions shared by the local and the cluster reference tests. */
final class ReferenceChecks {
  private ReferenceChecks() {}

  static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");
  /** Where Spark keeps its schema (with column metadata) in a Parquet footer. */
  static final String SPARK_SCHEMA_KEY = "org.apache.spark.sql.parquet.row.metadata";

  /** {@link #assertCompleted}, and no temporary directory is left beside the output. */
  static void assertSucceeded(Result r) {
    assertCompleted(r);
    assertEquals(List.of(), CliRuns.tempSiblings(r.output()), "temporary output left beside " + r.output());
  }

  /** Exit 0, _SUCCESS, a computed (not skipped) output, and the printed summary agrees with reference.json. */
  static void assertCompleted(Result r) {
    assertEquals(0, r.run().exitCode(), r::describe);
    assertTrue(Files.exists(r.output().resolve("_SUCCESS")), () -> "no _SUCCESS in " + r.output() + "\n" + r.describe());
    assertNotNull(r.json(), r::describe);
    JsonNode printed = r.printed();
    assertFalse(printed.path("skipped").asBoolean(true), () -> "not computed: " + printed);
    for (String field : List.of("fingerprint", "pairs", "real_tokens", "model_loads")) {
      assertEquals(r.json().path(field), printed.path(field), () -> field + ": printed " + printed + " vs "
          + r.json().toPrettyString());
    }
  }

  /** A failed run: this exit code, a message matching {@code pattern} on stderr (its match returned), no output. */
  static Matcher assertFailed(Result r, int exitCode, String pattern) {
    assertEquals(exitCode, r.run().exitCode(), r::describe);
    Matcher m = Pattern.compile(pattern).matcher(r.run().stderr());
    assertTrue(m.find(), () -> "stderr does not match '" + pattern + "'\n" + r.describe());
    return m;
  }

  /** Neither the output, its _SUCCESS, nor a temporary sibling exists. */
  static void assertNoOutput(Path output) {
    assertFalse(Files.exists(output), () -> "a failed run left " + output + ": " + CliRuns.listing(output));
    assertEquals(List.of(), CliRuns.tempSiblings(output), "a failed run left temporary output");
  }

  /**
   * reference.json: one row per ingest pair, fingerprints, and token counts that add up: real tokens = prompt +
   * response of both rows of every pair (from the ingest output), padding within [0, 1), at least one batch.
   */
  static void assertReferenceJson(Result r, IngestOutput data) {
    JsonNode j = r.json();
    String where = "reference.json of " + r.output() + ":\n" + j.toPrettyString();
    for (String f : List.of("fingerprint", "model_fingerprint", "tokenizer_fingerprint", "data_fingerprint")) {
      assertTrue(HEX64.matcher(j.path(f).asText()).matches(), f + " is not 64 hex digits: " + where);
    }
    long pairs = data.pairs().size();
    assertEquals(data.stats().path("train_pairs").asLong() + data.stats().path("eval_pairs").asLong(), pairs);
    assertEquals(pairs, j.path("pairs").asLong(-1), where);
    assertEquals(pairs, r.pairs().size(), "rows in " + r.output().resolve("pairs"));
    long realTokens = data.pairs().values().stream().mapToLong(p -> p.chosenRow().length + p.rejectedRow().length).sum();
    assertEquals(realTokens, j.path("real_tokens").asLong(-1), where);
    long padded = j.path("padded_tokens").asLong(-1);
    assertTrue(padded >= realTokens, where);
    double padding = j.path("padding_fraction").asDouble(-1);
    assertTrue(padding >= 0 && padding < 1, where);
    assertEquals(1 - (double) realTokens / padded, padding, 1e-12, where);
    assertTrue(j.path("batches").asLong(-1) >= 1, where);
    assertTrue(j.path("seconds").asDouble(-1) > 0 && j.path("tokens_per_second").asDouble(-1) > 0, where);
  }

  /** Every ingest pair is in the output, once, with each of its ingest columns unchanged; both splits present. */
  static void assertKeepsIngestColumns(Result r, IngestOutput data) {
    assertEquals(List.of("split=" + PairSchema.EVAL, "split=" + PairSchema.TRAIN), r.splitDirs());
    assertEquals(data.pairs().keySet(), r.pairs().keySet(), "pair ids");
    for (Pair in : data.pairs().values()) {
      assertEquals(in.columns(), r.pairs().get(in.id()).pair().columns(), () -> "columns of pair " + in.id());
    }
    for (String split : List.of(PairSchema.TRAIN, PairSchema.EVAL)) {
      assertTrue(r.pairs().values().stream().anyMatch(s -> s.pair().split().equals(split)), "no " + split + " rows");
    }
  }

  /**
   * The schema: the ingest columns plus two double columns whose metadata (as Spark reads it, and in the footer of
   * every Parquet file) holds reference.json's fingerprint.
   */
  static void assertFingerprintInSchema(Result r) {
    String fingerprint = r.json().path("fingerprint").asText();
    assertEquals(columns(PairSchema.TOKENIZED_PAIRS), columns(r.schema()).stream()
        .filter(c -> !c.startsWith("ref_")).toList(), "ingest columns of " + r.output());
    assertFingerprint(r.schema(), fingerprint, "the schema Spark reads");
    List<Path> files = CliRuns.parquetFiles(r.output().resolve("pairs"));
    assertFalse(files.isEmpty());
    for (Path file : files) assertFingerprint(footerSchema(file), fingerprint, "the footer of " + file);
  }

  private static void assertFingerprint(StructType schema, String fingerprint, String where) {
    for (String column : List.of(ReferenceStage.REF_CHOSEN, ReferenceStage.REF_REJECTED)) {
      StructField f = schema.apply(column);
      assertEquals(DataTypes.DoubleType, f.dataType(), column + " in " + where);
      assertTrue(f.metadata().contains(ReferenceStage.FINGERPRINT_KEY), column + " has no fingerprint in " + where);
      assertEquals(fingerprint, f.metadata().getString(ReferenceStage.FINGERPRINT_KEY), column + " in " + where);
    }
  }

  /** The Spark schema stored in a Parquet file's footer. */
  static StructType footerSchema(Path file) {
    try (ParquetFileReader reader = ParquetFileReader.open(
        HadoopInputFile.fromPath(new org.apache.hadoop.fs.Path(file.toUri()), new Configuration()))) {
      String json = reader.getFooter().getFileMetaData().getKeyValueMetaData().get(SPARK_SCHEMA_KEY);
      assertNotNull(json, "no Spark schema in the footer of " + file);
      return (StructType) DataType.fromJson(json);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<String> columns(StructType t) {
    return Arrays.stream(t.fields()).map(f -> f.name() + ":" + f.dataType().simpleString()).toList();
  }

  // ------------------------------------------------------------------------------------------------ log-probs

  /** The model's own response log-probs of each pair, computed here pair by pair (a batch of just its two rows). */
  static Map<String, double[]> modelLogps(Path modelDir, Collection<Pair> pairs) {
    Gpt gpt = Gpt.from(GptCheckpoint.load(modelDir));
    Map<String, double[]> out = new LinkedHashMap<>();
    for (Pair p : pairs) {
      out.put(p.id(), gpt.responseLogProbs(new int[][] {p.chosenRow(), p.rejectedRow()},
          new int[] {p.promptLength(), p.promptLength()}));
    }
    return out;
  }

  /** {chosen, rejected} by pair id. */
  static Map<String, double[]> logps(Result r) {
    Map<String, double[]> out = new LinkedHashMap<>();
    for (Scored s : r.pairs().values()) out.put(s.pair().id(), new double[] {s.chosen(), s.rejected()});
    return out;
  }

  /**
   * The same pairs, every log-prob finite and within {@code tolerance} of the expected one (0: equal). Returns the
   * largest difference, for the test's report.
   */
  static double assertClose(String what, Map<String, double[]> expected, Map<String, double[]> actual,
      double tolerance) {
    assertEquals(expected.keySet(), actual.keySet(), what + ": pair ids");
    for (Map.Entry<String, double[]> e : actual.entrySet()) {
      assertTrue(Arrays.stream(e.getValue()).allMatch(Double::isFinite), () -> what + ": pair " + e.getKey() + " "
          + Arrays.toString(e.getValue()));
    }
    double worst = maxDifference(expected, actual);
    for (Map.Entry<String, double[]> e : expected.entrySet()) {
      double[] a = actual.get(e.getKey());
      for (int k = 0; k < 2; k++) {
        double d = Math.abs(a[k] - e.getValue()[k]);
        if (d > tolerance) {
          throw new AssertionError(what + ": pair " + e.getKey() + " " + (k == 0 ? "chosen" : "rejected")
              + ": expected " + e.getValue()[k] + ", got " + a[k] + " (difference " + d + " > " + tolerance
              + "; largest over all pairs " + worst + ")");
        }
      }
    }
    return worst;
  }

  /** The largest |a - b| over all pairs (the same ids). */
  static double maxDifference(Map<String, double[]> a, Map<String, double[]> b) {
    assertEquals(a.keySet(), b.keySet());
    return a.keySet().stream().flatMapToDouble(id -> Stream.of(0, 1)
        .mapToDouble(k -> Math.abs(a.get(id)[k] - b.get(id)[k]))).max().orElse(0);
  }
}
