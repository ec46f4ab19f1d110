package dev.sparkdpo.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.typesafe.config.Config;
import dev.sparkdpo.data.Ingest;
import dev.sparkdpo.data.IngestOptions;
import dev.sparkdpo.data.IngestStats;
import dev.sparkdpo.data.formats.FormatOptions;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.DpoLoss;
import dev.sparkdpo.dpo.DpoResult;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.dpo.PairLogps;
import dev.sparkdpo.model.AdamW;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.GptTraining;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import dev.sparkdpo.model.NativeThreads;
import dev.sparkdpo.model.OpenBlasCore;
import dev.sparkdpo.model.Tensor;
import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.apache.spark.sql.SparkSession;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Benchmarks that print JSON (and optionally write it to a file). Speed is measured here, never in unit tests. */
@Command(name = "bench", mixinStandardHelpOptions = true, usageHelpWidth = JobConfig.HELP_WIDTH,
    usageHelpAutoWidth = true, description = "Benchmarks; each prints a JSON result.",
    subcommands = {BenchCommand.IngestBench.class, BenchCommand.ModelBench.class, ReferenceBench.class,
        TrainBench.class, GenerateBench.class})
public final class BenchCommand {

  /** Deletes a directory tree (the benches' temporary work directories). */
  /** One timed run on a session: its result fields ({@code index} counts the runs from 0). */
  interface SessionRun {
    Map<String, Object> run(SparkSession session, Integer coresMax, int index) throws Exception;
  }

  /**
   * Runs {@code run} once per --masters entry, and on spark:// masters once per --cores-max value, each on its own
   * session (stopped after it): the results, each starting with its master and spark.cores.max.
   */
  static java.util.List<Map<String, Object>> perMaster(java.util.List<String> masters, java.util.List<Integer> coresMax,
      java.util.function.BiFunction<String, Integer, SparkSession> sessions, SessionRun run) throws Exception {
    java.util.List<Map<String, Object>> runs = new java.util.ArrayList<>();
    for (String master : masters) {
      java.util.List<Integer> cores = master.startsWith("spark://") && !coresMax.isEmpty() ? coresMax
          : java.util.Arrays.asList((Integer) null);
      for (Integer max : cores) {
        SparkSession session = sessions.apply(master, max);
        try {
          Map<String, Object> m = new LinkedHashMap<>();
          m.put("master", master);
          if (max != null) m.put("spark.cores.max", max);
          m.putAll(run.run(session, max, runs.size()));
          runs.add(m);
        } finally {
          session.stop();
        }
      }
    }
    return runs;
  }

