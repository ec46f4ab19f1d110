package dev.sparkdpo.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Collectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Banded MinHash LSH near-duplicates on real Spark (local[2]). */
class NearDuplicatesTest {
  private static final StructType SCHEMA = new StructType().add("id", DataTypes.StringType)
      .add("prompt", DataTypes.StringType).add("chosen", DataTypes.StringType).add("rejected", DataTypes.StringType);
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("near-dup-test")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static Map<String, String> losers(Dataset<Row> result) {
    return result.collectAsList().stream().collect(Collectors.toMap(r -> r.getString(0), r -> r.getString(1)));
  }

  @Test
  void clustersNearIdenticalPairsAndKeepsTheSmallestId() {
    String base = "The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden fence.";
    List<Row> rows = List.of(
        RowFactory.create("b1", "Tell a story.", base, "No."),
        RowFactory.create("a1", "Tell a story.", base.replace("lazy", "lazzy"), "No."),
        RowFactory.create("c1", "Tell a story.", base.replace("old", "olde"), "No."),
        RowFactory.create("d1", "What is 2+2?", "Four, because two plus two is four.", "Five."),
        RowFactory.create("e1", "Name a colour.", "Blue is a colour that many people like.", "Seven."));
    List<Row> result = NearDuplicates.find(spark.createDataFrame(rows, SCHEMA), 0.8, 5, 42).collectAsList();
    assertEquals(Map.of("b1", "a1", "c1", "a1"), result.stream()
        .collect(Collectors.toMap(r -> r.getString(0), r -> r.getString(1))));
    for (Row r : result) {
      double s = r.getDouble(2);
      assertTrue(s >= 0.8 && s < 1, () -> "similarity to the kept pair should be the exact Jaccard, got " + s);
    }
  }

  @Test
  void aHighThresholdKeepsPairsThatMerelyLookAlike() {
    List<Row> rows = List.of(
        RowFactory.create("x", "Q", "one two three four five six seven", "no"),
        RowFactory.create("y", "Q", "one two three four five six eight nine ten", "no"));
    assertEquals(0, NearDuplicates.find(spark.createDataFrame(rows, SCHEMA), 0.95, 5, 42).count());
  }

  @Test
  void shinglesAreCaseAndWhitespaceInsensitive() {
    assertArrayEquals(NearDuplicates.shingles(NearDuplicates.normalize("Hello   World"), 5),
        NearDuplicates.shingles(NearDuplicates.normalize("hello world"), 5));
    assertEquals(1, NearDuplicates.shingles("ab", 5).length, "short texts still have one shingle");
  }

  /** The verification's Jaccard by hash sets is the exact one of the sorted sets, repeats and collisions included. */
  @Test
  void theHashedJaccardIsTheSortedOne() {
    Random random = new Random(5);
    for (int trial = 0; trial < 300; trial++) {
      String a = NearDuplicates.normalize(words(random, random.nextInt(60)));
      String b = trial % 3 == 0 ? a + words(random, 3) : NearDuplicates.normalize(words(random, random.nextInt(60)));
      assertEquals(NearDuplicates.jaccard(NearDuplicates.sortedShingles(a, 5), NearDuplicates.sortedShingles(b, 5)),
          NearDuplicates.shingleJaccard(a, b, 5), a + " | " + b);
    }
    int[] colliding = {0, -1, 1 << 16, 2 << 16, 3 << 16, -1, 0};   // colliding slots, and -1 as a value
    assertEquals(NearDuplicates.jaccard(new int[] {-1, 0, 1 << 16}, new int[] {0, 2 << 16, 3 << 16}),
        NearDuplicates.hashedJaccard(new int[] {-1, 0, 1 << 16, 0}, new int[] {0, 2 << 16, 3 << 16}));
    assertEquals(1.0, NearDuplicates.hashedJaccard(colliding, colliding));
  }

