package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.data.NearDuplicates;
import dev.sparkdpo.jobs.SyntheticPreferences.Planted;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The bench corpus: planted near-duplicates at known true Jaccard, fresh pairs far from each other. */
class SyntheticPreferencesTest {
  @TempDir static Path dir;
  private static List<Planted> truth;
  private static Map<String, String[]> lines;   // "file:record" → (prompt, chosen, rejected)
  private static SyntheticPreferences.Summary summary;

  @BeforeAll
  static void generate() throws Exception {
    summary = SyntheticPreferences.write(dir.resolve("corpus"), 6_000, 3, 7, 0.05, dir.resolve("planted.tsv"));
    try (var l = Files.lines(dir.resolve("planted.tsv"))) {
      truth = l.map(Planted::parse).toList();
    }
    lines = new HashMap<>();
    ObjectMapper json = new ObjectMapper();
    try (var files = Files.list(dir.resolve("corpus"))) {
      for (Path f : files.toList()) {
        List<String> all = Files.readAllLines(f);
        for (int i = 0; i < all.size(); i++) {
          if (!all.get(i).endsWith("}")) continue;   // a malformed line
          JsonNode n = json.readTree(all.get(i));
          lines.put(f.getFileName() + ":" + (i + 1), new String[] {n.get("prompt").asText(), n.get("chosen").asText(),
              n.get("rejected").asText()});
        }
      }
    }
  }

  private static String[] pair(String file, long record) {
    return lines.get(file + ":" + record);
  }

  @Test
  void plantsTheFractionAtASpreadOfTrueJaccardAndListsThemOutsideTheCorpus() {
    assertEquals(summary.planted(), truth.size());
    assertTrue(truth.size() > 220 && truth.size() < 380, "about 5% of 6,000: " + truth.size());
    assertFalse(Files.exists(dir.resolve("corpus").resolve("planted.tsv")), "the ground truth is not ingest input");
    long high = truth.stream().filter(p -> p.jaccard() >= 0.95).count();
    long low = truth.stream().filter(p -> p.jaccard() < 0.85).count();
    assertTrue(high > 30 && low > 30, "both classes must be there: " + high + " >= 0.95, " + low + " < 0.85");
    Set<String> originals = new HashSet<>();
    for (Planted p : truth) {
      String[] copy = pair(p.file(), p.record());
      String[] original = pair(p.originalFile(), p.originalRecord());
      assertNotNull(copy, p.tsv());
      assertNotNull(original, p.tsv());
      assertFalse(java.util.Arrays.equals(copy, original), "a plant is never an exact duplicate: " + p.tsv());
      assertEquals(SyntheticPreferences.jaccard(original, copy), p.jaccard(), 1e-6, p.tsv());
      assertTrue(p.jaccard() > 0.6 && p.jaccard() < 1, p.tsv());
      assertTrue(originals.add(p.originalFile() + ":" + p.originalRecord()), "each original is copied once");
    }
    assertTrue(truth.stream().anyMatch(p -> !p.file().equals(p.originalFile())), "some plants cross shards");
  }

  /** Templates are shared, but two distinct fresh pairs are never near each other. */
  @Test
  void freshPairsAreFarApartDespiteSharedTemplates() {
    Set<String> planted = new HashSet<>();
    for (Planted p : truth) planted.add(p.file() + ":" + p.record());
    List<String[]> fresh = new ArrayList<>();
    for (Map.Entry<String, String[]> e : new java.util.TreeMap<>(lines).entrySet()) {
      if (!planted.contains(e.getKey()) && fresh.size() < 400) fresh.add(e.getValue());
    }
    double max = 0;
    for (int i = 0; i < fresh.size(); i++) {
      for (int j = i + 1; j < fresh.size(); j++) {
        // an exact duplicate (1%) or a swapped copy (0.1%): the hazards exact dedup handles
        if (fresh.get(i)[0].equals(fresh.get(j)[0])) continue;
        double s = SyntheticPreferences.jaccard(fresh.get(i), fresh.get(j));
        max = Math.max(max, s);
      }
    }
    assertTrue(max < 0.5, "most similar distinct fresh pairs: " + max);
  }

  /** The ground truth's Jaccard is the one NearDuplicates verifies candidates with (same text, normalization, shingles). */
  @Test
  void groundTruthJaccardIsNearDuplicatesOwn() {
    SparkSession spark = SparkSession.builder().master("local[1]").appName("synthetic-preferences-test")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate();
    try {
      StructType schema = new StructType().add("id", DataTypes.StringType).add("prompt", DataTypes.StringType)
          .add("chosen", DataTypes.StringType).add("rejected", DataTypes.StringType);
      List<Row> rows = new ArrayList<>();
      Map<String, Double> expected = new HashMap<>();
      for (int i = 0; i < 30; i++) {
        Planted p = truth.get(i);
        String[] o = pair(p.originalFile(), p.originalRecord());
        String[] c = pair(p.file(), p.record());
        rows.add(RowFactory.create(String.format("p%02d-a", i), o[0], o[1], o[2]));
        rows.add(RowFactory.create(String.format("p%02d-b", i), c[0], c[1], c[2]));
        expected.put(String.format("p%02d-b", i), p.jaccard());
      }
      List<Row> found = NearDuplicates.find(spark.createDataFrame(rows, schema), 0.5, 5, 42).collectAsList();
      assertTrue(found.size() >= 28, "at threshold 0.5 nearly every plant is found: " + found.size());
      for (Row r : found) {
        assertEquals(r.getString(0).replace("-b", "-a"), r.getString(1));
        assertEquals(expected.get(r.getString(0)), r.getDouble(2), 1e-6, r.getString(0));
      }
    } finally {
      spark.stop();
    }
  }
}