  /** Prints a benchmark's result as indented JSON, and writes it to {@code jsonOut} too if given. */
  static void printJson(Map<String, Object> result, File jsonOut) throws IOException {
    String json = new ObjectMapper().enable(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
        .writeValueAsString(result);
    System.out.println(json);
    if (jsonOut != null) Files.writeString(jsonOut.toPath(), json);
  }

  static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) return;
    try (var walk = Files.walk(dir)) {
      walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  @Command(name = "ingest", mixinStandardHelpOptions = true, sortOptions = false,
      usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
      description = {"Times ingest without and with tokenization on a generated flat JSONL corpus.",
          "",
          "Generates a synthetic flat JSONL corpus and times ingest (parse -> validate -> dedup -> write) "
              + "without and with tokenization, and with --near-dup-threshold a third time with near-duplicate "
              + "removal, scored against near-duplicates planted in the corpus (recall, precision). Spark start-up, "
              + "corpus generation and scoring are not timed. Several --pairs sizes report the scaling.",
          ""})
  static final class IngestBench implements Callable<Integer> {
    @Option(names = "--pairs", split = ",", paramLabel = "N[,N...]",
        description = "Pairs in the corpus; several (e.g. 250000,500000,1000000) run one after another and report "
            + "the scaling (default ${DEFAULT-VALUE}).", defaultValue = "1000000")
    List<Long> pairs;

    @Option(names = "--shards", description = "JSONL files the corpus is split into (default ${DEFAULT-VALUE}).",
        defaultValue = "8")
    int shards;

    @Option(names = "--tokenizer", paramLabel = "PATH",
        description = "tokenizer.json for the tokenized run (default ${DEFAULT-VALUE}; 'none' skips it).",
        defaultValue = "target/testdata/fixtures/gpt2-tokenizer/tokenizer.json")
    String tokenizer;

    @Option(names = "--max-length", description = "Token budget of the tokenized run (default ${DEFAULT-VALUE}).",
        defaultValue = "512")
    int maxLength;

    @Option(names = "--near-dup-threshold", paramLabel = "J",
        description = "Also time ingest with near-duplicate removal at Jaccard >= J and score it against the planted "
            + "near-duplicates (default ${DEFAULT-VALUE}: off, nothing planted).", defaultValue = "0")
    double nearDupThreshold;

    @Option(names = "--planted-fraction", paramLabel = "F",
        description = "With --near-dup-threshold: the fraction of records that are planted near-duplicates of an "
            + "earlier pair, at true Jaccard spread over ~0.78-1.0 (default ${DEFAULT-VALUE}).", defaultValue = "0.05")
    double plantedFraction;

    @Option(names = "--work-dir", description = "Where the corpus and outputs go (default: a temp dir, deleted after).")
    File workDir;

    @Option(names = "--json-out", description = "Also write the JSON result to this file.")
    File jsonOut;

    @Mixin SparkOptions spark;

    @Override
    public Integer call() throws IOException {
      if (pairs.isEmpty() || pairs.stream().anyMatch(n -> n < 1)) {
        throw new IllegalArgumentException("--pairs must be one or more counts >= 1, got " + pairs);
      }
      if (nearDupThreshold < 0 || nearDupThreshold > 1) {
        throw new IllegalArgumentException("--near-dup-threshold must be 0 (off) or in (0, 1], got " + nearDupThreshold);
      }
      Config c = JobConfig.load(spark.config);
      Path dir = workDir != null ? workDir.toPath() : Files.createTempDirectory("spark-dpo-bench-ingest");
      boolean cleanup = workDir == null;
      try {
        SparkSession session = spark.session(c);
        List<Map<String, Object>> runs = new java.util.ArrayList<>();
        for (long n : pairs) runs.add(runSize(session, dir.resolve("pairs-" + n), n));
        Map<String, Object> result = runs.get(0);
        if (runs.size() > 1) {
          result = new LinkedHashMap<>();
          result.put("bench", "ingest");
          result.put("runs", runs);
          result.put("scaling", scaling(runs));
        }
        printJson(result, jsonOut);
        return 0;
      } finally {
        if (cleanup) BenchCommand.deleteRecursively(dir);
      }
    }

    /** One corpus size: generate, then the timed runs (and the near-duplicate score). */
    private Map<String, Object> runSize(SparkSession session, Path dir, long n) throws IOException {
      Path corpus = dir.resolve("corpus");
      Path truth = dir.resolve("planted.tsv");    // beside the corpus, never read by ingest
      boolean nearDup = nearDupThreshold > 0;
      long t0 = System.nanoTime();
      SyntheticPreferences.Summary summary = SyntheticPreferences.write(corpus, n, shards, 7,
          nearDup ? plantedFraction : 0, nearDup ? truth : null);
      double genSeconds = (System.nanoTime() - t0) / 1e9;
      // untimed: the first ingest in a JVM pays for JIT compilation and Spark's first jobs (measured ~5 s at 200k
      // pairs on 2 cores), which would land on the plain run and flatter the near-duplicate ratio
      measure(session, corpus.resolve("part-00000.jsonl"), dir.resolve("out-warm-up"), null, 0);

      Map<String, Object> result = new LinkedHashMap<>();
      result.put("bench", "ingest");
      result.put("pairs", n);
      result.put("records", summary.records());
      result.put("corpus_bytes", summary.bytes());
      result.put("shards", shards);
      result.put("master", session.sparkContext().master());
      result.put("default_parallelism", session.sparkContext().defaultParallelism());
      result.put("available_processors", Runtime.getRuntime().availableProcessors());
      result.put("corpus_generation_s", genSeconds);
      Map<String, Object> plain = measure(session, corpus, dir.resolve("out-plain"), null, 0);
      result.put("without_tokenizer", plain);
      if (!tokenizer.equals("none")) {
        TokenizerSpec spec = new TokenizerSpec(tokenizer, maxLength, maxLength / 2, Truncation.KEEP_END, true);
        result.put("with_tokenizer", measure(session, corpus, dir.resolve("out-tokenized"), spec, 0));
      }
      if (nearDup) {
        Path out = dir.resolve("out-near-dup");
        Map<String, Object> m = measure(session, corpus, out, null, nearDupThreshold);
        List<SyntheticPreferences.Planted> planted;
        try (var lines = Files.lines(truth)) {
          planted = lines.map(SyntheticPreferences.Planted::parse).toList();
        }
        Map<NearDupScore.Key, NearDupScore.Key> removed = removedToKept(session, out);
        Map<NearDupScore.Key, String[]> texts = readPairs(corpus, new java.util.HashSet<>(removed.entrySet().stream()
            .flatMap(e -> java.util.stream.Stream.of(e.getKey(), e.getValue())).toList()));
        NearDupScore.Score score = NearDupScore.score(planted, removed,
            (r, k) -> SyntheticPreferences.jaccard(texts.get(r), texts.get(k)), nearDupThreshold);
        m.putAll(score.json(nearDupThreshold));
        m.put("elapsed_vs_without_tokenizer", (double) m.get("elapsed_s") / (double) plain.get("elapsed_s"));
        m.put("elapsed_vs_without_tokenizer_bar", 3.0);
        result.put("with_near_dup", m);
      }
      return result;
    }

    /** Per size: plain and near-dup seconds, their ratio, and seconds per 100k pairs (flat when linear). */
    private static List<Map<String, Object>> scaling(List<Map<String, Object>> runs) {
      List<Map<String, Object>> out = new java.util.ArrayList<>();
      for (Map<String, Object> run : runs) {
        Map<String, Object> s = new LinkedHashMap<>();
        long n = (long) run.get("pairs");
        double plain = (double) ((Map<?, ?>) run.get("without_tokenizer")).get("elapsed_s");
        s.put("pairs", n);
        s.put("without_tokenizer_s", plain);
        s.put("without_tokenizer_s_per_100k", plain / n * 1e5);
        if (run.get("with_near_dup") instanceof Map<?, ?> near) {
          double nd = (double) near.get("elapsed_s");
          s.put("with_near_dup_s", nd);
          s.put("with_near_dup_s_per_100k", nd / n * 1e5);
          s.put("ratio", nd / plain);
        }
        out.add(s);
      }
      return out;
    }

    /** Records removed as near-duplicates → the record kept in their place (its id mapped back via pairs/). */
    private static Map<NearDupScore.Key, NearDupScore.Key> removedToKept(SparkSession session, Path out) {
      java.util.regex.Pattern keptId = java.util.regex.Pattern.compile("of pair ([0-9a-f]{32})");
      Map<NearDupScore.Key, String> removed = new java.util.HashMap<>();
      for (org.apache.spark.sql.Row r : session.read().parquet(out.resolve("quarantine").toString())
          .where(org.apache.spark.sql.functions.col(dev.sparkdpo.data.PairSchema.REASON)
              .equalTo(dev.sparkdpo.data.QuarantineReason.NEAR_DUPLICATE.code()))
          .select(dev.sparkdpo.data.PairSchema.SOURCE, dev.sparkdpo.data.PairSchema.RECORD,
              dev.sparkdpo.data.PairSchema.DETAIL).collectAsList()) {
        java.util.regex.Matcher m = keptId.matcher(r.getString(2));
        if (!m.find()) throw new IllegalStateException("no kept pair id in near_duplicate detail: " + r.getString(2));
        removed.put(new NearDupScore.Key(fileName(r.getString(0)), r.getLong(1)), m.group(1));
      }
      Map<String, NearDupScore.Key> keptKeys = new java.util.HashMap<>();
      if (!removed.isEmpty()) {
        org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> ids = session.createDataset(
            removed.values().stream().distinct().toList(), org.apache.spark.sql.Encoders.STRING()).toDF("kept");
        for (org.apache.spark.sql.Row r : session.read().parquet(out.resolve("pairs").toString())
            .join(org.apache.spark.sql.functions.broadcast(ids),
                org.apache.spark.sql.functions.col(dev.sparkdpo.data.PairSchema.ID).equalTo(
                    org.apache.spark.sql.functions.col("kept")), "left_semi")
            .select(dev.sparkdpo.data.PairSchema.ID, dev.sparkdpo.data.PairSchema.SOURCE,
                dev.sparkdpo.data.PairSchema.RECORD).collectAsList()) {
          keptKeys.put(r.getString(0), new NearDupScore.Key(fileName(r.getString(1)), r.getLong(2)));
        }
      }
      Map<NearDupScore.Key, NearDupScore.Key> out2 = new java.util.HashMap<>();
      removed.forEach((k, id) -> out2.put(k, java.util.Objects.requireNonNull(keptKeys.get(id),
          () -> "kept pair " + id + " is not in pairs/")));
      return out2;
    }

    private static String fileName(String source) {
      return source.substring(source.lastIndexOf('/') + 1);
    }

    /** The (prompt, chosen, rejected) of the wanted records of the corpus (record = 1-based line). */
    private static Map<NearDupScore.Key, String[]> readPairs(Path corpus, java.util.Set<NearDupScore.Key> wanted)
        throws IOException {
      ObjectMapper json = new ObjectMapper();
      Map<NearDupScore.Key, String[]> out = new java.util.HashMap<>();
      java.util.Set<String> files = new java.util.TreeSet<>();
      for (NearDupScore.Key k : wanted) files.add(k.file());
      for (String file : files) {
        try (var reader = Files.newBufferedReader(corpus.resolve(file))) {
          long record = 0;
          for (String line; (line = reader.readLine()) != null; ) {
            NearDupScore.Key k = new NearDupScore.Key(file, ++record);
            if (!wanted.contains(k)) continue;
            var node = json.readTree(line);
            out.put(k, new String[] {node.get("prompt").asText(), node.get("chosen").asText(),
                node.get("rejected").asText()});
          }
        }
      }
      return out;
    }

    private static Map<String, Object> measure(SparkSession session, Path corpus, Path out, TokenizerSpec tok,
        double nearDupThreshold) {
      IngestOptions opts = new IngestOptions(List.of(corpus.toString()), out.toString(), null, FormatOptions.DEFAULTS,
          100_000, 16 << 20, nearDupThreshold, 5, 0, 0.05, 42, tok, true);
      ModelBench.resetHeapPeaks();
      IngestStats stats = Ingest.run(session, opts);
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("elapsed_s", stats.elapsedSeconds());
      m.put("pairs_per_s", stats.inputRecords() / stats.elapsedSeconds());
      m.put("input_records", stats.inputRecords());
      m.put("output_pairs", stats.outputPairs());
      m.put("quarantined", stats.quarantined());
      m.put("peak_heap_bytes", ModelBench.heapPeak());
      m.put("max_heap_bytes", Runtime.getRuntime().maxMemory());
      if (stats.tokenization() != null) m.put("tokenization", stats.tokenization());
      return m;
    }
  }

  @Command(name = "model", mixinStandardHelpOptions = true, sortOptions = false,
      usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
      description = {"Times the model's reference forward and DPO train step in one process (no Spark).",
          "",
          "Times the GPT model on random weights and tokens, as ../shared/bench/torch_dpo_bench.py does: "
              + "(a) reference forward (Gpt.responseLogProbs) and (b) a DPO train step (GptTraining forward, "
              + "sigmoid DPO loss, backward, AdamW step), --pairs pairs (default 8 = 16 sequences) of T tokens, "
              + "loss over the second half of each. tokens/s counts 2 * pairs * T tokens per step (as the torch "
              + "bench). No Spark session.",
          ""})
  static final class ModelBench implements Callable<Integer> {
    @Option(names = "--config", description = "tiny (vocab 4096, 256/4/4, T 256), gpt2 (GPT-2 small, T 512) or"
        + " gpt2-medium (355M, 1024/24/16, T 512), as the torch bench (default ${DEFAULT-VALUE}).",
        defaultValue = "tiny")
    String config;

    @Option(names = "--threads", description = "Cores to use (default: ND4J's own choice of BLAS threads).",
        defaultValue = "0")
    int threads;

    @Option(names = "--split", description = "How --threads cores share the work: rows (default: the batch's rows"
        + " split over threads, single-threaded BLAS each; fastest measured) or blas (one thread, multi-threaded"
        + " BLAS).", defaultValue = "rows")
    String split;

    @Option(names = "--op-threads", description = "With --split blas: libnd4j threads for the other ops (default"
        + " ${DEFAULT-VALUE}, the fastest measured on 2 cores; see NativeThreads).", defaultValue = "1")
    int opThreads;

    @Option(names = "--pairs", paramLabel = "N", description = "Preference pairs per step, 2N sequences (default"
        + " ${DEFAULT-VALUE}, as torch_dpo_bench.py --pairs; fewer compare big shapes sooner).", defaultValue = "8")
    int pairs;

    @Option(names = "--steps", description = "Timed steps of each kind (default ${DEFAULT-VALUE}).", defaultValue = "3")
    int steps;

    @Option(names = "--warmup", description = "Untimed steps of each kind first (default ${DEFAULT-VALUE}).",
        defaultValue = "1")
    int warmup;

    @Option(names = "--no-train", description = "Only time the reference forward (the gpt2 train step is slow).")
    boolean noTrain;

    @Option(names = "--lora-rank", paramLabel = "R", description = "Train rank-R LoRA adapters only (the model"
        + " frozen), as torch_dpo_bench.py --lora R; 0 = full fine-tuning (default ${DEFAULT-VALUE}).",
        defaultValue = "0")
    int loraRank;

    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA's alpha (default: 2R, the torch bench's)."
        + " Needs --lora-rank.")
    Double loraAlpha;

