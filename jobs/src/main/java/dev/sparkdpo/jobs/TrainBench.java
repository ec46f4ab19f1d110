package dev.sparkdpo.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import dev.sparkdpo.model.NativeThreads;
import dev.sparkdpo.reference.ReferenceStage;
import dev.sparkdpo.train.Trainer;
import dev.sparkdpo.train.TrainOptions;
import dev.sparkdpo.train.WarmupSchedule;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    description = {"Times DPO training on Spark against the model's single-process train step.",
        "",
        "Times DPO training on Spark on the tiny benchmark shape (vocab 4096, d 256, 4 layers, 4 heads; "
            + "pairs of 128 prompt + 128 response tokens, random ids): tokens/s of the train command's steps "
            + "(DL4J parameter averaging every --averaging-frequency steps, one worker per core, "
            + "--batch-size-per-worker pairs each) for each --masters entry, against the model's own "
            + "single-process train step (as bench model --threads 2: 8 pairs, rows over 2 threads, AdamW). "
            + "The first averaging round (start-up) is not timed; the timed rounds' wall time includes "
            + "everything between them (broadcast, averaging, metrics).",
        ""})
final class TrainBench implements Callable<Integer> {
  @Option(names = "--rounds", description = "Timed averaging rounds per run (default ${DEFAULT-VALUE}).",
      defaultValue = "4")
  int rounds;

  @Option(names = "--averaging-frequency", description = "Steps between averagings, k (default ${DEFAULT-VALUE}).",
      defaultValue = "4")
  int averagingFrequency;

  @Option(names = "--batch-size-per-worker", description = "Pairs per worker per step (default ${DEFAULT-VALUE}).",
      defaultValue = "4")
  int batchSizePerWorker;

  @Option(names = "--masters", split = ",", description = "Spark masters to time (default ${DEFAULT-VALUE}).",
      defaultValue = "local[2]")
  List<String> masters;

  @Option(names = "--cores-max", split = ",", description = "spark.cores.max values for spark:// masters (workers ="
      + " cores).")
  List<Integer> coresMax = List.of();

  @Option(names = "--lora-rank", paramLabel = "R", description = "Train rank-R LoRA adapters (alpha 2R on"
      + " c_attn,c_proj,c_fc, as bench model --lora-rank): only they are averaged each round; 0 = full fine-tuning"
      + " (default ${DEFAULT-VALUE}).", defaultValue = "0")
  int loraRank;

  @Option(names = "--work-dir", description = "Where data, model and outputs go (default: a temp dir, deleted after).")
  File workDir;

  @Option(names = "--json-out", description = "Also write the JSON result to this file.")
  File jsonOut;

  @Mixin SparkOptions spark;

  private static final ObjectMapper JSON = new ObjectMapper();

  @Override
  public Integer call() throws Exception {
    if (rounds < 1 || averagingFrequency < 1 || batchSizePerWorker < 1) {
      throw new IllegalArgumentException("--rounds, --averaging-frequency and --batch-size-per-worker must be >= 1");
    }
    // the bench model's adapters, so the two benches time the same thing
    LoraConfig lora = BenchCommand.ModelBench.loraConfig(loraRank, null, null);
    Config c = JobConfig.load(spark.config);
    Path dir = workDir != null ? workDir.toPath() : Files.createTempDirectory("spark-dpo-bench-train");
    try {
      Path model = dir.resolve("model");
      GptCheckpoint ckpt = GptInit.init(ReferenceBench.TINY, 1234);
      ckpt.save(model);

      Map<String, Object> result = new LinkedHashMap<>();
      result.put("bench", "train");
      result.put("averaging_frequency", averagingFrequency);
      result.put("batch_size_per_worker", batchSizePerWorker);
      result.put("timed_rounds", rounds);
      result.put("lora_rank", loraRank);
      result.put("available_processors", Runtime.getRuntime().availableProcessors());
      double single = singleProcess(ckpt, lora);
      result.put("model_single_process_tokens_per_s", Math.round(single));

      List<Map<String, Object>> runs = BenchCommand.perMaster(masters, coresMax,
          (master, max) -> spark.withMaster(master, max).session(c, c.getConfig("train.spark-conf")),
          (session, max, index) -> {
            int workers = max != null ? max : session.sparkContext().defaultParallelism();
            int steps = (rounds + 1) * averagingFrequency;
            int pairs = steps * workers * batchSizePerWorker;
            Path run = dir.resolve("run-" + index);
            Path ingest = run.resolve("ingest"), reference = run.resolve("reference");
            ReferenceBench.writeIngestOutput(session, ReferenceBench.generate(pairs, new Random(7)), ingest,
                workers, 0);
            ReferenceStage.run(session, new ReferenceStage.Options(ingest.toString(), model.toString(),
                reference.toString(), 4096, 0, false, 3600));
            TrainOptions opts = new TrainOptions(reference.toString(), model.toString(), run.resolve("out").toString(),
                TrainOptions.Objective.DPO, DpoConfig.of(0.1, 0, LossType.SIGMOID),
                TrainOptions.Optimizer.of("adamw", 1e-5, 0, WarmupSchedule.Decay.CONSTANT, 0, 1.0),
                new TrainOptions.Parallelism(workers, batchSizePerWorker, averagingFrequency),
                new TrainOptions.Schedule(1, steps, 0, 0, 3600, 0), 42, false, true, false,
                new TrainOptions.Text(null, 0, 0)).withLora(lora == null ? null : new TrainOptions.Lora(lora, false));
            Trainer.run(session, opts);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("workers", workers);
            m.putAll(timedRounds(run.resolve("out/metrics.jsonl")));
            m.put("vs_single_process", ((Number) m.get("tokens_per_s")).doubleValue() / single);
            return m;
          });
      result.put("runs", runs);
      BenchCommand.printJson(result, jsonOut);
      return 0;
    } finally {
      if (workDir == null) BenchCommand.deleteRecursively(dir);
    }
  }

