package dev.sparkdpo.tests.cluster;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Starts a real 2-worker standalone cluster and proves that work is distributed over 2 executor JVMs. */
class StandaloneClusterTest {

    @Test
    @Timeout(value = 5, unit = TimeUnit.MINUTES)
    void runsTasksOnTwoExecutorJvmsAndRoundTripsParquet(@TempDir Path tmp) throws Exception {
        long t0 = System.nanoTime();
        long driverPid = ProcessHandle.current().pid();
        List<ProcessHandle> clusterProcesses;
        long startMs;
        long jobsMs;
        long closeMs;
        try (StandaloneCluster cluster = StandaloneCluster.start(2, 1, "1g")) {
            startMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertEquals(2, cluster.aliveWorkers(), cluster::diagnostics);
            assertTrue(cluster.masterUrl().matches("spark://127\\.0\\.0\\.1:\\d+"), cluster.masterUrl());

            long j0 = System.nanoTime();
            SparkSession.Builder builder = SparkSession.builder()
                    .appName("standalone-cluster-test")
                    .master(cluster.masterUrl());
            cluster.driverConf().forEach(builder::config);
            SparkSession spark = builder.getOrCreate();
            String appId;
            try {
                appId = spark.sparkContext().applicationId();
                // driverConf waits for all executors before the first job; the executor infos include the driver
                assertEquals(3, spark.sparkContext().statusTracker().getExecutorInfos().length,
                        cluster::diagnostics);
                JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());

                // 1. four partitions, each reports the executor and JVM that ran it
                List<TaskProbe.Where> where = jsc.parallelize(List.of(0, 1, 2, 3), 4)
                        .map(i -> TaskProbe.describe())
                        .collect();
                String report = where.toString();
                assertEquals(4, where.size(), report);
                Set<String> executorIds = where.stream().map(w -> w.executorId).collect(Collectors.toSet());
                Set<Long> pids = where.stream().map(w -> w.pid).collect(Collectors.toSet());
                assertEquals(2, executorIds.size(), "expected 2 executors: " + report);
                assertFalse(executorIds.contains("driver"), report);
                assertEquals(2, pids.size(), "expected 2 executor JVMs: " + report);
                assertFalse(pids.contains(driverPid), "a task ran in the driver JVM: " + report);
                assertTrue(cluster.executorPids().containsAll(pids),
                        "task JVMs " + pids + " are not children of the worker JVMs " + cluster.executorPids());
                // TaskProbe came from this module's test classes (target/test-classes), via extraClassPath
                assertTrue(where.stream().allMatch(w -> w.probeLocation.contains("test-classes")), report);

                // 2. a project test class used inside a map function
                long sumOfSquares = jsc.parallelize(LongStream.rangeClosed(1, 100).boxed().collect(Collectors.toList()), 4)
                        .map(TaskProbe::square)
                        .reduce(Long::sum);
                assertEquals(338_350L, sumOfSquares);

                // 3. Parquet write + read round trip through the executors
                Path out = tmp.resolve("rows.parquet");
                spark.range(0, 1000).selectExpr("id", "id * 2 AS doubled", "CAST(id AS STRING) AS label")
                        .repartition(4)
                        .write().parquet(out.toString());
                List<Path> parts;
                try (Stream<Path> files = Files.list(out)) {
                    parts = files.filter(p -> p.getFileName().toString().startsWith("part-"))
                            .collect(Collectors.toList());
                }
                assertTrue(parts.size() >= 2, "part files: " + parts);
                Dataset<Row> back = spark.read().parquet(out.toString());
                assertEquals(1000L, back.count());
                Row agg = back.selectExpr("sum(id)", "sum(doubled)", "count(DISTINCT label)").first();
                assertEquals(499_500L, agg.getLong(0));
                assertEquals(999_000L, agg.getLong(1));
                assertEquals(1000L, agg.getLong(2));
                List<Row> firstRows = back.orderBy("id").limit(3).collectAsList();
                assertEquals("7", back.where("id = 7").first().getString(2));
                assertEquals(List.of(0L, 1L, 2L), new ArrayList<>(firstRows.stream()
                        .map(r -> r.getLong(0)).collect(Collectors.toList())));
            } finally {
                spark.stop();
            }
            jobsMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - j0);
            assertEquals(2, cluster.launchedExecutors(appId), cluster::diagnostics);
            clusterProcesses = cluster.processes();
            assertTrue(clusterProcesses.size() >= 3, "master + 2 workers: " + clusterProcesses);
            long c0 = System.nanoTime();
            cluster.close(); // try-with-resources closes again: must be a no-op
            closeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - c0);
        }
        for (ProcessHandle p : clusterProcesses) {
            assertFalse(p.isAlive(), "still alive after close(): pid " + p.pid() + " " + p.info().commandLine());
        }
        long totalMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("StandaloneClusterTest timings: start %d ms, session+jobs+stop %d ms, close %d ms, "
                + "total %d ms%n", startMs, jobsMs, closeMs, totalMs);
    }

    @Test
    void rejectsBadArgumentsAndFindsTheClasspath() {
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> StandaloneCluster.start(0, 1, "1g"));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> StandaloneCluster.start(1, 1, "lots"));
        assertNotEquals(0, StandaloneCluster.currentClasspath().size());
    }
}