    @Option(names = "--lora-targets", paramLabel = "M", split = ",", description = "Modules with adapters (default:"
        + " c_attn,c_proj,c_fc, every linear of the blocks, as the torch bench). Needs --lora-rank.")
    List<String> loraTargets;

    @Option(names = "--json-out", description = "Also write the JSON result to this file.")
    File jsonOut;

    /** The torch bench's LoRA: adapters on every Linear of the blocks (qkv, proj, fc, out = GPT-2's names). */
    static final List<String> BENCH_LORA_TARGETS = List.of("c_attn", "c_proj", "c_fc");

    private static final double LR = 1e-5; // as the torch bench

    @Override
    public Integer call() throws IOException {
      GptConfig cfg;
      int t;
      switch (config) {
        case "tiny" -> { cfg = new GptConfig(4096, 256, 256, 4, 4, 1e-5); t = 256; }
        case "gpt2" -> { cfg = new GptConfig(50257, 1024, 768, 12, 12, 1e-5); t = 512; }
        case "gpt2-medium" -> { cfg = new GptConfig(50257, 1024, 1024, 24, 16, 1e-5); t = 512; }
        default -> throw new IllegalArgumentException("--config must be tiny, gpt2 or gpt2-medium, got " + config);
      }
      if (steps < 1 || warmup < 0) throw new IllegalArgumentException("--steps must be >= 1 and --warmup >= 0");
      if (pairs < 1) throw new IllegalArgumentException("--pairs must be >= 1, got " + pairs);
      LoraConfig lora = loraConfig(loraRank, loraAlpha, loraTargets);
      if (!split.equals("rows") && !split.equals("blas")) {
        throw new IllegalArgumentException("--split must be rows or blas, got " + split);
      }
      boolean rowSplit = threads > 1 && split.equals("rows");
      if (rowSplit) NativeThreads.set(1, 1);
      else if (threads > 0) NativeThreads.set(threads, opThreads);

      GptParams params = GptInit.initParams(cfg, 1234, DataType.FLOAT); // no heap copy of the whole model
      Gpt gpt = Gpt.of(params).withRowThreads(rowSplit ? threads : 1); // reads the parameters in place
      // LoRA: B = 0 as PEFT's and the torch bench's init, so the forward computes base + a zero update, as theirs
      if (lora != null) gpt = gpt.withAdapters(LoraParams.init(cfg, lora, 1234, DataType.FLOAT));

      // 2 * pairs random sequences: rows 0..pairs-1 chosen, the rest rejected; prompt = first half
      Random r = new Random(7);
      int rows = 2 * pairs;
      int[][] tokens = new int[rows][t];
      int[] promptLengths = new int[rows];
      for (int i = 0; i < rows; i++) {
        for (int j = 0; j < t; j++) tokens[i][j] = r.nextInt(cfg.vocabSize());
        promptLengths[i] = t / 2;
      }
      double[] refChosen = new double[pairs], refRejected = new double[pairs];
      int[] responseTokens = new int[pairs];
      double uniform = -(t / 2) * Math.log(cfg.vocabSize()); // about what a random model gives
      for (int i = 0; i < pairs; i++) {
        refChosen[i] = uniform + r.nextGaussian();
        refRejected[i] = uniform + r.nextGaussian();
        responseTokens[i] = t - t / 2;
      }
      long tokensPerStep = (long) rows * t;

      Map<String, Object> result = new LinkedHashMap<>();
      result.put("bench", "model");
      result.put("config", config);
      result.put("params", params.flat().length());
      result.put("lora_rank", loraRank);
      if (lora != null) {
        result.put("lora_alpha", lora.alpha());
        result.put("lora_targets", lora.targets());
      }
      result.put("trainable_params", gpt.trainableParameterCount());
      result.put("pairs", pairs);
      result.put("seq", t);
      result.put("threads", threads);
      result.put("split", rowSplit ? "rows" : "blas");
      result.put("row_threads", gpt.rowThreadsCount());
      result.put("nd4j_op_threads", NativeThreads.opThreads());
      result.put("blas_threads", NativeThreads.blasThreads());
      result.put("openblas_thread_timeout_env", NativeThreads.openBlasThreadTimeout());
      result.put("openblas_core", OpenBlasCore.loadedCoreName()); // the kernels products ran on (see OpenBlasCore)
      result.put("openblas_core_choice", OpenBlasCore.prepare());
      result.put("omp_num_threads_env", System.getenv("OMP_NUM_THREADS"));
      result.put("available_processors", Runtime.getRuntime().availableProcessors());
      result.put("steps", steps);
      result.put("warmup", warmup);

      // (a) reference forward, with heap and off-heap peaks sampled while it runs
      for (int i = 0; i < warmup; i++) gpt.responseLogProbs(tokens, promptLengths);
      resetHeapPeaks();
      try (OffHeapSampler offHeap = new OffHeapSampler()) {
        long t0 = System.nanoTime();
        for (int i = 0; i < steps; i++) gpt.responseLogProbs(tokens, promptLengths);
        double refSeconds = (System.nanoTime() - t0) / 1e9 / steps;
        result.put("ref_forward_tokens_per_s", Math.round(tokensPerStep / refSeconds));
        result.put("ref_forward_step_s", round(refSeconds));
        result.put("ref_peak_heap_bytes", heapPeak());
        result.put("ref_peak_javacpp_total_bytes", offHeap.peakTotal.get());
        result.put("ref_peak_physical_bytes", offHeap.peakPhysical.get());
      }

      // (b) train step: forward, DPO loss, backward into a flat gradient vector, AdamW on the parameters in place
      // (LoRA: the adapters' gradient vector, AdamW on the adapters)
      if (!noTrain) {
        TrainStepTiming timing = timeTrainStep(gpt, params, tokens, promptLengths, refChosen, refRejected,
            responseTokens, warmup, steps);
        result.put("train_tokens_per_s", Math.round(tokensPerStep / timing.stepSeconds()));
        result.put("train_step_s", round(timing.stepSeconds()));
        result.put("train_forward_backward_s", round(timing.forwardBackwardSeconds()));
        result.put("train_adamw_s", round(timing.adamwSeconds()));
        result.put("train_loss", timing.loss());
      }
      result.put("peak_heap_bytes", heapPeak());
      result.put("javacpp_total_bytes", Pointer.totalBytes());
      result.put("physical_bytes", Pointer.physicalBytes());
      result.put("memory_mb", memoryTable(params, gpt, noTrain));
      result.put("max_rss_mb", GenerateBench.maxRssMb());

      String json = new ObjectMapper().writeValueAsString(result);
      System.out.println(json);
      if (jsonOut != null) Files.writeString(jsonOut.toPath(), json);
      return 0;
    }