  /** The one-pass ASCII path gives the same text and signature as the string path, whatever the characters. */
  @Test
  void theFastSignatureIsTheSignatureOfTheNormalizedText() {
    Random random = new Random(4);
    String alphabet = "aZ \t\n\r\u000B\f\u001C\u0001é İ.xY";
    long[] family = NearDuplicates.hashFamily(42);
    for (int trial = 0; trial < 500; trial++) {
      String[] f = new String[3];
      boolean ascii = trial % 2 == 0;
      for (int i = 0; i < 3; i++) {
        StringBuilder sb = new StringBuilder();
        for (int c = random.nextInt(40); c > 0; c--) {
          char ch = alphabet.charAt(random.nextInt(alphabet.length()));
          sb.append(ascii && ch >= 0x80 ? 'q' : ch);
        }
        f[i] = trial % 7 == 0 && i == 0 ? null : sb.toString();
      }
      String text = NearDuplicates.text(f[0], f[1], f[2]);
      assertEquals(text, new String(NearDuplicates.textChars(f[0], f[1], f[2])), Arrays.toString(f));
      assertArrayEquals(NearDuplicates.signatureOfText(text.toCharArray(), 5, family, 56),
          NearDuplicates.signature(f[0], f[1], f[2], 5, family, 56), Arrays.toString(f));
    }
    assertEquals("\u0001x\u0001y", NearDuplicates.text("", "x", "y"), "an empty field keeps its separator");
  }

  @Test
  void theBandChoiceForTheDefaultThresholdMeetsItsBounds() {
    NearDuplicates.Bands b = NearDuplicates.Bands.forThreshold(0.9);
    assertEquals(new NearDuplicates.Bands(14, 12), b);
    assertTrue(b.candidateProbability(0.9) >= 0.99);
    assertTrue(b.midpoint() <= 0.85);
    assertTrue(b.candidateProbability(0.45) <= NearDuplicates.BACKGROUND);
    // background pairs (Jaccard ~0.2 in the bench corpus) must stay rare: 1M pairs are 5e11 background pairs
    assertTrue(b.candidateProbability(0.2) < 1e-7, "P(candidate | 0.2) = " + b.candidateProbability(0.2));
    for (double t : new double[] {0.5, 0.7, 0.8, 0.85, 0.95, 0.99, 1.0}) {
      NearDuplicates.Bands c = NearDuplicates.Bands.forThreshold(t);
      assertTrue(c.hashes() <= NearDuplicates.MAX_HASHES, () -> t + ": " + c);
      if (t >= 0.8) {
        assertTrue(c.candidateProbability(t) >= 0.99 && c.midpoint() <= t - 0.05, () -> t + ": " + c);
      }
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> NearDuplicates.Bands.forThreshold(0));
    assertTrue(e.getMessage().contains("--near-dup-threshold"));
    assertThrows(IllegalArgumentException.class, () -> new NearDuplicates.Bands(0, 3));
  }

  /**
   * Min-hash collisions match the Jaccard: each row agrees with probability s, a band with s^r; for the old shape
   * (8 x 7) and the default (14 x 12, more bins than the 200-element sets fill: densification at work).
   */
  @Test
  void bandCollisionsFollowTheSCurveOnSyntheticSets() {
    for (NearDuplicates.Bands shape : List.of(new NearDuplicates.Bands(8, 7),
        NearDuplicates.Bands.forThreshold(0.9))) {
      bandCollisionsFollowTheSCurve(shape);
    }
  }