  /** tokens/s over the rounds after the first: their tokens over the wall time between the first and last round's end. */
  private Map<String, Object> timedRounds(Path metrics) throws IOException {
    TreeMap<Double, Long> tokensByRoundEnd = new TreeMap<>();
    long averagedBytes = 0;
    for (String line : Files.readAllLines(metrics)) {
      JsonNode j = JSON.readTree(line);
      if (!j.has("loss")) continue;
      tokensByRoundEnd.merge(j.get("wall_time").asDouble(), j.get("tokens").asLong(), Long::sum);
      // the same every round (weights + optimizer state of every worker): on each round's last line
      if (j.has("averaged_bytes")) averagedBytes = j.get("averaged_bytes").asLong();
    }
    if (tokensByRoundEnd.size() < 2) throw new IllegalStateException("fewer than 2 averaging rounds in " + metrics);
    double first = tokensByRoundEnd.firstKey(), last = tokensByRoundEnd.lastKey();
    long tokens = tokensByRoundEnd.tailMap(first, false).values().stream().mapToLong(Long::longValue).sum();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("rounds", tokensByRoundEnd.size() - 1);
    m.put("seconds", last - first);
    m.put("tokens", tokens);
    m.put("tokens_per_s", Math.round(tokens / (last - first)));
    m.put("averaged_bytes", averagedBytes);
    return m;
  }

  /** bench model's train step (8 pairs of 256 tokens, rows over 2 threads, AdamW; with LoRA its adapters'): tokens/s. */
  private static double singleProcess(GptCheckpoint ckpt, LoraConfig lora) {
    NativeThreads.set(1, 1);
    GptParams params = GptParams.from(ckpt, DataType.FLOAT);
    Gpt gpt = Gpt.of(params).withRowThreads(2);
    if (lora != null) gpt = gpt.withAdapters(LoraParams.init(ckpt.config(), lora, 1234, DataType.FLOAT));
    int pairs = 8, t = ReferenceBench.PROMPT + ReferenceBench.RESPONSE;
    Random r = new Random(7);
    int[][] tokens = new int[2 * pairs][t];
    int[] prompts = new int[2 * pairs];
    for (int i = 0; i < 2 * pairs; i++) {
      for (int j = 0; j < t; j++) tokens[i][j] = r.nextInt(ReferenceBench.TINY.vocabSize());
      prompts[i] = ReferenceBench.PROMPT;
    }
    double[] refChosen = new double[pairs], refRejected = new double[pairs];
    int[] responseTokens = new int[pairs];
    Arrays.fill(responseTokens, ReferenceBench.RESPONSE);
    for (int i = 0; i < pairs; i++) {
      refChosen[i] = -ReferenceBench.RESPONSE * Math.log(ReferenceBench.TINY.vocabSize()) + r.nextGaussian();
      refRejected[i] = -ReferenceBench.RESPONSE * Math.log(ReferenceBench.TINY.vocabSize()) + r.nextGaussian();
    }
    BenchCommand.ModelBench.TrainStepTiming timing = BenchCommand.ModelBench.timeTrainStep(gpt, params, tokens,
        prompts, refChosen, refRejected, responseTokens, 1, 5);
    return 2.0 * pairs * t / timing.stepSeconds();
  }

}