    record TrainStepTiming(double stepSeconds, double forwardBackwardSeconds, double adamwSeconds, double loss) {}

    /**
     * The bench's LoRA settings, null for rank 0. Defaults are the torch bench's (alpha 2r, every linear), not
     * train's (PEFT's alpha 8 on c_attn): the two benches must time the same adapters.
     */
    static LoraConfig loraConfig(int rank, Double alpha, List<String> targets) {
      if (rank < 0) throw new IllegalArgumentException("--lora-rank must be >= 0 (0 = full fine-tuning), got " + rank);
      if (rank == 0) {
        if (alpha != null || targets != null) {
          throw new IllegalArgumentException("--lora-alpha and --lora-targets need --lora-rank R > 0: add it, or drop"
              + " them");
        }
        return null;
      }
      return new LoraConfig(rank, alpha != null ? alpha : 2.0 * rank, 0,
          targets != null ? targets : BENCH_LORA_TARGETS);
    }

    /**
     * The model's own single-process DPO train step (GptTraining forward + sigmoid loss + backward, AdamW in place),
     * rows 0..n-1 chosen and n..2n-1 rejected: mean seconds per step over {@code steps} after {@code warmup}.
     */
    static TrainStepTiming timeTrainStep(Gpt gpt, GptParams params, int[][] tokens, int[] promptLengths,
        double[] refChosen, double[] refRejected, int[] responseTokens, int warmup, int steps) {
      int pairs = refChosen.length;
      int rows = tokens.length;
      DpoConfig dpo = DpoConfig.of(0.1, 0.0, LossType.SIGMOID);
      AdamW opt = AdamW.defaults();
      double[] phase = new double[2]; // forward+loss+backward, optimizer
      double[] loss = {Double.NaN};
      Function<double[], double[]> dpoGradient = logps -> {
        PairLogps pl = new PairLogps(Arrays.copyOfRange(logps, 0, pairs),
            Arrays.copyOfRange(logps, pairs, rows), refChosen, refRejected, responseTokens, responseTokens);
        DpoResult res = DpoLoss.compute(dpo, pl);
        loss[0] = res.loss();
        double[] dSeq = new double[rows];
        System.arraycopy(res.dPolicyChosen(), 0, dSeq, 0, pairs);
        System.arraycopy(res.dPolicyRejected(), 0, dSeq, pairs, pairs);
        return dSeq;
      };
      // full fine-tuning: every parameter's gradient and AdamW over all of them; LoRA: the adapters' only
      LoraParams adapters = gpt.adapters();
      GptTraining training = adapters == null ? new GptTraining(gpt) : null;
      GptParams grads = adapters == null ? GptParams.zeros(gpt.config(), params.dataType()) : null;
      LoraParams adapterGrads = adapters == null ? null
          : LoraParams.zeros(gpt.config(), adapters.lora(), adapters.dataType());
      for (int i = 0; i < warmup + steps; i++) {
        if (i == warmup) Arrays.fill(phase, 0);
        long a = System.nanoTime();
        if (adapters == null) training.step(tokens, promptLengths, dpoGradient, grads);
        else gpt.trainingStep(tokens, promptLengths, dpoGradient, adapterGrads.flat());
        long b = System.nanoTime();
        if (adapters == null) opt.step(params.views(), grads.views(), LR);
        else opt.step(adapters.views(), adapterGrads.views(), LR);
        long c = System.nanoTime();
        phase[0] += (b - a) / 1e9;
        phase[1] += (c - b) / 1e9;
      }
      return new TrainStepTiming((phase[0] + phase[1]) / steps, phase[0] / steps, phase[1] / steps, loss[0]);
    }

