package dev.sparkdpo.tests.ingest;

import static dev.sparkdpo.tests.ingest.IngestChecks.assertPairs;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertQuarantine;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertStats;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertSucceeded;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.NearDuplicates;
import dev.sparkdpo.jobs.SyntheticPreferences.Planted;
import dev.sparkdpo.tests.cluster.StandaloneCluster;
import dev.sparkdpo.tests.fixtures.HazardCorpus;
import dev.sparkdpo.tests.fixtures.HazardCorpus.Expected;
import dev.sparkdpo.tests.fixtures.NearDupCorpus;
import dev.sparkdpo.tests.ingest.IngestRuns.PairRow;
import dev.sparkdpo.tests.ingest.IngestRuns.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ingest CLI against a real Spark standalone cluster (master + 2 workers, one executor JVM each): the same
 * corpus gives the same stats and rows as on {@code local[2]}, the work runs in 2 executors, and the executors load
 * the tokenizer (DJL's native library) themselves; near-duplicate removal gives the same (right) result on the
 * cluster as on {@code local[2]} and {@code local[1]}. One cluster serves both tests.
 */
class ClusterIngestTest {
  /** One cluster for the class: starting one costs more than an ingest on it. */
  private static StandaloneCluster cluster;
  private static double startS;

  @BeforeAll
  @Timeout(value = 3, unit = TimeUnit.MINUTES)
  static void startCluster() {
    IngestRuns.stopSpark();
    long t0 = System.nanoTime();
    cluster = StandaloneCluster.start(2, 1, "1g");
    startS = (System.nanoTime() - t0) / 1e9;
  }

  @AfterAll
  static void stopCluster() {
    try {
      if (cluster != null) cluster.close();
    } finally {
      IngestRuns.stopSpark();
    }
  }

  @Test
  @Timeout(value = 6, unit = TimeUnit.MINUTES)
  void ingestOnAStandaloneClusterMatchesTheLocalResult(@TempDir Path tmp) throws Exception {
    Path corpus = tmp.resolve("corpus").toAbsolutePath();
    Expected expected = HazardCorpus.write(corpus);
    Path tokenizer = IngestRuns.gpt2Tokenizer();
    assertTrue(Files.isRegularFile(tokenizer), "missing fixture " + tokenizer);
    try {
      // 1. plain ingest: the same result as the local run (its expectation), in 2 executors
      Path plainOut = tmp.resolve("out-plain");
      Result plain = IngestRuns.run(plainOut, args(cluster, corpus, plainOut));
      assertSucceeded(plain);
      assertStats(expected, plain);
      assertPairs(expected, plain, corpus, false);
      assertQuarantine(expected, plain, corpus);
      assertEquals(IngestChecks.ids(expected.pairs()), plain.pairs().stream().map(PairRow::id).collect(Collectors.toSet()));
      assertNotNull(plain.appId());
      assertEquals(2, cluster.launchedExecutors(plain.appId()), cluster::diagnostics);

      // 2. tokenized: the executors tokenize (tasks never run in the driver on a cluster)
      Path tokOut = tmp.resolve("out-tokenized");
      Map<Long, Boolean> djlInExecutor = new java.util.TreeMap<>();   // executor pid -> native tokenizer mapped
      Result tok = IngestRuns.run(tokOut, spark -> cluster.executorPids().forEach(
              pid -> djlInExecutor.put(pid, mapsLibrary(pid, "libtokenizers"))),
          args(cluster, corpus, tokOut, "--tokenizer", tokenizer.toString(), "--max-length", "64"));
      assertSucceeded(tok);
      assertTrue(!djlInExecutor.isEmpty(), "no executor JVMs found while the app ran");
      assertTrue(djlInExecutor.values().stream().anyMatch(b -> b),
          () -> "no executor JVM loaded DJL's native tokenizer library: " + djlInExecutor);
      assertTrue(!djlInExecutor.containsKey(ProcessHandle.current().pid()));
      assertStats(expected, tok);
      assertPairs(expected, tok, corpus, true);
      assertEquals(IngestChecks.idSplits(plain), IngestChecks.idSplits(tok));
      for (PairRow p : tok.pairs()) {
        assertEquals(p.promptLen(), p.promptIds().length, p::toString);
        assertTrue(p.promptLen() + Math.max(p.chosenLen(), p.rejectedLen()) <= 64, p::toString);
        if (!p.responseTruncated()) assertEquals(50256, p.chosenIds()[p.chosenLen() - 1], p::toString);
      }
      assertEquals(tok.pairs().stream().filter(PairRow::promptTruncated).count(),
          tok.stats().path("tokenization").path("prompts_truncated").asLong(-1));
      assertEquals(tok.pairs().stream().filter(PairRow::responseTruncated).count(),
          tok.stats().path("tokenization").path("responses_truncated").asLong(-1));
      assertEquals(2, cluster.launchedExecutors(tok.appId()), cluster::diagnostics);
      System.out.printf("ClusterIngestTest timings: cluster start %.1f s, plain ingest %.1f s, tokenized ingest %.1f s"
          + " (native tokenizer loaded in executors: %s)%n", startS, plain.seconds(), tok.seconds(), djlInExecutor);
    } finally {
      IngestRuns.stopSpark();
    }
  }

  /**
   * Issue 15: near-duplicate removal ({@code --near-dup-threshold 0.9}, fixed {@code --seed}) gives the same result on
   * the cluster (2 executors), on {@code local[2]} and on {@code local[1]}: the same kept pair ids in the same splits,
   * the same quarantine rows (near_duplicate details naming the same kept pair and Jaccard), the same stats counts.
   * The corpus ({@link NearDupCorpus}: 3,300 records in 5 files, so 5 scan partitions and bucket shuffles over 4 to 8
   * partitions) holds planted near-duplicates at known Jaccard and a template bucket over the cap, and the common
   * result is checked to be right, not only equal: every planted pair at Jaccard &ge; 0.95 is linked, none below 0.85
   * is, every removal names a kept pair whose exact Jaccard with it (recomputed from the input) is the detail's and
   * &ge; 0.9, all template pairs but one are removed in favour of that one, and each run paired capped buckets
   * star-wise.
   */
  @Test
  @Timeout(value = 5, unit = TimeUnit.MINUTES)
  void nearDuplicateRemovalIsTheSameOnTheClusterAndLocally(@TempDir Path tmp) throws Exception {
    Path corpus = tmp.resolve("corpus").toAbsolutePath();
    List<Planted> planted = NearDupCorpus.write(corpus, tmp.resolve("planted.tsv")).planted();
    try {
      Path clusterOut = tmp.resolve("out-cluster");
      Result onCluster = IngestRuns.run(clusterOut, nearDupArgs(cluster.masterUrl(), cluster.driverConf(), corpus,
          clusterOut));
      assertSucceeded(onCluster);
      assertEquals(2, cluster.launchedExecutors(onCluster.appId()), cluster::diagnostics);
      Path local2Out = tmp.resolve("out-local2");
      Result local2 = IngestRuns.run(local2Out, nearDupArgs("local[2]", Map.of(), corpus, local2Out));
      assertSucceeded(local2);
      Path local1Out = tmp.resolve("out-local1");
      Result local1 = IngestRuns.run(local1Out, nearDupArgs("local[1]", Map.of(), corpus, local1Out));
      assertSucceeded(local1);

      NearDupOutcome reference = NearDupOutcome.of(local2);
      assertSameOutcome(reference, NearDupOutcome.of(onCluster), "standalone cluster");
      assertSameOutcome(reference, NearDupOutcome.of(local1), "local[1]");
      for (Result r : List.of(onCluster, local2, local1)) {
        Matcher capped = CAPPED.matcher(r.stderr());
        assertTrue(capped.find(), () -> "no near-dup bucket log line in the output of " + r.describe());
        assertTrue(Long.parseLong(capped.group(1)) > 0, () -> "no bucket over the cap: " + capped.group());
      }
      String checked = assertNearDuplicatesRight(local2, corpus, planted);
      System.out.printf("ClusterIngestTest near-dup timings: cluster %.1f s, local[2] %.1f s, local[1] %.1f s (%d "
          + "removed; %s)%n", onCluster.seconds(), local2.seconds(), local1.seconds(), reference.near(), checked);
    } finally {
      IngestRuns.stopSpark();
    }
  }

  /** The near-duplicate step's log line: how many buckets over the cap were paired star-wise. */
  private static final Pattern CAPPED = Pattern.compile("(\\d+) buckets over \\d+ members paired star-wise");
  /** The tail of a near_duplicate detail: the kept pair's id and the two pairs' Jaccard. */
  private static final Pattern KEPT = Pattern.compile("of pair (\\S+) \\(Jaccard ([0-9.]+)\\)$");

  /** A record of the input: file name and 1-based record (a JSONL line). */
  private record Key(String file, long record) {}

  /** What must not depend on where ingest ran. */
  private record NearDupOutcome(List<String> keptIdSplits, List<String> quarantine, JsonNode quarantined,
      JsonNode duplicates, long outputPairs) {
    static NearDupOutcome of(Result r) {
      List<String> quarantine = r.quarantine().stream()
          .map(q -> q.file() + ":" + q.record() + ":" + q.line() + " " + q.reason() + " " + q.detail()).sorted().toList();
      return new NearDupOutcome(IngestChecks.idSplits(r), quarantine, r.stats().path("quarantined"),
          r.stats().path("duplicates_removed"), r.stats().path("output_pairs").asLong(-1));
    }

    long near() {
      return duplicates.path("near").asLong(-1);
    }
  }

  private static void assertSameOutcome(NearDupOutcome expected, NearDupOutcome actual, String where) {
    assertSameRows(expected.keptIdSplits(), actual.keptIdSplits(), "kept pair ids (and splits) on " + where);
    assertSameRows(expected.quarantine(), actual.quarantine(), "quarantine rows on " + where);
    assertEquals(expected.quarantined(), actual.quarantined(), "stats quarantined on " + where);
    assertEquals(expected.duplicates(), actual.duplicates(), "stats duplicates_removed on " + where);
    assertEquals(expected.outputPairs(), actual.outputPairs(), "stats output_pairs on " + where);
  }

  /** Equal sorted lists, reported as the rows only one side has (the lists hold thousands of rows). */
  private static void assertSameRows(List<String> expected, List<String> actual, String what) {
    if (expected.equals(actual)) return;
    List<String> missing = new ArrayList<>(expected);
    missing.removeAll(actual);
    List<String> extra = new ArrayList<>(actual);
    extra.removeAll(expected);
    throw new AssertionError(what + " differ from local[2]'s: " + missing.size() + " missing, e.g. "
        + missing.subList(0, Math.min(5, missing.size())) + "; " + extra.size() + " extra, e.g. "
        + extra.subList(0, Math.min(5, extra.size())));
  }

  /**
   * The removals are the right ones (see the test's Javadoc), checked against the input and the planted truth;
   * returns what was checked, for the log.
   */
  private static String assertNearDuplicatesRight(Result r, Path corpus, List<Planted> planted) throws IOException {
    Map<String, Key> keptKeys = new HashMap<>();
    for (PairRow p : r.pairs()) keptKeys.put(p.id(), new Key(p.file(), p.record()));
    Map<Key, Key> removedToKept = new HashMap<>();
    Map<Key, Double> reported = new HashMap<>();
    for (IngestRuns.QuarantineRow q : r.quarantine()) {
      if (!q.reason().equals("near_duplicate")) continue;
      Matcher m = KEPT.matcher(q.detail());
      assertTrue(m.find(), () -> "no kept pair and Jaccard in " + q);
      Key kept = keptKeys.get(m.group(1));
      assertNotNull(kept, () -> "the kept pair of " + q + " is not in pairs/");
      Key removed = new Key(q.file(), q.record());
      removedToKept.put(removed, kept);
      reported.put(removed, Double.parseDouble(m.group(2)));
    }
    assertEquals(removedToKept.size(), r.stats().path("duplicates_removed").path("near").asLong(-1));
    Map<Key, String[]> texts = texts(corpus, removedToKept);
    for (Map.Entry<Key, Key> e : removedToKept.entrySet()) {
      String[] a = texts.get(e.getKey());
      String[] b = texts.get(e.getValue());
      double exact = NearDuplicates.similarity(a[0], a[1], a[2], b[0], b[1], b[2], 5);
      assertEquals(exact, reported.get(e.getKey()), 5e-4, () -> e + ": the detail's Jaccard is not the exact one");
      assertTrue(exact >= 0.9, () -> e + " removed at Jaccard " + exact);
    }
    // the template pairs: one component, all removed in favour of one of them
    Set<Key> templateKept = new HashSet<>();
    long templateRemoved = 0;
    for (Map.Entry<Key, Key> e : removedToKept.entrySet()) {
      if (!e.getKey().file().equals(NearDupCorpus.TEMPLATE_FILE)) continue;
      templateRemoved++;
      templateKept.add(e.getValue());
    }
    assertEquals(NearDupCorpus.TEMPLATE_PAIRS - 1, templateRemoved, "template pairs removed");
    assertEquals(1, templateKept.size(), () -> "template pairs kept in favour of " + templateKept);
    assertEquals(NearDupCorpus.TEMPLATE_FILE, templateKept.iterator().next().file());
    long high = 0;
    long low = 0;
    for (Planted p : planted) {
      Key copy = new Key(p.file(), p.record());
      Key original = new Key(p.originalFile(), p.originalRecord());
      boolean linked = removedToKept.getOrDefault(copy, copy).equals(removedToKept.getOrDefault(original, original));
      if (p.jaccard() >= 0.95) {
        high++;
        assertTrue(linked, () -> "planted near-duplicate not removed: " + p);
      } else if (p.jaccard() < 0.85) {
        low++;
        assertTrue(!linked, () -> "planted pair below 0.85 removed: " + p);
      }
    }
    assertTrue(high >= 20 && low >= 20, "too few planted pairs to tell: " + high + " at >= 0.95, " + low + " < 0.85");
    assertTrue(removedToKept.size() >= high, removedToKept.size() + " removed, " + high + " planted at >= 0.95");
    return high + " planted at Jaccard >= 0.95 removed, " + low + " below 0.85 kept";
  }

  /** (prompt, chosen, rejected) of the given records and of the records kept in their place, from the input files. */
  private static Map<Key, String[]> texts(Path corpus, Map<Key, Key> removedToKept) throws IOException {
    Set<Key> wanted = new HashSet<>(removedToKept.keySet());
    wanted.addAll(removedToKept.values());
    Map<Key, String[]> out = new HashMap<>();
    for (String file : wanted.stream().map(Key::file).collect(Collectors.toSet())) {
      List<String> lines = Files.readAllLines(corpus.resolve(file));
      for (int i = 0; i < lines.size(); i++) {
        if (!wanted.contains(new Key(file, i + 1))) continue;
        JsonNode j = IngestRuns.JSON.readTree(lines.get(i));
        out.put(new Key(file, i + 1), new String[] {j.path("prompt").asText(), j.path("chosen").asText(),
            j.path("rejected").asText()});
      }
    }
    return out;
  }

  /** Whether process {@code pid} has a shared library whose path contains {@code name} mapped (Linux /proc). */
  private static boolean mapsLibrary(long pid, String name) {
    try {
      return Files.readString(Path.of("/proc/" + pid + "/maps")).contains(name);
    } catch (java.io.IOException e) {
      return false;   // the process is gone (an executor of the previous application exiting)
    }
  }

  /** The local test's flags plus --master of the cluster and every driver setting of the harness as --conf. */
  private static String[] args(StandaloneCluster cluster, Path corpus, Path output, String... extra) {
    List<String> a = new ArrayList<>(List.of("ingest", "--master", cluster.masterUrl(), "--input", corpus.toString(),
        "--output", output.toString(), "--max-chars", String.valueOf(HazardCorpus.MAX_CHARS), "--eval-fraction", "0.3"));
    return withConf(a, cluster.driverConf(), extra);
  }

  /** Ingest of {@link NearDupCorpus} with near-duplicate removal at 0.9 and its seed, on {@code master}. */
  private static String[] nearDupArgs(String master, Map<String, String> conf, Path corpus, Path output) {
    List<String> a = new ArrayList<>(List.of("ingest", "--master", master, "--input", corpus.toString(), "--output",
        output.toString(), "--max-chars", String.valueOf(NearDupCorpus.MAX_CHARS), "--eval-fraction", "0.1",
        "--near-dup-threshold", "0.9", "--seed", String.valueOf(NearDupCorpus.SEED)));
    return withConf(a, conf);
  }

  /** {@code a}, then every entry of {@code conf} as {@code --conf k=v}, then {@code extra}. */
  private static String[] withConf(List<String> a, Map<String, String> conf, String... extra) {
    for (Map.Entry<String, String> e : conf.entrySet()) {
      a.add("--conf");
      a.add(e.getKey() + "=" + e.getValue());
    }
    a.addAll(List.of(extra));
    return a.toArray(String[]::new);
  }
}
