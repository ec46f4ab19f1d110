package dev.sparkdpo.tests.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.tests.fixtures.HazardCorpus;
import dev.sparkdpo.tests.fixtures.HazardCorpus.Expected;
import dev.sparkdpo.tests.ingest.IngestRuns.PairRow;
import dev.sparkdpo.tests.ingest.IngestRuns.QuarantineRow;
import dev.sparkdpo.tests.ingest.IngestRuns.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/** Assertions shared by the local and the cluster ingest tests: a run's output against {@link Expected}. */
final class IngestChecks {
  private IngestChecks() {}

  static void assertSucceeded(Result r) {
    assertEquals(0, r.exitCode(), r::describe);
    assertTrue(Files.exists(r.output().resolve("_SUCCESS")), () -> "no _SUCCESS in " + r.output() + "\n" + r.describe());
    assertNotNull(r.stats(), r::describe);
  }

  /** stats.json: the counts of {@code e}, and the stats the CLI printed on stdout are the same document. */
  static void assertStats(Expected e, Result r) {
    JsonNode s = r.stats();
    String where = "stats.json of " + r.output() + ":\n" + s.toPrettyString();
    assertEquals(e.inputFiles(), s.path("input_files").asInt(-1), where);
    assertEquals(0, s.path("skipped_files").asLong(-1), where);
    assertEquals(0, s.path("skipped_symlinks").asLong(-1), where);
    assertEquals(List.of(), strings(s.path("skipped_examples")), where);
    assertEquals(e.inputRecords(), s.path("input_records").asLong(-1), where);
    assertEquals(e.outputPairs(), s.path("output_pairs").asLong(-1), where);
    assertEquals(e.outputPairs(), s.path("train_pairs").asLong(-1) + s.path("eval_pairs").asLong(-1), where);
    assertEquals(e.quarantined(), longs(s.path("quarantined")), where);
    assertEquals(e.duplicates(), longs(s.path("duplicates_removed")), where);
    assertEquals(e.formats(), longs(s.path("formats")), where);
    assertEquals(e.repaired(), longs(s.path("repaired")), where);
    assertTrue(s.path("elapsed_s").isNumber() && s.path("elapsed_s").asDouble() > 0, where);
    // the CLI prints the same stats it wrote
    try {
      assertEquals(s, IngestRuns.JSON.readTree(r.stdout().strip()), "stdout is not stats.json:\n" + r.stdout());
    } catch (java.io.IOException ex) {
      throw new AssertionError("stdout is not JSON:\n" + r.stdout(), ex);
    }
  }

  /**
   * pairs/: partitioned by split, schema of {@link PairSchema#PAIRS} (or TOKENIZED_PAIRS), row count, unique ids that
   * are the content hash, exactly the expected pairs (file, record, format, normalized texts), the input path as source.
   */
  static void assertPairs(Expected e, Result r, Path corpus, boolean tokenized) {
    List<PairRow> rows = r.pairs();
    assertEquals(List.of("split=eval", "split=train"), r.splitDirs(), "partitions of " + r.output().resolve("pairs"));
    assertSameColumns(tokenized ? PairSchema.TOKENIZED_PAIRS : PairSchema.PAIRS, r.pairsSchema());
    assertEquals(e.outputPairs(), rows.size());
    assertEquals(r.stats().path("train_pairs").asLong(), rows.stream().filter(p -> p.split().equals("train")).count());
    assertEquals(r.stats().path("eval_pairs").asLong(), rows.stream().filter(p -> p.split().equals("eval")).count());
    assertEquals(rows.size(), rows.stream().map(PairRow::id).distinct().count(), "ids are not unique");
    for (PairRow p : rows) {
      assertEquals(HazardCorpus.pairId(p.prompt(), p.chosen(), p.rejected()), p.id(), () -> "id is not the hash of " + p);
      assertEquals(corpus.resolve(p.file()), IngestRuns.localPath(p.source()), () -> "source of " + p);
    }
    assertEquals(HazardCorpus.pairKeys(e.pairs()), rows.stream()
        .map(p -> HazardCorpus.key(p.file(), p.record(), p.format(), p.prompt(), p.chosen(), p.rejected()))
        .sorted().toList());
  }