    /**
     * Where the memory goes, MB per buffer: the parameters, the step's gradient vector (and one per extra row
     * thread), AdamW's two moments, then each ND4J workspace as its threads left it (gpt-pass: the kept
     * activations; gpt-block: one block's temporaries, forward or backward; gpt-logits: a chunk of logits), and the
     * JVM heap's peak. The rest of max_rss_mb is native libraries, thread stacks and allocator slack.
     */
    private static Map<String, Object> memoryTable(GptParams params, Gpt gpt, boolean noTrain) {
      double mb = 1 << 20;
      long paramBytes = params.flat().length() * params.dataType().width();
      // what trains: every parameter, or with LoRA the adapters (their gradients and moments are the adapters' size)
      long trainableBytes = gpt.trainableParameterCount() * params.dataType().width();
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("parameters", Math.round(paramBytes / mb));
      if (gpt.adapters() != null) m.put("adapters", megabytes(trainableBytes));
      if (!noTrain) {
        m.put("gradients", megabytes((double) trainableBytes * gpt.rowThreadsCount()));
        m.put("adamw_moments", megabytes(2.0 * trainableBytes));
      }
      dev.sparkdpo.model.Workspaces.sizes().forEach((id, bytes) -> m.put("workspace " + id, Math.round(bytes / mb)));
      m.put("jvm_heap_peak", Math.round(heapPeak() / mb));
      return m;
    }

