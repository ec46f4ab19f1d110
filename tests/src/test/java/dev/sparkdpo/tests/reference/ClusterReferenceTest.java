package dev.sparkdpo.tests.reference;

import static dev.sparkdpo.tests.reference.ReferenceChecks.assertClose;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertKeepsIngestColumns;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertReferenceJson;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertSucceeded;
import static dev.sparkdpo.tests.reference.ReferenceChecks.logps;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.executor.ExecutorModels;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.cluster.StandaloneCluster;
import dev.sparkdpo.tests.cluster.TaskRecorder;
import dev.sparkdpo.tests.cluster.TaskRecorder.TaskRun;
import dev.sparkdpo.tests.reference.ReferenceRuns.IngestOutput;
import dev.sparkdpo.tests.reference.ReferenceRuns.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reference CLI against a real Spark standalone cluster (master + 2 workers of 1 core, one executor JVM each):
 * the same data and model give the same log-probs as on {@code local[2]}, each executor loads the model once, and the
 * scoring tasks run in the 2 executors, never in the driver.
 */
class ClusterReferenceTest {

  @Test
  @Timeout(value = 5, unit = TimeUnit.MINUTES)
  void referenceOnAStandaloneClusterMatchesTheLocalRun(@TempDir Path tmp) {
    long t0 = System.nanoTime();
    IngestOutput data = ReferenceFixtures.ingestCorpus(tmp, "local[2]");
    // at least one task per executor: the pairs are read as one partition per Parquet file
    assertTrue(CliRuns.parquetFiles(data.dir().resolve("pairs")).size() >= 2, "the ingest output has 1 file");
    Path model = ReferenceFixtures.initModel(tmp.resolve("model"), 1, ReferenceFixtures.MAX_LENGTH);
    Path localOut = tmp.resolve("out-local");
    Result local = ReferenceRuns.reference(localOut,
        ReferenceRuns.referenceArgs("local[2]", data.dir(), model, localOut));
    assertSucceeded(local);
    double prepareS = (System.nanoTime() - t0) / 1e9;

    long t1 = System.nanoTime();
    try (StandaloneCluster cluster = StandaloneCluster.start(2, 1, "1g")) {
      double startS = (System.nanoTime() - t1) / 1e9;
      TaskRecorder.clear();
      int driverLoads = ExecutorModels.loads();
      Map<Long, Boolean> nd4jInExecutor = new TreeMap<>();   // executor pid -> ND4J's native library mapped
      Path clusterOut = tmp.resolve("out-cluster");
      Result onCluster = ReferenceRuns.reference(clusterOut,
          spark -> cluster.executorPids().forEach(pid -> nd4jInExecutor.put(pid, mapsLibrary(pid, "libnd4jcpu"))),
          clusterArgs(cluster, data.dir(), model, clusterOut));
      assertSucceeded(onCluster);
      assertReferenceJson(onCluster, data);
      assertKeepsIngestColumns(onCluster, data);
      assertEquals(local.json().path("fingerprint"), onCluster.json().path("fingerprint"), "same inputs");
      double worst = assertClose("cluster vs local[2]", logps(local), logps(onCluster), 1e-6);

      // one load per executor JVM, 2 executors, and none of the work in the driver
      assertEquals(2, onCluster.count("model_loads"), onCluster.json().toPrettyString());
      assertNotNull(onCluster.run().appId());
      assertEquals(2, cluster.launchedExecutors(onCluster.run().appId()), cluster::diagnostics);
      assertEquals(driverLoads, ExecutorModels.loads(), "the driver JVM loaded the model");
      List<TaskRun> scoring = TaskRecorder.tasks().stream().filter(t -> t.job().startsWith("reference: score"))
          .toList();
      assertFalse(scoring.isEmpty(), () -> "no scoring tasks recorded: " + TaskRecorder.tasks());
      Set<String> executors = scoring.stream().map(TaskRun::executorId).collect(Collectors.toSet());
      assertFalse(executors.contains("driver"), scoring::toString);
      assertEquals(2, executors.size(), () -> "scoring tasks ran in " + executors + ": " + scoring);
      assertTrue(scoring.stream().allMatch(TaskRun::successful), scoring::toString);
      assertEquals(2, nd4jInExecutor.size(), () -> "executor JVMs while the app ran: " + nd4jInExecutor);
      assertTrue(nd4jInExecutor.values().stream().allMatch(b -> b),
          () -> "an executor JVM did not load ND4J's native library: " + nd4jInExecutor);

      System.out.printf("ClusterReferenceTest: ingest + init + local run %.1f s, cluster start %.1f s, cluster run"
              + " %.1f s; max |cluster - local| = %s (%s); scoring tasks per executor %s%n", prepareS, startS,
          onCluster.run().seconds(), worst, worst == 0 ? "bit-equal" : "not bit-equal",
          scoring.stream().collect(Collectors.groupingBy(TaskRun::executorId, TreeMap::new, Collectors.counting())));
    } finally {
      CliRuns.stopSpark();
    }
  }

  /** The local flags with the cluster's master, every driver setting of the harness, and the task recorder. */
  private static List<String> clusterArgs(StandaloneCluster cluster, Path data, Path model, Path output) {
    List<String> a = ReferenceRuns.referenceArgs(cluster.masterUrl(), data, model, output, "--conf",
        "spark.extraListeners=" + TaskRecorder.CLASS);
    cluster.driverConf().forEach((k, v) -> a.addAll(List.of("--conf", k + "=" + v)));
    return a;
  }

  /** Whether process {@code pid} has a shared library whose path contains {@code name} mapped (Linux /proc). */
  private static boolean mapsLibrary(long pid, String name) {
    try {
      return Files.readString(Path.of("/proc/" + pid + "/maps")).contains(name);
    } catch (IOException e) {
      return false;   // the process is gone
    }
  }
}
