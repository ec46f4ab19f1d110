package dev.sparkdpo.tests.train;

import static dev.sparkdpo.tests.train.TrainFixtures.evalLines;
import static dev.sparkdpo.tests.train.TrainFixtures.metrics;
import static dev.sparkdpo.tests.train.TrainFixtures.stepLines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.cli.CliRuns.Run;
import dev.sparkdpo.tests.cluster.StandaloneCluster;
import dev.sparkdpo.tests.cluster.TaskRecorder;
import dev.sparkdpo.tests.cluster.TaskRecorder.TaskRun;
import dev.sparkdpo.tests.train.TrainFixtures.Prepared;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The train CLI against a real Spark standalone cluster (master + 2 workers of 1 core, one executor JVM each), on data
 * and a model prepared on {@code local[2]}: 8 steps of 2 workers, checkpoints, the final model and per-step metrics;
 * the training and evaluation tasks run in the 2 executors, never in the driver; and the model is the one the same
 * settings give on {@code local[2]}.
 */
class ClusterTrainTest {
  static final long STEPS = 8;
  static final List<String> SETTINGS = List.of("--workers", "2", "--max-steps", String.valueOf(STEPS),
      "--checkpoint-steps", "4", "--eval-steps", "4", "--averaging-frequency", "2", "--learning-rate", "1e-2");

  @Test
  @Timeout(value = 5, unit = TimeUnit.MINUTES)
  void trainOnAStandaloneClusterRunsInTheExecutorsAndMatchesLocal(@TempDir Path tmp) {
    long t0 = System.nanoTime();
    Prepared data = TrainFixtures.prepare(tmp.resolve("prep"), "local[2]", 11, 3);
    Path localOut = tmp.resolve("out-local");
    Run local = CliRuns.run(TrainFixtures.trainArgs("local[2]", data.reference(), data.model(), localOut,
        SETTINGS.toArray(String[]::new)).toArray(String[]::new));
    assertEquals(0, local.exitCode(), local::describe);
    double prepareS = (System.nanoTime() - t0) / 1e9;

    long t1 = System.nanoTime();
    try (StandaloneCluster cluster = StandaloneCluster.start(2, 1, "1g")) {
      double startS = (System.nanoTime() - t1) / 1e9;
      TaskRecorder.clear();
      Path output = tmp.resolve("out-cluster");
      List<String> args = TrainFixtures.trainArgs(cluster.masterUrl(), data.reference(), data.model(), output,
          SETTINGS.toArray(String[]::new));
      args.addAll(List.of("--conf", "spark.extraListeners=" + TaskRecorder.CLASS));
      cluster.driverConf().forEach((k, v) -> args.addAll(List.of("--conf", k + "=" + v)));
      Run r = CliRuns.run(args.toArray(String[]::new));
      assertEquals(0, r.exitCode(), () -> r.describe() + "\n" + cluster.diagnostics());

      JsonNode printed = r.printedJson();
      assertEquals(STEPS, printed.path("steps").asLong(), printed::toPrettyString);
      assertEquals(2, printed.path("workers").asInt(), printed::toPrettyString);
      assertTrue(Files.exists(output.resolve("_SUCCESS")), () -> CliRuns.listing(output).toString());
      assertTrue(Files.isRegularFile(output.resolve("train.json")), () -> CliRuns.listing(output).toString());

      // checkpoints at 4 and 8, each complete
      for (long s : new long[] {4, 8}) {
        Path cp = output.resolve("checkpoints").resolve("step-" + s);
        for (String f : LocalTrainTest.CHECKPOINT_FILES) {
          assertTrue(Files.isRegularFile(cp.resolve(f)), () -> cp + " has no " + f + ": " + CliRuns.listing(output));
        }
      }

      // the final model loads and is the last checkpoint
      GptCheckpoint model = GptCheckpoint.load(output.resolve("model"));
      assertEquals(GptCheckpoint.load(data.model()).config(), model.config());
      assertEquals(0.0, TrainFixtures.maxAbsDifference(output.resolve("model"),
          output.resolve("checkpoints").resolve("step-" + STEPS)), "model/ vs the last checkpoint");

      // metrics.jsonl: 8 step lines of 2 workers x 8 pairs, evals at 0, 4, 8
      List<JsonNode> metrics = metrics(output);
      List<JsonNode> steps = stepLines(metrics);
      assertEquals(LongStream.rangeClosed(1, STEPS).boxed().toList(),
          steps.stream().map(j -> j.path("step").asLong()).toList(), "step lines");
      for (JsonNode s : steps) {
        assertEquals(2, s.path("workers").asInt(), s::toString);
        assertEquals(16, s.path("pairs").asLong(), s::toString);
        assertTrue(Double.isFinite(s.path("loss").asDouble()), s::toString);
      }
      assertEquals(List.of(0L, 4L, 8L), evalLines(metrics).stream().map(j -> j.path("step").asLong()).toList());

      // the same settings on local[2]: the same steps, losses and weights
      List<JsonNode> localSteps = stepLines(metrics(localOut));
      double worstLoss = 0;
      for (int i = 0; i < STEPS; i++) {
        worstLoss = Math.max(worstLoss, Math.abs(steps.get(i).path("loss").asDouble()
            - localSteps.get(i).path("loss").asDouble()));
      }
      double worstWeight = TrainFixtures.maxAbsDifferenceButKeyBiases(output.resolve("model"),
          localOut.resolve("model"));
      System.out.printf("ClusterTrainTest: cluster vs local[2]: all weights %.2e, all but the key biases %.2e%n",
          TrainFixtures.maxAbsDifference(output.resolve("model"), localOut.resolve("model")), worstWeight);
      assertTrue(worstLoss <= 1e-5, "per-step losses on the cluster vs local[2] differ by " + worstLoss);
      assertTrue(worstWeight <= 1e-5, "weights on the cluster vs local[2] differ by " + worstWeight);

      // two executors, and the training and eval tasks ran in them, never in the driver
      assertNotNull(r.appId());
      assertEquals(2, cluster.launchedExecutors(r.appId()), cluster::diagnostics);
      List<TaskRun> tasks = TaskRecorder.tasks();
      List<TaskRun> training = tasks.stream().filter(t -> t.job().startsWith("train: steps")).toList();
      List<TaskRun> evaluation = tasks.stream().filter(t -> t.job().startsWith("train: evaluate")).toList();
      assertFalse(training.isEmpty(), () -> "no training tasks recorded: " + tasks);
      assertFalse(evaluation.isEmpty(), () -> "no evaluation tasks recorded: " + tasks);
      for (List<TaskRun> kind : List.of(training, evaluation)) {
        Set<String> executors = kind.stream().map(TaskRun::executorId).collect(Collectors.toSet());
        assertFalse(executors.contains("driver"), kind::toString);
        assertTrue(kind.stream().allMatch(TaskRun::successful), kind::toString);
      }
      Set<String> trainingExecutors = training.stream().map(TaskRun::executorId).collect(Collectors.toSet());
      assertEquals(2, trainingExecutors.size(), () -> "training tasks ran in " + trainingExecutors + ": " + training);

      System.out.printf("ClusterTrainTest: prepare + local run %.1f s (local train %.1f s), cluster start %.1f s,"
              + " cluster train %.1f s; max |cluster - local| loss %s, weight %s; training tasks per executor %s%n",
          prepareS, local.seconds(), startS, r.seconds(), worstLoss, worstWeight,
          training.stream().collect(Collectors.groupingBy(TaskRun::executorId, TreeMap::new, Collectors.counting())));
    } finally {
      CliRuns.stopSpark();
    }
  }
}