    static void resetHeapPeaks() {
      for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
        if (pool.getType() == MemoryType.HEAP) pool.resetPeakUsage();
      }
    }

    /** Sum of the heap pools' peak usage since the last reset (an upper bound: pools peak at different times). */
    static long heapPeak() {
      long sum = 0;
      for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
        if (pool.getType() == MemoryType.HEAP) sum += pool.getPeakUsage().getUsed();
      }
      return sum;
    }

    /** Whole MB, or to 0.01 MB below 10 MB (LoRA's adapters of a small model would round to 0). */
    private static Number megabytes(double bytes) {
      double mb = bytes / (1 << 20);
      return mb >= 10 ? (Number) Math.round(mb) : (Number) (Math.round(mb * 100) / 100.0);
    }

    private static double round(double seconds) {
      return Math.round(seconds * 1e4) / 1e4;
    }

    /**
     * Samples off-heap figures every 5 ms: Pointer.totalBytes() (native buffers JavaCPP's deallocators track; ND4J's
     * arrays bypass it, so it stays small; ND4J's AllocationsTracker reads 0 on CPU, so it is not reported) and
     * Pointer.physicalBytes() (the process's resident set: heap + native, the honest off-heap figure).
     */
    private static final class OffHeapSampler implements AutoCloseable {
      final AtomicLong peakTotal = new AtomicLong(Pointer.totalBytes());
      final AtomicLong peakPhysical = new AtomicLong(Pointer.physicalBytes());
      private volatile boolean running = true;
      private final Thread thread;

      OffHeapSampler() {
        thread = new Thread(() -> {
          while (running) {
            peakTotal.accumulateAndGet(Pointer.totalBytes(), Math::max);
            peakPhysical.accumulateAndGet(Pointer.physicalBytes(), Math::max);
            try {
              Thread.sleep(5);
            } catch (InterruptedException e) {
              return;
            }
          }
        }, "offheap-sampler");
        thread.setDaemon(true);
        thread.start();
      }

      @Override
      public void close() {
        running = false;
        try {
          thread.join();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        peakTotal.accumulateAndGet(Pointer.totalBytes(), Math::max);
        peakPhysical.accumulateAndGet(Pointer.physicalBytes(), Math::max);
      }
    }
  }
}