  private static void bandCollisionsFollowTheSCurve(NearDuplicates.Bands shape) {
    int trials = 400;
    Random random = new Random(7);
    for (double s : new double[] {0.7, 0.8, 0.85, 0.9}) {
      // two sets of 200 elements sharing m, so Jaccard = m / (400 − m) = s
      int m = (int) Math.round(400 * s / (1 + s));
      double exact = (double) m / (400 - m);
      int collided = 0;
      for (int trial = 0; trial < trials; trial++) {
        long[] family = NearDuplicates.hashFamily(trial);
        // shingles reach the signature as 32-bit hashes, i.e. scattered values: draw them so
        int[] a = new int[200];
        int[] b = new int[200];
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int i = 0; i < 200; i++) {
          int x;
          do x = random.nextInt(); while (!seen.add(x));
          a[i] = x;
          if (i >= m) {
            do x = random.nextInt(); while (!seen.add(x));
          }
          b[i] = x;
        }
        Arrays.sort(a);
        Arrays.sort(b);
        long[] ha = NearDuplicates.bandHashes(NearDuplicates.signature(a, family, shape.hashes()), shape);
        long[] hb = NearDuplicates.bandHashes(NearDuplicates.signature(b, family, shape.hashes()), shape);
        for (int band = 0; band < shape.bands(); band++) {
          if (ha[band] == hb[band]) {
            collided++;
            break;
          }
        }
      }
      double expected = shape.candidateProbability(exact);
      double sigma = Math.sqrt(expected * (1 - expected) / trials);
      double observed = (double) collided / trials;
      assertEquals(expected, observed, 4 * sigma + 0.01, shape + ": P(candidate | s = " + exact + ")");
    }
  }

  /** 1,000 pairs sharing a long template share most bands; all-to-all that would be ~500k candidates per band. */
  @Test
  void aTemplateBucketIsPairedStarWiseNotAllToAll() {
    String template = words(new Random(3), 80);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < 1_000; i++) {
      rows.add(RowFactory.create(String.format("t%04d", i), template, "answer " + i, "no"));
    }
    Dataset<Row> pairs = spark.createDataFrame(rows, SCHEMA);
    NearDuplicates.Bands shape = new NearDuplicates.Bands(4, 3);
    Dataset<Row> keys = NearDuplicates.bandKeys(pairs, 5, 42, shape);
    long biggest = keys.groupBy("key").count().agg(org.apache.spark.sql.functions.max("count")).first().getLong(0);
    assertTrue(biggest > 200, "the template should make a bucket over the cap, biggest " + biggest);
    org.apache.spark.util.LongAccumulator capped = spark.sparkContext().longAccumulator();
    long candidates = NearDuplicates.candidates(keys, 200, capped).count();
    assertTrue(capped.value() >= 1, "capped buckets are counted: " + capped.value());
    assertTrue(candidates <= 4 * 999 + 4 * 200 * 199 / 2, "candidates " + candidates);
    assertTrue(candidates >= 999, "every member still meets the bucket's smallest id: " + candidates);
    // all are near-duplicates (Jaccard > 0.9): the star pairing still links each member to t0000's component
    Map<String, String> losers = losers(NearDuplicates.find(pairs, 0.9, 5, 42, shape, 200, Long.MAX_VALUE,
        NearDuplicates.LOCAL_EDGES));
    assertTrue(losers.size() >= 990, "losers " + losers.size());
    assertTrue(losers.values().stream().allMatch("t0000"::equals));
  }

  private static String words(Random random, int n) {
    String[] words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau"
        .split(" ");
    StringBuilder text = new StringBuilder();
    for (int w = 0; w < n; w++) text.append(words[random.nextInt(words.length)]).append(random.nextInt(100)).append(' ');
    return text.toString();
  }

  private static double exactJaccard(String x, String y) {
    return NearDuplicates.jaccard(NearDuplicates.shingles(NearDuplicates.normalize("Q\u0001" + x + "\u0001no"), 5),
        NearDuplicates.shingles(NearDuplicates.normalize("Q\u0001" + y + "\u0001no"), 5));
  }

  @Test
  void aChainAcrossPartitionsIsOneComponentKeyedOnTheSmallestId() {
    List<Row> edges = new ArrayList<>();
    // chain n00 - n01 - ... - n19 plus a separate pair x - y, spread over 4 partitions in shuffled order
    for (int i = 0; i < 19; i++) edges.add(RowFactory.create(String.format("n%02d", (i * 7) % 19 + 1),
        String.format("n%02d", (i * 7) % 19)));
    edges.add(RowFactory.create("y", "x"));
    StructType schema = new StructType().add("a", DataTypes.StringType).add("b", DataTypes.StringType);
    Dataset<Row> df = spark.createDataFrame(edges, schema).repartition(4);
    Map<String, String> labels = NearDuplicates.components(df).collectAsList().stream()
        .collect(Collectors.toMap(r -> r.getString(0), r -> r.getString(1)));
    assertEquals(22, labels.size());
    for (int i = 0; i < 20; i++) assertEquals("n00", labels.get(String.format("n%02d", i)));
    assertEquals("x", labels.get("x"));
    assertEquals("x", labels.get("y"));
  }

  @Test
  void plantedNearDuplicatesGoFarVariantsStayAndRunsAreDeterministic() {
    Random random = new Random(11);
    List<Row> rows = new ArrayList<>();
    List<String> near = new ArrayList<>();
    List<String> far = new ArrayList<>();
    for (int d = 0; d < 40; d++) {
      String original = words(random, 120);
      int cut = original.indexOf(' ', original.length() * 85 / 100);
      String nearText = original + "ok";                                // one edit at the end
      String farText = original.substring(0, cut) + " " + words(random, 18);   // the last sixth rewritten
      double nearJ = exactJaccard(original, nearText);
      double farJ = exactJaccard(original, farText);
      assertTrue(nearJ >= 0.95, "planted near-duplicate at " + nearJ);
      assertTrue(farJ < 0.85 && farJ > 0.6, "planted far variant at " + farJ);
      rows.add(RowFactory.create(String.format("d%02d-0", d), "Q", original, "no"));
      rows.add(RowFactory.create(String.format("d%02d-1", d), "Q", nearText, "no"));
      rows.add(RowFactory.create(String.format("d%02d-2", d), "Q", farText, "no"));
      near.add(String.format("d%02d-1", d));
      far.add(String.format("d%02d-2", d));
    }
    Dataset<Row> pairs = spark.createDataFrame(rows, SCHEMA).repartition(3);
    List<Row> first = NearDuplicates.find(pairs, 0.9, 5, 42).orderBy("id").collectAsList();
    List<Row> second = NearDuplicates.find(pairs, 0.9, 5, 42).orderBy("id").collectAsList();
    assertEquals(first, second);
    Map<String, String> losers = first.stream().collect(Collectors.toMap(r -> r.getString(0), r -> r.getString(1)));
    for (String id : near) assertEquals(id.replace("-1", "-0"), losers.get(id), id);
    for (String id : far) assertFalse(losers.containsKey(id), id);
    assertEquals(near.size(), losers.size());
  }

  /**
   * Verification through the broadcast candidate index and by joins, components by union-find in one task and by
   * distributed label propagation: the same losers.
   */
  @Test
  void oneTaskAndDistributedPathsAgree() {
    List<Row> rows = plantedRows(new Random(7), 20);
    // a chain: c0 - c1 - c2, each step one word more, so c2 is linked to c0 only through c1 (scored again)
    String c0 = words(new Random(8), 200);
    String c1 = c0 + " " + words(new Random(12), 12);
    String c2 = c1 + " " + words(new Random(13), 12);
    assertTrue(exactJaccard(c0, c1) >= 0.9 && exactJaccard(c1, c2) >= 0.9 && exactJaccard(c0, c2) < 0.9,
        exactJaccard(c0, c1) + " " + exactJaccard(c1, c2) + " " + exactJaccard(c0, c2));
    rows.add(RowFactory.create("c0", "Q", c0, "no"));
    rows.add(RowFactory.create("c1", "Q", c1, "no"));
    rows.add(RowFactory.create("c2", "Q", c2, "no"));
    Dataset<Row> pairs = spark.createDataFrame(rows, SCHEMA).repartition(3);
    NearDuplicates.Bands shape = NearDuplicates.Bands.forThreshold(0.9);
    List<Row> oneTask = NearDuplicates.find(pairs, 0.9, 5, 42, shape, 200, Long.MAX_VALUE, Long.MAX_VALUE)
        .orderBy("id").collectAsList();
    List<Row> distributed = NearDuplicates.find(pairs, 0.9, 5, 42, shape, 200, 0, 0).orderBy("id").collectAsList();
    assertEquals(distributed, oneTask);
    assertTrue(oneTask.size() >= 20, oneTask.toString());
  }

  /** The result depends neither on how the input is partitioned nor on the shuffle width (cores): set operations. */
  @Test
  void theSameResultWhateverThePartitioning() {
    Dataset<Row> pairs = spark.createDataFrame(plantedRows(new Random(5), 25), SCHEMA);
    String configured = spark.conf().get("spark.sql.shuffle.partitions");
    try {
      spark.conf().set("spark.sql.shuffle.partitions", "1");
      List<Row> one = NearDuplicates.find(pairs.coalesce(1), 0.9, 5, 42).orderBy("id").collectAsList();
      spark.conf().set("spark.sql.shuffle.partitions", "7");
      List<Row> seven = NearDuplicates.find(pairs.repartition(5), 0.9, 5, 42).orderBy("id").collectAsList();
      assertEquals(25, one.size());
      assertEquals(one, seven);
    } finally {
      spark.conf().set("spark.sql.shuffle.partitions", configured);
    }
  }

  /**
   * The re-read by position (Ingest's): only the candidates' positions are asked for, sorted and distinct, and the
   * losers are those of a full re-read. Two rows share each position (a ranked record gives several pairs).
   */
  @Test
  void theRereadByPositionAsksOnlyForCandidatesAndFindsTheSameLosers() {
    Random random = new Random(21);
    List<Row> rows = plantedRows(random, 20);
    for (int i = 0; i < 30; i++) rows.add(RowFactory.create(String.format("u%02d", i), "Q", words(random, 120), "no"));
    List<Row> positioned = new ArrayList<>();
    for (int i = 0; i < rows.size(); i++) {
      Row r = rows.get(i);
      positioned.add(RowFactory.create(r.get(0), r.get(1), r.get(2), r.get(3), 1000L + i / 2));
    }
    Dataset<Row> pairs = spark.createDataFrame(positioned, SCHEMA.add(NearDuplicates.POSITION, DataTypes.LongType))
        .repartition(3);
    List<long[]> asked = new ArrayList<>();
    NearDuplicates.Reread reread = positions -> {
      asked.add(positions);
      List<Long> at = Arrays.stream(positions).boxed().toList();
      return pairs.where(org.apache.spark.sql.functions.col(NearDuplicates.POSITION).isInCollection(at))
          .drop(NearDuplicates.POSITION);
    };
    List<Row> byPosition = NearDuplicates.find(pairs, 0.9, 5, 42, reread).orderBy("id").collectAsList();
    List<Row> full = NearDuplicates.find(pairs.drop(NearDuplicates.POSITION), 0.9, 5, 42).orderBy("id")
        .collectAsList();
    assertEquals(full, byPosition);
    assertEquals(20, full.size());
    assertEquals(1, asked.size());
    long[] at = asked.get(0);
    assertArrayEquals(Arrays.stream(at).sorted().distinct().toArray(), at, "sorted and distinct");
    // the planted rows sit at positions 1000-1029, the unrelated ones (never candidates) at 1030-1044
    assertTrue(at.length >= 10 && Arrays.stream(at).allMatch(p -> p >= 1000 && p < 1030), Arrays.toString(at));
  }

  /** 3 rows per original: the original, a near copy (one word more), a far variant (the last sixth rewritten). */
  private static List<Row> plantedRows(Random random, int originals) {
    List<Row> rows = new ArrayList<>();
    for (int d = 0; d < originals; d++) {
      String original = words(random, 120);
      int cut = original.indexOf(' ', original.length() * 85 / 100);
      rows.add(RowFactory.create(String.format("d%02d-0", d), "Q", original, "no"));
      rows.add(RowFactory.create(String.format("d%02d-1", d), "Q", original + "ok", "no"));
      rows.add(RowFactory.create(String.format("d%02d-2", d), "Q", original.substring(0, cut) + " " + words(random, 18),
          "no"));
    }
    return rows;
  }

  /**
   * Through ingest, where only the candidates' records are parsed again: near-duplicates across files and
   * containers (JSON Lines, a JSON array), two pairs from one ranked record, an exact duplicate of a candidate's
   * record (dropped, not read as a second text) and a file without candidates. One component of five: the smallest
   * id stays, the four others are quarantined naming it.
   */
  @Test
  void ingestRereadsOnlyTheCandidatesRecordsAndFindsEveryNearDuplicate(
      @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
    Random random = new Random(31);
    String base = words(random, 120).strip();
    String near = base + " ok";
    String near2 = base + " ok2";
    String ranked = "{\"prompt\": \"Q\", \"completions\": [{\"text\": \"" + base + "\", \"score\": 3}, "
        + "{\"text\": \"meh\", \"score\": 2}, {\"text\": \"no\", \"score\": 1}]}";
    java.nio.file.Files.writeString(dir.resolve("a.jsonl"), String.join("\n", ranked,
        "{\"prompt\": \"Other\", \"completions\": [{\"text\": \"" + words(random, 60) + "\", \"score\": 2}, "
            + "{\"text\": \"no\", \"score\": 1}]}",
        ranked) + "\n");
    java.nio.file.Files.writeString(dir.resolve("b.jsonl"), String.join("\n",
        flat("Q", near, "no"), flat("Third", words(random, 60), "no"), "", flat("Q", near, "meh")) + "\n");
    java.nio.file.Files.writeString(dir.resolve("c.json"), "[" + flat("Q", near2, "no") + ",\n"
        + flat("Fourth", words(random, 60), "no") + "]\n");
    java.nio.file.Files.writeString(dir.resolve("d.jsonl"), String.join("\n", flat("Fifth", words(random, 60), "no"),
        flat("Sixth", words(random, 60), "no")) + "\n");
    java.nio.file.Path in = dir.resolve("in");
    java.nio.file.Files.createDirectories(in);
    for (String f : List.of("a.jsonl", "b.jsonl", "c.json", "d.jsonl")) java.nio.file.Files.move(dir.resolve(f), in.resolve(f));
    IngestOptions opts = new IngestOptions(List.of(in.toString()), dir.resolve("out").toString(), null,
        dev.sparkdpo.data.formats.FormatOptions.DEFAULTS, 0, 16 << 20, 0.9, 5, 0, 0.0, 42, null, false);
    Ingest.run(spark, opts);
    List<String> group = List.of(id("Q", base, "no"), id("Q", base, "meh"), id("Q", near, "no"), id("Q", near, "meh"),
        id("Q", near2, "no"));
    String smallest = group.stream().min(NearDuplicates::compareIds).orElseThrow();
    List<String> kept = spark.read().parquet(dir.resolve("out/pairs").toString()).select("id").collectAsList().stream()
        .map(r -> r.getString(0)).toList();
    assertEquals(6, kept.size(), kept.toString());   // the group's smallest id and the five unrelated pairs
    assertTrue(kept.contains(smallest), kept.toString());
    Dataset<Row> quarantine = spark.read().parquet(dir.resolve("out/quarantine").toString());
    List<Row> nearDups = quarantine.where("reason = 'near_duplicate'").collectAsList();
    assertEquals(4, nearDups.size(), nearDups.toString());
    for (Row q : nearDups) {
      String detail = q.getString(q.fieldIndex("detail"));
      assertTrue(detail.contains("of pair " + smallest), detail);
    }
    assertEquals(2, quarantine.where("reason = 'exact_duplicate'").count());
  }

  private static String flat(String prompt, String chosen, String rejected) {
    return "{\"prompt\": \"" + prompt + "\", \"chosen\": \"" + chosen + "\", \"rejected\": \"" + rejected + "\"}";
  }

  private static String id(String prompt, String chosen, String rejected) {
    return ParsedRecord.pair(new PairNormalizer(0).apply(new PreferencePair(prompt, chosen, rejected)), "flat", "-", 1, 1)
        .id();
  }

  /** Through ingest: the loser is quarantined as near_duplicate naming the kept pair's id and the exact Jaccard. */
  @Test
  void ingestQuarantinesTheLoserWithTheKeptIdAndItsJaccard(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
      throws Exception {
    String base = words(new Random(9), 120);
    String near = base + "ok";
    java.nio.file.Path input = dir.resolve("in.jsonl");
    java.nio.file.Files.writeString(input, String.join("\n",
        "{\"prompt\": \"Q\", \"chosen\": \"" + base + "\", \"rejected\": \"no\"}",
        "{\"prompt\": \"Q\", \"chosen\": \"" + near + "\", \"rejected\": \"no\"}",
        "{\"prompt\": \"Other\", \"chosen\": \"" + words(new Random(10), 60) + "\", \"rejected\": \"no\"}") + "\n");
    IngestOptions opts = new IngestOptions(List.of(input.toString()), dir.resolve("out").toString(), null,
        dev.sparkdpo.data.formats.FormatOptions.DEFAULTS, 0, 16 << 20, 0.9, 5, 0, 0.0, 42, null, false);
    Ingest.run(spark, opts);
    List<Row> pairs = spark.read().parquet(dir.resolve("out/pairs").toString()).select("id", "chosen").collectAsList();
    List<Row> quarantined = spark.read().parquet(dir.resolve("out/quarantine").toString())
        .where("reason = 'near_duplicate'").collectAsList();
    assertEquals(2, pairs.size());
    assertEquals(1, quarantined.size());
    Row q = quarantined.get(0);
    String[] kept = pairs.stream().filter(p -> p.getString(1).equals(base) || p.getString(1).equals(near))
        .map(p -> p.getString(0)).toArray(String[]::new);
    assertEquals(1, kept.length, "one of the two near-identical pairs stays");
    String detail = q.getString(q.fieldIndex("detail"));
    double jaccard = NearDuplicates.similarity("Q", base, "no", "Q", near, "no", 5);
    assertTrue(detail.contains("of pair " + kept[0]), detail);
    assertTrue(detail.contains(String.format(java.util.Locale.ROOT, "(Jaccard %.3f)", jaccard)), detail);
  }
}
