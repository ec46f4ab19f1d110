package dev.sparkdpo.train;

import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.Tensor;
import dev.sparkdpo.reference.ReferenceStage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;

/**
 * A small preference task with a known answer, through the real reference stage: prompts are random "topic" tokens,
 * chosen responses are made of "good" tokens and rejected ones of "bad" tokens, so a policy that learns the rule
 * prefers every held-out chosen response. Token ids only (no tokenizer), a 2-layer model of vocabulary 64.
 */
final class TrainFixture {
  static final GptConfig GPT = new GptConfig(64, 16, 16, 2, 2, 1e-5);
  static final int PAIRS = 160;

  final Path model;
  final Path ingest;
  final Path reference;

  private TrainFixture(Path model, Path ingest, Path reference) {
    this.model = model;
    this.ingest = ingest;
    this.reference = reference;
  }

  static TrainFixture create(SparkSession spark, Path dir, long modelSeed) {
    Path model = saveModel(dir.resolve("model"), modelSeed);
    Path ingest = writeIngest(spark, dir.resolve("ingest"), PAIRS, 11);
    Path reference = dir.resolve("reference");
    ReferenceStage.run(spark, new ReferenceStage.Options(ingest.toString(), model.toString(), reference.toString(),
        4096, 0, false, 10));
    return new TrainFixture(model, ingest, reference);
  }

  /** The fixture over a given starting model (e.g. one whose frozen embeddings can express the task, for LoRA). */
  static TrainFixture create(SparkSession spark, Path dir, GptCheckpoint start) {
    Path model = dir.resolve("model");
    start.save(model, 0, null);
    Path ingest = writeIngest(spark, dir.resolve("ingest"), PAIRS, 11);
    Path reference = dir.resolve("reference");
    ReferenceStage.run(spark, new ReferenceStage.Options(ingest.toString(), model.toString(), reference.toString(),
        4096, 0, false, 10));
    return new TrainFixture(model, ingest, reference);
  }

  static Path saveModel(Path dir, long seed) {
    GptInit.init(GPT, seed).save(dir, 0, null);
    return dir;
  }

  /** An ingest-like output: pairs/ (tokenized schema, partitioned by split; a fifth eval), stats.json, _SUCCESS. */
  static Path writeIngest(SparkSession spark, Path dir, int pairs, long seed) {
    Random random = new Random(seed);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < pairs; i++) {
      int[] prompt = tokens(random, 1 + random.nextInt(4), 2, 30);
      int[] chosen = tokens(random, 1 + random.nextInt(4), 30, 40);
      int[] rejected = tokens(random, 1 + random.nextInt(4), 40, 50);
      rows.add(RowFactory.create("pair-" + i, "p", "c", "r", "flat", "fixture", (long) i, boxed(prompt),
          boxed(chosen), boxed(rejected), prompt.length, chosen.length, rejected.length, false, false,
          i % 5 == 0 ? PairSchema.EVAL : PairSchema.TRAIN));
    }
    spark.createDataFrame(rows, PairSchema.TOKENIZED_PAIRS).coalesce(2).write().partitionBy(PairSchema.SPLIT)
        .parquet(dir.resolve("pairs").toString());
    try {
      Files.writeString(dir.resolve("stats.json"), "{\"pairs\":" + pairs + "}");
      Files.writeString(dir.resolve(StageOutput.SUCCESS), "");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return dir;
  }

  private static int[] tokens(Random random, int n, int from, int to) {
    int[] out = new int[n];
    for (int i = 0; i < n; i++) out[i] = from + random.nextInt(to - from);
    return out;
  }

  private static List<Integer> boxed(int[] a) {
    return Arrays.stream(a).boxed().toList();
  }

  /** Options for a DPO run of this fixture (sigmoid loss, beta 0.1). */
  static TrainOptions options(Path data, Path model, Path output, String optimizer, double lr, double maxGradNorm,
      int workers, int batch, int k, int epochs, long maxSteps, long evalSteps, long checkpointSteps, boolean resume) {
    return new TrainOptions(data.toString(), model.toString(), output.toString(), TrainOptions.Objective.DPO,
        DpoConfig.of(0.1, 0, LossType.SIGMOID),
        TrainOptions.Optimizer.of(optimizer, lr, 0, WarmupSchedule.Decay.CONSTANT, 0, maxGradNorm),
        new TrainOptions.Parallelism(workers, batch, k),
        new TrainOptions.Schedule(epochs, maxSteps, evalSteps, checkpointSteps, 60, 0), 42, resume, !resume, false,
        new TrainOptions.Text(null, 0, 0.05));
  }

  static Map<String, Tensor> weights(Path modelDir) {
    return GptCheckpoint.load(modelDir).weights();
  }

  /** Largest absolute difference between two models' weights. */
  static double maxDiff(Map<String, Tensor> a, Map<String, Tensor> b) {
    double max = 0;
    for (Map.Entry<String, Tensor> e : a.entrySet()) {
      float[] x = e.getValue().data(), y = b.get(e.getKey()).data();
      for (int i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
    }
    return max;
  }
}
