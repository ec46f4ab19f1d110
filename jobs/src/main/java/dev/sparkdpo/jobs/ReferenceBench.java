package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.NativeThreads;
import dev.sparkdpo.reference.LengthBatches;
import dev.sparkdpo.reference.ReferenceStage;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "reference", mixinStandardHelpOptions = true, sortOptions = false,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    description = {"Times the reference stage on Spark against the model's single-process forward.",
        "",
        "Times the reference stage on the tiny benchmark shape (vocab 4096, d 256, 4 layers, 4 heads; "
            + "pairs of 128 prompt + 128 response tokens, random ids) for each --masters entry, against the "
            + "model's own single-process reference forward on the same pairs (as bench model --threads 2: "
            + "rows over 2 threads). On a spark:// master, --cores-max 1,2 runs once per value "
            + "(spark.cores.max: 1 vs 2 one-core workers). Spark start-up, data generation and the model's "
            + "first load are not in the stage's tokens/s.",
        ""})
final class ReferenceBench implements Callable<Integer> {
  @Option(names = "--pairs", description = "Pairs scored per run (default ${DEFAULT-VALUE}).", defaultValue = "256")
  int pairs;

  @Option(names = "--masters", split = ",", description = "Spark masters to time (default ${DEFAULT-VALUE}).",
      defaultValue = "local[1],local[2]")
  List<String> masters;

  @Option(names = "--cores-max", split = ",", description = "spark.cores.max values for spark:// masters.")
  List<Integer> coresMax = List.of();

  @Option(names = "--batch-tokens", description = "Token budget per batch (default ${DEFAULT-VALUE}: 8 pairs, as"
      + " bench model).", defaultValue = "4096")
  long batchTokens;

  @Option(names = "--partitions", description = "Partitions of the generated data (default ${DEFAULT-VALUE}).",
      defaultValue = "4")
  int partitions;

  @Option(names = "--work-dir", description = "Where data, model and outputs go (default: a temp dir, deleted after).")
  File workDir;

  @Option(names = "--json-out", description = "Also write the JSON result to this file.")
  File jsonOut;

  @Mixin SparkOptions spark;

  static final GptConfig TINY = new GptConfig(4096, 256, 256, 4, 4, 1e-5);
  static final int PROMPT = 128, RESPONSE = 128;

  @Override
  public Integer call() throws Exception {
    Config c = JobConfig.load(spark.config);
    Path dir = workDir != null ? workDir.toPath() : Files.createTempDirectory("spark-dpo-bench-reference");
    try {
      Path model = dir.resolve("model");
      GptCheckpoint ckpt = GptInit.init(TINY, 1234);
      ckpt.save(model);
      int[][][] data = generate(pairs, new Random(7)); // [pair][prompt, chosen, rejected]

      Map<String, Object> result = new LinkedHashMap<>();
      result.put("bench", "reference");
      result.put("pairs", pairs);
      result.put("tokens_per_run", 2L * pairs * (PROMPT + RESPONSE));
      result.put("batch_tokens", batchTokens);
      result.put("available_processors", Runtime.getRuntime().availableProcessors());
      double modelTokensPerS = singleProcess(Gpt.from(ckpt), data);
      result.put("model_single_process_tokens_per_s", Math.round(modelTokensPerS));

      Path ingest = dir.resolve("ingest");
      List<Map<String, Object>> runs = BenchCommand.perMaster(masters, coresMax,
          (master, max) -> spark.withMaster(master, max).session(c), (session, max, index) -> {
            if (!Files.exists(ingest.resolve("_SUCCESS"))) writeIngestOutput(session, data, ingest);
            // first run loads the model in the executors; the timed run reuses them (--force: same inputs)
            ReferenceStage.Options warm = new ReferenceStage.Options(ingest.toString(), model.toString(),
                dir.resolve("out").toString(), batchTokens, partitions, true, 3600);
            ReferenceStage.run(session, warm);
            ReferenceStage.Result r = ReferenceStage.run(session, warm);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("default_parallelism", session.sparkContext().defaultParallelism());
            m.put("seconds", r.seconds());
            m.put("tokens_per_s", Math.round(r.tokensPerSecond()));
            m.put("vs_single_process", r.tokensPerSecond() / modelTokensPerS);
            m.put("padding_fraction", r.paddingFraction());
            return m;
          });
      result.put("runs", runs);
      BenchCommand.printJson(result, jsonOut);
      return 0;
    } finally {
      if (workDir == null) BenchCommand.deleteRecursively(dir);
    }
  }


  /** Reference forward in this process as bench model --threads 2 runs it (rows over 2 threads), same batches: tokens/s. */
  private double singleProcess(Gpt model, int[][][] data) {
    NativeThreads.set(1, 1);
    Gpt gpt = model.withRowThreads(2);
    int[] lengths = new int[data.length];
    Arrays.fill(lengths, PROMPT + RESPONSE);
    List<LengthBatches.Batch> batches = LengthBatches.pack(lengths, lengths, batchTokens);
    Runnable pass = () -> {
      for (LengthBatches.Batch b : batches) {
        int m = b.pairs().length;
        int[][] tokens = new int[2 * m][];
        int[] prompts = new int[2 * m];
        for (int j = 0; j < m; j++) {
          int[][] p = data[b.pairs()[j]];
          tokens[j] = DpoBatch.sequence(p[0], p[1]);
          tokens[m + j] = DpoBatch.sequence(p[0], p[2]);
          prompts[j] = prompts[m + j] = PROMPT;
        }
        gpt.responseLogProbs(tokens, prompts);
      }
    };
    pass.run(); // warm-up
    long t0 = System.nanoTime();
    pass.run();
    return 2.0 * data.length * (PROMPT + RESPONSE) / ((System.nanoTime() - t0) / 1e9);
  }

  static int[][][] generate(int n, Random r) {
    int[][][] out = new int[n][3][];
    for (int i = 0; i < n; i++) {
      out[i][0] = r.ints(PROMPT, 0, TINY.vocabSize()).toArray();
      out[i][1] = r.ints(RESPONSE, 0, TINY.vocabSize()).toArray();
      out[i][2] = r.ints(RESPONSE, 0, TINY.vocabSize()).toArray();
    }
    return out;
  }

  /** A complete tokenized ingest output of the generated pairs (what the reference stage reads). */
  private void writeIngestOutput(SparkSession session, int[][][] data, Path dir) throws IOException {
    writeIngestOutput(session, data, dir, partitions, 20);
  }

  /** Pairs i with i % evalEvery == 0 go to the eval split (evalEvery 0: none). */
  static void writeIngestOutput(SparkSession session, int[][][] data, Path dir, int partitions, int evalEvery)
      throws IOException {
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < data.length; i++) {
      int[][] p = data[i];
      rows.add(RowFactory.create("pair-" + i, "p", "c", "r", "flat", "synthetic", (long) i, boxed(p[0]), boxed(p[1]),
          boxed(p[2]), PROMPT, RESPONSE, RESPONSE, false, false,
          evalEvery > 0 && i % evalEvery == 0 ? PairSchema.EVAL : PairSchema.TRAIN));
    }
    session.createDataFrame(rows, PairSchema.TOKENIZED_PAIRS).repartition(partitions).write()
        .partitionBy(PairSchema.SPLIT).parquet(dir.resolve("pairs").toString());
    Files.writeString(dir.resolve("stats.json"), "{\"synthetic_pairs\":" + data.length + "}\n");
    Files.createFile(dir.resolve("_SUCCESS"));
  }

  private static List<Integer> boxed(int[] a) {
    return Arrays.stream(a).boxed().toList();
  }


}
