package dev.sparkdpo.tests.ingest;

import static dev.sparkdpo.tests.ingest.IngestChecks.assertPairs;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertQuarantine;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertStats;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertSucceeded;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.tests.cluster.StandaloneCluster;
import dev.sparkdpo.tests.fixtures.HazardCorpus;
import dev.sparkdpo.tests.fixtures.HazardCorpus.Expected;
import dev.sparkdpo.tests.ingest.IngestRuns.PairRow;
import dev.sparkdpo.tests.ingest.IngestRuns.Result;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ingest CLI against a real Spark standalone cluster (master + 2 workers, one executor JVM each): the same
 * corpus gives the same stats and rows as on {@code local[2]}, the work runs in 2 executors, and the executors load
 * the tokenizer (DJL's native library) themselves.
 */
class ClusterIngestTest {

  @Test
  @Timeout(value = 8, unit = TimeUnit.MINUTES)
  void ingestOnAStandaloneClusterMatchesTheLocalResult(@TempDir Path tmp) throws Exception {
    Path corpus = tmp.resolve("corpus").toAbsolutePath();
    Expected expected = HazardCorpus.write(corpus);
    Path tokenizer = IngestRuns.gpt2Tokenizer();
    assertTrue(Files.isRegularFile(tokenizer), "missing fixture " + tokenizer);
    IngestRuns.stopSpark();
    long t0 = System.nanoTime();
    try (StandaloneCluster cluster = StandaloneCluster.start(2, 1, "1g")) {
      double startS = (System.nanoTime() - t0) / 1e9;

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
    for (Map.Entry<String, String> e : cluster.driverConf().entrySet()) {
      a.add("--conf");
      a.add(e.getKey() + "=" + e.getValue());
    }
    a.addAll(List.of(extra));
    return a.toArray(String[]::new);
  }
}