  /** quarantine/: exactly the expected (file, record, line, reason) rows, each with a detail, its raw text, clipped. */
  static void assertQuarantine(Expected e, Result r, Path corpus) {
    List<QuarantineRow> rows = r.quarantine();
    assertEquals(HazardCorpus.keys(e.quarantine()), rows.stream()
        .map(q -> q.file() + "|" + q.record() + "|" + q.line() + "|" + q.reason()).sorted().toList());
    for (QuarantineRow q : rows) {
      assertEquals(corpus.resolve(q.file()), IngestRuns.localPath(q.source()), () -> "source of " + q);
      assertTrue(q.detail() != null && !q.detail().isBlank(), () -> "no detail: " + q);
      assertTrue(q.raw() != null && !q.raw().isBlank(), () -> "no raw text: " + q);
      assertTrue(q.raw().length() <= QuarantineReason.RAW_LIMIT + 1, () -> "raw text not clipped: " + q.raw().length());
    }
    Map<String, Long> byReason = new TreeMap<>();
    rows.forEach(q -> byReason.merge(q.reason(), 1L, Long::sum));
    assertEquals(e.quarantined(), byReason);

    // no quarantined record reached pairs/: the only record with rows in both is the ranked record that gives one
    // pair and one identical_responses row
    Set<String> pairRecords = r.pairs().stream().map(p -> p.source() + "#" + p.record()).collect(Collectors.toSet());
    Set<String> both = rows.stream().map(q -> q.source() + "#" + q.record()).filter(pairRecords::contains)
        .map(k -> IngestRuns.fileName(k.substring(0, k.indexOf('#'))) + k.substring(k.indexOf('#')))
        .collect(Collectors.toSet());
    assertEquals(Set.of(HazardCorpus.RANKED + "#4"), both);
    // neither orientation of the conflicting pair is in pairs/
    assertTrue(r.pairs().stream().noneMatch(p -> p.prompt().contains("skiing")), "a conflicting pair was kept");
  }

  /** Column names and types equal (nullability is not kept by a Parquet round trip through partition discovery). */
  static void assertSameColumns(StructType expected, StructType actual) {
    assertEquals(describe(expected), describe(actual));
  }

  private static List<String> describe(StructType t) {
    return java.util.Arrays.stream(t.fields()).map((StructField f) -> f.name() + ":" + f.dataType().simpleString())
        .toList();
  }

  /** Sorted "id split" lines: what two runs must agree on. */
  static List<String> idSplits(Result r) {
    return r.pairs().stream().map(p -> p.id() + " " + p.split()).sorted().toList();
  }

  static Set<String> ids(List<HazardCorpus.Pair> pairs) {
    Set<String> s = new HashSet<>();
    pairs.forEach(p -> s.add(p.id()));
    return s;
  }

  static Map<String, Long> longs(JsonNode obj) {
    Map<String, Long> m = new TreeMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = obj.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> f = it.next();
      assertTrue(f.getValue().isIntegralNumber(), () -> f.getKey() + " is not a count: " + f.getValue());
      m.put(f.getKey(), f.getValue().asLong());
    }
    return m;
  }

  static List<String> strings(JsonNode arr) {
    assertTrue(arr.isArray(), "not an array: " + arr);
    List<String> l = new java.util.ArrayList<>();
    arr.forEach(n -> l.add(n.asText()));
    return l;
  }

  static void assertNoOutput(Result r, Path output) {
    assertFalse(Files.exists(output), () -> "a failed run left " + output + ": " + IngestRuns.listing(output));
    assertEquals(List.of(), IngestRuns.tempSiblings(output), "a failed run left temporary output");
  }
}
