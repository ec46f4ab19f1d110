package dev.sparkdpo.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/**
 * The trainer on local[2] against the theory of parameter averaging and its own contracts: synchronous SGD
 * equivalence, local SGD with k > 1, learning a task with a known answer, resume equivalence, the reference
 * fingerprint check and the NaN guard.
 */
class TrainerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  @TempDir static Path tmp;
  private static SparkSession spark;
  private static TrainFixture fixture;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("trainer-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
        .config("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator")
        .getOrCreate();
    fixture = TrainFixture.create(spark, tmp.resolve("fixture"), 1);
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  private static Trainer.Result train(TrainOptions opts) {
    return Trainer.run(spark, opts);
  }

  private static TrainOptions sgd(String name, int workers, int batch, int k, long steps) {
    return TrainFixture.options(fixture.reference, fixture.model, tmp.resolve(name), "sgd", 0.5, 0, workers, batch, k,
        1, steps, 0, 0, false);
  }

  @Test
  void sgdAveragedEveryStepEqualsOneWorkerWithTheWholeBatch() {
    train(sgd("sgd-2x2-k1", 2, 2, 1, 4));
    train(sgd("sgd-1x4-k1", 1, 4, 1, 4));
    Map<String, Tensor> two = TrainFixture.weights(tmp.resolve("sgd-2x2-k1/model"));
    Map<String, Tensor> one = TrainFixture.weights(tmp.resolve("sgd-1x4-k1/model"));
    Map<String, Tensor> start = TrainFixture.weights(fixture.model);
    double moved = TrainFixture.maxDiff(one, start);
    double diff = TrainFixture.maxDiff(two, one);
    System.out.printf("TrainerTest: SGD k=1, 2 workers x 2 vs 1 worker x 4: max |diff| %.2e (weights moved %.2e)%n",
        diff, moved);
    assertTrue(moved > 1e-3, "the steps should move the weights, moved " + moved);
    assertTrue(diff <= 1e-5, "2 workers x b averaged every step must equal 1 worker x 2b: " + diff);
  }

  /**
   * With k = 2 each worker takes 2 local SGD steps on its own minibatches, then the weights are averaged: simulated
   * here with plain DL4J networks on the trainer's data order, and compared with the Spark run.
   */
  @Test
  void averagingEveryKStepsIsLocalSgdThenTheMean() {
    int workers = 2, batch = 2, k = 2, rounds = 2;
    train(sgd("sgd-2x2-k2", workers, batch, k, (long) k * rounds));
    Map<String, Tensor> spark2 = TrainFixture.weights(tmp.resolve("sgd-2x2-k2/model"));

    // the trainer's epoch-0 order: pairs by SHA-256(seed:0:id)
    Dataset<Row> frame = spark.read().parquet(fixture.reference.resolve("pairs").toString());
    List<TrainPair> pairs = new ArrayList<>(TrainingPairs.pairs(
        frame.filter(frame.col(PairSchema.SPLIT).equalTo(PairSchema.TRAIN)), true).collect());
    pairs.sort(Comparator.comparing(p -> DataOrder.orderKey(42, 0, p.id)));

    TrainOptions.Optimizer sgd = TrainOptions.Optimizer.of("sgd", 0.5, 0, WarmupSchedule.Decay.CONSTANT, 0, 0);
    DpoConfig loss = DpoConfig.of(0.1, 0, LossType.SIGMOID);
    int width = TrainFixture.GPT.nPositions();
    GptCheckpoint start = GptCheckpoint.load(fixture.model);
    ComputationGraph averaged = PolicyNetwork.build(start, loss, width, sgd, 100, 42);
    int perRound = workers * batch * k;
    for (int r = 0; r < rounds; r++) {
      INDArray sum = null;
      for (int w = 0; w < workers; w++) {
        ComputationGraph worker = PolicyNetwork.build(start, loss, width, sgd, 100, 42);
        worker.setParams(averaged.params().dup());
        for (int j = 0; j < k; j++) {
          List<DataSet> minibatch = new ArrayList<>();
          for (int i = j * batch; i < (j + 1) * batch; i++) {
            minibatch.add(pairs.get(r * perRound + w + workers * i).toDataSet(width));
          }
          worker.fit(DataSet.merge(minibatch));
        }
        sum = sum == null ? worker.params().dup() : sum.addi(worker.params());
      }
      averaged.setParams(sum.divi(workers));
    }
    Map<String, Tensor> simulated = GptParams.over(TrainFixture.GPT, averaged.params()).toCheckpoint().weights();
    train(sgd("sgd-2x2-k1-4", 2, 2, 1, (long) k * rounds));
    Map<String, Tensor> synchronous = TrainFixture.weights(tmp.resolve("sgd-2x2-k1-4/model"));
    double diff = TrainFixture.maxDiff(spark2, simulated);
    double vsSync = TrainFixture.maxDiff(spark2, synchronous);
    System.out.printf("TrainerTest: k=2 vs local SGD + mean: %.2e; k=2 vs k=1: %.2e%n", diff, vsSync);
    assertTrue(diff <= 1e-5, "k=2 must be local SGD then the mean of the workers: " + diff);
    assertTrue(vsSync > 1e-4, "k=2 should differ from synchronous SGD: " + vsSync);
  }

  @Test
  void learnsTheTaskAndLogsEveryStep() throws IOException {
    Path out = tmp.resolve("learn");
    Trainer.Result r = train(TrainFixture.options(fixture.reference, fixture.model, out, "adamw", 1e-2, 1.0, 2, 4, 2,
        4, 0, 10, 20, false));
    List<JsonNode> lines = metrics(out);
    List<JsonNode> evals = lines.stream().filter(j -> j.has("eval_loss")).toList();
    List<JsonNode> steps = lines.stream().filter(j -> j.has("loss")).toList();
    JsonNode first = evals.get(0), last = evals.get(evals.size() - 1);
    System.out.printf("TrainerTest: eval loss %.4f -> %.4f, accuracy %.2f -> %.2f over %d steps%n",
        first.get("eval_loss").asDouble(), last.get("eval_loss").asDouble(),
        first.get("eval_rewards/accuracies").asDouble(), last.get("eval_rewards/accuracies").asDouble(), r.steps());
    assertEquals(0, first.get("step").asLong());
    assertEquals(Math.log(2), first.get("eval_loss").asDouble(), 1e-4);
    assertTrue(last.get("eval_rewards/accuracies").asDouble() >= 0.9, last.toString());
    assertTrue(last.get("eval_loss").asDouble() < 0.5 * first.get("eval_loss").asDouble(), last.toString());
    // one line per step, in order, with TRL's names and the run's settings
    long expected = 4 * ((128 + 7) / 8); // 4 epochs of ceil(128 train pairs / global batch 8)
    assertEquals(expected, r.steps());
    assertEquals(expected, steps.size());
    for (int i = 0; i < steps.size(); i++) {
      JsonNode s = steps.get(i);
      assertEquals(i + 1, s.get("step").asLong());
      for (String key : List.of("epoch", "loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies",
          "rewards/margins", "logps/chosen", "logps/rejected", "learning_rate", "grad_norm", "tokens_per_second",
          "wall_time")) {
        assertTrue(s.has(key) && Double.isFinite(s.get(key).asDouble()), "step " + (i + 1) + " has no finite " + key);
      }
      assertEquals(1e-2, s.get("learning_rate").asDouble(), 1e-12);
      assertEquals(2, s.get("workers").asInt());
    }
    assertEquals(4.0, steps.get(steps.size() - 1).get("epoch").asDouble(), 1e-9);
    // checkpoints every 20 steps and at the end; the final model is the last checkpoint's weights
    List<String> checkpoints;
    try (Stream<Path> s = Files.list(out.resolve(Checkpoints.DIR))) {
      checkpoints = s.map(p -> p.getFileName().toString()).sorted().toList();
    }
    assertEquals(List.of("step-20", "step-40", "step-60", "step-64"), checkpoints);
    assertEquals(0, TrainFixture.maxDiff(TrainFixture.weights(out.resolve("model")),
        TrainFixture.weights(out.resolve("checkpoints/step-64"))));
    assertTrue(Files.exists(out.resolve("_SUCCESS")) && Files.exists(out.resolve(Trainer.TRAIN_JSON)));
    // the same run again is a no-op
    assertTrue(train(TrainFixture.options(fixture.reference, fixture.model, out, "adamw", 1e-2, 1.0, 2, 4, 2, 4, 0, 10,
        20, true)).skipped());
  }

  @Test
  void resumingFromACheckpointGivesTheWeightsOfAnUninterruptedRun() throws IOException {
    Path whole = tmp.resolve("whole");
    train(TrainFixture.options(fixture.reference, fixture.model, whole, "adamw", 1e-2, 1.0, 2, 4, 2, 2, 24, 0, 8,
        false));
    // what a crash right after checkpoint 16 leaves: later checkpoints, the model and the summary never written,
    // metrics lines past step 16 (they are dropped on resume)
    Path crashed = tmp.resolve("crashed");
    copy(whole, crashed);
    for (String gone : List.of("checkpoints/step-24", "model", "_SUCCESS", Trainer.TRAIN_JSON)) {
      Checkpoints.deleteTree(crashed.resolve(gone));
    }
    // another worker count would change the global batch and the data order: refused, naming it
    IllegalArgumentException other = assertThrows(IllegalArgumentException.class, () -> train(TrainFixture.options(
        fixture.reference, fixture.model, crashed, "adamw", 1e-2, 1.0, 1, 4, 2, 2, 24, 0, 8, true)));
    assertTrue(other.getMessage().contains("parallelism"), other.getMessage());
    Trainer.Result r = train(TrainFixture.options(fixture.reference, fixture.model, crashed, "adamw", 1e-2, 1.0, 2, 4,
        2, 2, 24, 0, 8, true));
    assertEquals(24, r.steps());
    double diff = TrainFixture.maxDiff(TrainFixture.weights(crashed.resolve("model")),
        TrainFixture.weights(whole.resolve("model")));
    System.out.printf("TrainerTest: resumed at step 16 vs uninterrupted: max |diff| %.2e%n", diff);
    assertTrue(diff <= 1e-6, "resumed run differs by " + diff);
    List<Long> steps = metrics(crashed).stream().filter(j -> j.has("loss")).map(j -> j.get("step").asLong()).toList();
    List<Long> expected = new ArrayList<>();
    for (long s = 1; s <= 24; s++) expected.add(s);
    assertEquals(expected, steps);
  }

  /** SFT on prompt + chosen of an ingest output (no reference log-probs): the chosen responses' perplexity falls. */
  @Test
  void sftOnAnIngestOutputLowersThePerplexityOfTheChosenResponses() throws IOException {
    Path out = tmp.resolve("sft-pairs");
    TrainOptions opts = new TrainOptions(fixture.ingest.toString(), fixture.model.toString(), out.toString(),
        TrainOptions.Objective.SFT, null, TrainOptions.Optimizer.of("adamw", 1e-2, 0, WarmupSchedule.Decay.CONSTANT,
            0, 1.0), new TrainOptions.Parallelism(2, 4, 2), new TrainOptions.Schedule(2, 0, 0, 0, 60, 0), 42, false,
        true, false, new TrainOptions.Text(null, 0, 0.05));
    train(opts);
    List<JsonNode> evals = metrics(out).stream().filter(j -> j.has("eval_perplexity")).toList();
    double before = evals.get(0).get("eval_perplexity").asDouble();
    double after = evals.get(evals.size() - 1).get("eval_perplexity").asDouble();
    System.out.printf("TrainerTest: SFT on pairs: chosen-response perplexity %.2f -> %.2f%n", before, after);
    assertTrue(before > 40 && after < 0.5 * before, before + " -> " + after);
  }

  @Test
  void referenceFromAnotherModelIsRefusedUnlessAllowed() {
    Path other = TrainFixture.saveModel(tmp.resolve("other-model"), 99);
    TrainOptions opts = TrainFixture.options(fixture.reference, other, tmp.resolve("mismatch"), "adamw", 1e-3, 1.0, 2,
        2, 1, 1, 1, 0, 0, false);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> train(opts));
    assertTrue(e.getMessage().contains("--allow-ref-mismatch") && e.getMessage().contains(other.toString()),
        e.getMessage());
    TrainOptions allowed = new TrainOptions(opts.data(), opts.model(), opts.output(), opts.objective(), opts.loss(),
        opts.optimizer(), opts.parallelism(), opts.schedule(), opts.seed(), false, true, true, opts.text());
    assertEquals(1, train(allowed).steps());
  }

  @Test
  void divergenceStopsTheRunNamingTheStepsPairsAndLastCheckpoint() {
    Path out = tmp.resolve("nan");
    TrainOptions opts = TrainFixture.options(fixture.reference, fixture.model, out, "sgd", 1e30, 0, 2, 2, 1, 1, 8, 0, 1,
        false);
    RuntimeException e = assertThrows(RuntimeException.class, () -> train(opts));
    System.out.println("TrainerTest: " + e.getMessage());
    assertTrue(e instanceof IllegalArgumentException, e.toString());
    assertTrue(e.getMessage().contains("diverged")
        && !e.getMessage().contains("\n")
        && e.getMessage().matches(".*pairs in these steps: step \\d+ \\(epoch position \\d+\\): pair-\\d+,"
            + " pair-\\d+, pair-\\d+, pair-\\d+;.*")
        && e.getMessage().contains("last good checkpoint: " + out.resolve("checkpoints")), e.getMessage());
    assertFalse(Files.exists(out.resolve("model")) || Files.exists(out.resolve("_SUCCESS")));
  }

  @Test
  void anOutputThatIsNotATrainingRunIsNeverCleared() throws IOException {
    Path foreign = Files.createDirectories(tmp.resolve("foreign"));
    Files.writeString(foreign.resolve("notes.txt"), "mine");
    TrainOptions force = TrainFixture.options(fixture.reference, fixture.model, foreign, "adamw", 1e-3, 1.0, 2, 2, 1, 1,
        1, 0, 0, false);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> train(force));
    assertTrue(e.getMessage().contains("not written by spark-dpo") && e.getMessage().contains("notes.txt"),
        e.getMessage());
    Checkpoints.deleteTree(foreign.resolve("notes.txt"));
    Files.createDirectories(foreign.resolve("checkpoints/unrelated"));
    e = assertThrows(IllegalArgumentException.class, () -> train(force));
    assertTrue(e.getMessage().contains("not written by spark-dpo") && e.getMessage().contains("checkpoints/"),
        e.getMessage());
    assertTrue(Files.isDirectory(foreign.resolve("checkpoints/unrelated")));
    // the model inside the output (through a symbolic link) is refused before anything is deleted
    Path run = Files.createDirectories(tmp.resolve("run-with-model"));
    Path link = Files.createSymbolicLink(tmp.resolve("model-link"), run);
    TrainFixture.saveModel(run.resolve("model"), 1);
    IllegalArgumentException overlap = assertThrows(IllegalArgumentException.class, () -> train(TrainFixture.options(
        fixture.reference, link.resolve("model"), run, "adamw", 1e-3, 1.0, 2, 2, 1, 1, 1, 0, 0, false)));
    assertTrue(overlap.getMessage().contains("contains --model"), overlap.getMessage());
    assertTrue(Files.exists(run.resolve("model/model.safetensors")));
  }

  @Test
  void modelsWhoseWorkerResultsExceedTwoGigabytesAreRefused() {
    TrainOptions.Optimizer adamw = TrainOptions.Optimizer.of("adamw", 1e-6, 0, WarmupSchedule.Decay.CONSTANT, 0, 1);
    TrainOptions.Optimizer sgd = TrainOptions.Optimizer.of("sgd", 1e-6, 0, WarmupSchedule.Decay.CONSTANT, 0, 1);
    Trainer.checkResultSize(124_439_808L, adamw, false); // GPT-2 small: 1.5 GB
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Trainer.checkResultSize(354_823_168L, adamw, false)); // GPT-2 medium: 4.3 GB
    // one line: the size, the limit, and LoRA as the way out
    assertEquals("model too large for full fine-tuning: 354,823,168 trainable parameters with adamw make each"
        + " worker's result 4.26 GB (weights + optimizer state, 12 bytes per parameter), over the 2047 MiB a Spark"
        + " task result can carry (Kryo's limit); train LoRA adapters instead (--lora-rank 8: only they travel), or"
        + " use a smaller model", e.getMessage());
    Trainer.checkResultSize(354_823_168L, sgd, false); // 1.4 GB without optimizer state
    // GPT-2 medium with rank-8 adapters on every linear: 3.1M adapter parameters, 36 MB per worker
    Trainer.checkResultSize(3_145_728L, adamw, true);
    e = assertThrows(IllegalArgumentException.class, () -> Trainer.checkResultSize(200_000_000L, adamw, true));
    assertTrue(e.getMessage().startsWith("LoRA adapters too large") && e.getMessage().endsWith("lower --lora-rank"
        + " or --lora-targets"), e.getMessage());
  }

  private static List<JsonNode> metrics(Path out) throws IOException {
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve(MetricsLog.FILE))) lines.add(JSON.readTree(line));
    return lines;
  }

  private static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) Files.createDirectories(target);
        else Files.copy(p, target);
      }
    }
  }
}
