package dev.sparkdpo.eval;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.first;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.sha2;
import static org.apache.spark.sql.functions.substring;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.io.HadoopConf;
import dev.sparkdpo.io.ProgressTicker;
import dev.sparkdpo.io.HadoopFiles;
import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.executor.ExecutorModels;
import dev.sparkdpo.io.ModelFingerprint;
import dev.sparkdpo.reference.ReferenceScorer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The evaluate stage: does the policy behave better than the reference? Two measurements, both across executors:
 *
 * <ol>
 *   <li>Preference metrics on the eval split ({@code split=eval} of the data's pairs/): both models score every eval
 *       pair ({@link ReferenceScorer#pairLogps}, the reference stage's length-packed batches); the driver computes
 *       accuracy and mean margin of DPO's implicit reward for the policy, and of the raw log-prob margin for the
 *       reference ({@link EvalMetrics}).</li>
 *   <li>Generation: the first {@code prompts} distinct eval prompts in a seeded hash order, K paired samples from each
 *       model per prompt ({@link SampleGenerator}), each scored by both models and by the reward; KL(π || π_ref)
 *       estimated from the policy's samples, win rate from the pairs.</li>
 * </ol>
 *
 * <p>Output (through {@link StageOutput}): {@code eval.json}, {@code samples.jsonl} (the contract the report reads)
 * and the report. The fingerprint covers both models, the tokenizer, the data, the reward file and every setting: a
 * rerun with the same fingerprint is skipped.
 */
public final class EvaluateStage {
  private static final Logger LOG = LoggerFactory.getLogger(EvaluateStage.class);

  public static final String STAGE = "evaluate";
  public static final String EVAL_JSON = "eval.json";
  public static final String SAMPLES_JSONL = "samples.jsonl";

  /** snake_case names from the records' components: promptId -> prompt_id, as the contract spells them. */
  static final ObjectMapper JSON = new ObjectMapper()
      .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE);

  private EvaluateStage() {}

  /** What a run did; {@code skipped} when a complete output with the same fingerprint existed. */
  public record Result(boolean skipped, String fingerprint, String output, long pairs, int prompts, int samples,
      double klMean, double winRate, long modelLoads, double seconds) {}

  /** eval.json. */
  public record EvalJson(PreferenceJson preference, EvalMetrics.Samples policy, EvalMetrics.Samples reference,
      double klMean, double klStd, double winRate, int samples, int prompts, double beta, String label,
      Settings settings) {}

  public record PreferenceJson(EvalMetrics.Preference policy, EvalMetrics.Preference reference) {}

  public record Settings(String data, String model, String referenceModel, String reward, int prompts,
      int samplesPerPrompt, int maxNewTokens, double temperature, double topP, long seed) {}

  public static Result run(SparkSession spark, EvaluateOptions given) {
    long t0 = System.nanoTime();
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    StageOutput.requireComplete("--data", given.data(), conf, "reference", "ingest", "generate-pairs");
    String data = HadoopFiles.qualified(given.data(), conf);
    String policyDir = HadoopFiles.qualified(given.model(), conf);
    String referenceDir = HadoopFiles.qualified(given.referenceModel(), conf);
    String output = HadoopFiles.qualified(given.output(), conf);
    JsonNode policyConfig = modelConfig(policyDir, "--model " + given.model(), conf);
    JsonNode referenceConfig = modelConfig(referenceDir, "--reference-model " + given.referenceModel(), conf);
    int vocab = policyConfig.path("vocab_size").asInt();
    if (referenceConfig.path("vocab_size").asInt() != vocab) {
      throw new IllegalArgumentException("--reference-model " + given.referenceModel() + " has a vocabulary of "
          + referenceConfig.path("vocab_size").asInt() + " ids, --model " + given.model() + " of " + vocab
          + ": the two must share a tokenizer; give the reference model the policy was trained against");
    }
    String tokenizerJson = tokenizerJson(policyDir, given.model(), conf);
    RewardModel reward = RewardModel.parse(given.reward(), conf);
    int eos = eosId(policyConfig, vocab);

    String policyFp = ModelFingerprint.ofModel(policyDir, conf);
    String referenceFp = ModelFingerprint.ofModel(referenceDir, conf);
    Settings settings = new Settings(given.data(), given.model(), given.referenceModel(), reward.spec(),
        given.prompts(), given.samplesPerPrompt(), given.maxNewTokens(), given.temperature(), given.topP(),
        given.seed());
    String fingerprint = StageOutput.sha256(String.join("\n", "policy=" + policyFp, "reference=" + referenceFp,
        "tokenizer=" + fileHash(tokenizerJson, conf), "data=" + dataFingerprint(data, conf),
        "reward=" + reward.fingerprint(), "beta=" + given.beta(), "label=" + label(given), "settings="
            + write(new Settings("", "", "", "", given.prompts(), given.samplesPerPrompt(), given.maxNewTokens(),
                given.temperature(), given.topP(), given.seed()), false)));
    try (StageOutput out = StageOutput.open(STAGE, "--output", output, List.of(
        new StageOutput.Input("--data", data), new StageOutput.Input("--model", policyDir),
        new StageOutput.Input("--reference-model", referenceDir)), conf)) {
      String existing = out.completeFingerprint();
      if (!given.force() && fingerprint.equals(existing)) {
        LOG.info("evaluate: {} is complete with the same fingerprint {}: nothing to do (--force recomputes)", output,
            fingerprint.substring(0, 12));
        return new Result(true, fingerprint, output, 0, 0, 0, Double.NaN, Double.NaN, 0, 0);
      }
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      LongAccumulator loads = jsc.sc().longAccumulator("evaluate model loads");
      SampleGenerator.Models models = new SampleGenerator.Models(policyDir, policyFp, referenceDir, referenceFp,
          tokenizerJson);
      HadoopConf hadoopConf = new HadoopConf(conf);

      Dataset<Row> evalPairs = evalPairs(spark, data, given.data());
      double[][] logps = pairLogps(jsc, evalPairs, models, hadoopConf, loads);
      EvalMetrics.Preference policyPref = EvalMetrics.policy(given.beta(), logps[0], logps[1], logps[2], logps[3]);
      EvalMetrics.Preference referencePref = EvalMetrics.reference(logps[2], logps[3]);
      LOG.info("evaluate: {} eval pairs: policy accuracy {} margin {}, reference accuracy {}", policyPref.pairs(),
          fmt(policyPref.accuracy()), fmt(policyPref.marginMean()), fmt(referencePref.accuracy()));

      List<EvalSamples.Prompt> prompts = prompts(evalPairs, given.prompts(), given.seed());
      SampleGenerator generator = new SampleGenerator(models, hadoopConf, reward, given.samplesPerPrompt(),
          new Completions.Sampling(given.temperature(), given.topP(), given.maxNewTokens(), eos),
          jsc.sc().longAccumulator("evaluate prompts"), loads);
      List<EvalSamples.Sample> samples = generate(jsc, prompts, generator, given.progressSeconds());

      out.begin(fingerprint);
      double[] kl = EvalMetrics.klTerms(samples);
      EvalJson eval = new EvalJson(new PreferenceJson(policyPref, referencePref),
          EvalMetrics.samples(samples.stream().map(EvalSamples.Sample::policy).toList(), true),
          EvalMetrics.samples(samples.stream().map(EvalSamples.Sample::reference).toList(), false),
          EvalMetrics.mean(kl), EvalMetrics.std(kl), EvalMetrics.winRate(samples), samples.size(), prompts.size(),
          given.beta(), label(given), settings);
      // into the output's local directory (staged and uploaded at commit on hdfs:/s3a:): the report reads them there
      java.nio.file.Path dir = out.localDir();
      StringBuilder jsonl = new StringBuilder();
      for (EvalSamples.Sample s : samples) jsonl.append(write(s, false)).append('\n');
      try {
        java.nio.file.Files.writeString(dir.resolve(EVAL_JSON), write(eval, true) + "\n");
        java.nio.file.Files.writeString(dir.resolve(SAMPLES_JSONL), jsonl.toString());
      } catch (IOException e) {
        throw new UncheckedIOException("writing " + EVAL_JSON + " and " + SAMPLES_JSONL + ": " + e.getMessage(), e);
      }
      writeReport(out, given.trainMetrics(), conf);
      out.commit();
      double seconds = (System.nanoTime() - t0) / 1e9;
      LOG.info("evaluate: {} prompts x {} samples: kl {}, win rate {}, reward policy {} vs reference {}, {} s → {}",
          prompts.size(), given.samplesPerPrompt(), fmt(eval.klMean()), fmt(eval.winRate()),
          fmt(eval.policy().rewardMean()), fmt(eval.reference().rewardMean()), String.format("%.1f", seconds), output);
      return new Result(false, fingerprint, output, policyPref.pairs(), prompts.size(), samples.size(),
          eval.klMean(), eval.winRate(), loads.value(), seconds);
    }
  }

  /**
   * The report (plots + report.html) into the output being written, from this run's eval.json and samples.jsonl and
   * the train run's metrics.jsonl (null: none).
   */
  static void writeReport(StageOutput out, String trainDir, Configuration conf) {
    java.nio.file.Path dir = out.localDir();
    String metricsFile = trainDir == null ? null : new Path(trainDir, "metrics.jsonl").toString();
    java.nio.file.Path metrics = metricsFile == null ? null : HadoopFiles.localFile(metricsFile, conf);
    // the page names the output where it will be after the commit, not the temporary directory it is drawn in
    dev.sparkdpo.report.Report.Result report = dev.sparkdpo.report.Report.write(dir, metrics, List.of(dir),
        new dev.sparkdpo.report.Report.Shown(metricsFile == null ? null : StageOutput.show(new Path(metricsFile)),
            List.of(StageOutput.show(out.target()))));
    LOG.debug("evaluate: report {} with {} plots (train metrics {})", report.html(), report.plots().size(), metrics);
  }

  // ------------------------------------------------------------------------------------------------ preference

  private static Dataset<Row> evalPairs(SparkSession spark, String data, String givenData) {
    Dataset<Row> pairs = spark.read().parquet(new Path(data, "pairs").toString());
    for (String column : List.of(PairSchema.ID, PairSchema.SPLIT, PairSchema.PROMPT, PairSchema.PROMPT_IDS,
        PairSchema.CHOSEN_IDS, PairSchema.REJECTED_IDS)) {
      if (!Arrays.asList(pairs.columns()).contains(column)) {
        throw new IllegalArgumentException("--data " + givenData + ": pairs/ has no " + column + " column; evaluate"
            + " needs a tokenized ingest (or reference) output: run ingest with --tokenizer <the model's tokenizer>");
      }
    }
    return pairs.filter(col(PairSchema.SPLIT).equalTo(PairSchema.EVAL));
  }

  /** Per eval pair: policy chosen, policy rejected, reference chosen, reference rejected summed log-probs. */
  private static double[][] pairLogps(JavaSparkContext jsc, Dataset<Row> evalPairs, SampleGenerator.Models models,
      HadoopConf conf, LongAccumulator loads) {
    jsc.setJobDescription("evaluate: eval pairs under the policy and the reference");
    List<double[]> rows = evalPairs.select(PairSchema.ID, PairSchema.PROMPT_IDS, PairSchema.CHOSEN_IDS,
        PairSchema.REJECTED_IDS).javaRDD().mapPartitions((Iterator<Row> it) -> {
          List<Row> buffer = new ArrayList<>();
          it.forEachRemaining(buffer::add);
          int n = buffer.size();
          if (n == 0) return List.<double[]>of().iterator();
          String[] ids = new String[n];
          int[][] prompt = new int[n][], chosen = new int[n][], rejected = new int[n][];
          for (int i = 0; i < n; i++) {
            Row r = buffer.get(i);
            ids[i] = r.getString(0);
            prompt[i] = PairSchema.ids(r, PairSchema.PROMPT_IDS);
            chosen[i] = PairSchema.ids(r, PairSchema.CHOSEN_IDS);
            rejected[i] = PairSchema.ids(r, PairSchema.REJECTED_IDS);
          }
          double[][] out = new double[n][4];
          String[] dirs = {models.policyDir(), models.referenceDir()};
          String[] fps = {models.policyFingerprint(), models.referenceFingerprint()};
          for (int m = 0; m < 2; m++) {
            int column = 2 * m;
            ReferenceScorer.pairLogps(ExecutorModels.get(dirs[m], fps[m], conf.get(), loads), ids, prompt, chosen,
                rejected, BATCH_TOKENS, ReferenceScorer.DEFAULT_ATTENTION_BYTES, (batch, logps) -> {
                  int b = batch.pairs().length;
                  for (int j = 0; j < b; j++) {
                    out[batch.pairs()[j]][column] = logps[j];
                    out[batch.pairs()[j]][column + 1] = logps[b + j];
                  }
                });
          }
          return Arrays.asList(out).iterator();
        }).collect();
    jsc.setJobDescription(null);
    if (rows.isEmpty()) {
      throw new IllegalArgumentException("--data has no eval pairs (split=eval is empty): re-run ingest with"
          + " --eval-fraction > 0");
    }
    double[][] columns = new double[4][rows.size()];
    for (int i = 0; i < rows.size(); i++) for (int c = 0; c < 4; c++) columns[c][i] = rows.get(i)[c];
    return columns;
  }

  /** The reference stage's batch budget; eval pairs are few. */
  private static final long BATCH_TOKENS = 16384;

  // ------------------------------------------------------------------------------------------------ generation

  /**
   * The first {@code n} distinct eval prompts (by token ids) in the order of sha256(seed + ":" + prompt_id): a seeded
   * sample that does not depend on how the data is partitioned. prompt_id: the first 16 hex digits of sha256 of the
   * prompt's token ids as text ("[1, 2, 3]"); a prompt's text is the smallest of its pairs' prompt texts.
   */
  static List<EvalSamples.Prompt> prompts(Dataset<Row> evalPairs, int n, long seed) {
    Dataset<Row> distinct = evalPairs
        .withColumn("prompt_id", substring(sha2(col(PairSchema.PROMPT_IDS).cast("string"), 256), 1, 16))
        .groupBy("prompt_id").agg(min(PairSchema.PROMPT).as(PairSchema.PROMPT),
            first(PairSchema.PROMPT_IDS).as(PairSchema.PROMPT_IDS))
        .withColumn("order", sha2(concat(lit(seed + ":"), col("prompt_id")), 256))
        .orderBy("order", "prompt_id").limit(n);
    List<EvalSamples.Prompt> out = new ArrayList<>();
    for (Row r : distinct.collectAsList()) {
      String id = r.getAs("prompt_id");
      out.add(new EvalSamples.Prompt(id, r.getAs(PairSchema.PROMPT), PairSchema.ids(r, PairSchema.PROMPT_IDS),
          promptSeed(seed, id)));
    }
    return out;
  }

  /** The sampler seed of a prompt: the first 63 bits of sha256(seed + ":" + prompt_id). */
  public static long promptSeed(long seed, String promptId) {
    byte[] h = StageOutput.sha256(seed + ":" + promptId).substring(0, 16).getBytes(StandardCharsets.US_ASCII);
    return Long.parseUnsignedLong(new String(h, StandardCharsets.US_ASCII), 16) >>> 1;
  }

  private static List<EvalSamples.Sample> generate(JavaSparkContext jsc, List<EvalSamples.Prompt> prompts,
      SampleGenerator generator, long progressSeconds) {
    int total = prompts.size();
    int slices = Math.max(1, Math.min(total, jsc.defaultParallelism()));
    LongAccumulator done = generator.promptsDone();
    long started = System.nanoTime();
    try (ProgressTicker ticker = ProgressTicker.every("evaluate-progress", progressSeconds,
        () -> logProgress(done.value(), total, started))) {
      jsc.setJobDescription("evaluate: sample " + total + " prompts from the policy and the reference");
      List<String> json = prompts.stream().map(p -> write(p, false)).toList();
      List<EvalSamples.Sample> samples = jsc.parallelize(json, slices).mapPartitions(generator::generateJson).collect()
          .stream().map(line -> read(line, EvalSamples.Sample.class)).toList();
      logProgress(total, total, started);
      return samples;
    } finally {
      jsc.setJobDescription(null);
    }
  }

  private static void logProgress(long done, int total, long started) {
    double seconds = (System.nanoTime() - started) / 1e9;
    double rate = seconds > 0 ? done / seconds : 0;
    String eta = rate > 0 ? String.format("%.0f s", (total - done) / rate) : "?";
    LOG.info("evaluate: {}/{} prompts sampled, {} prompts/s, ETA {}", done, total, String.format("%.2f", rate), eta);
  }

  // ------------------------------------------------------------------------------------------------ inputs

  private static String label(EvaluateOptions o) {
    if (o.label() != null && !o.label().isBlank()) return o.label();
    if (o.trainMetrics() != null) return new Path(o.trainMetrics()).getName();
    Path model = new Path(o.model());
    // a train output's final model is <run>/model: the run's name says more
    return model.getName().equals("model") && model.getParent() != null ? model.getParent().getName() : model.getName();
  }

  /** config.json of a model directory, after checking that config.json and model.safetensors are there. */
  public static JsonNode modelConfig(String dir, String what, Configuration conf) {
    try {
      Path p = new Path(dir);
      FileSystem fs = p.getFileSystem(conf);
      if (!fs.isDirectory(p)) {
        throw new IllegalArgumentException(what + " does not exist or is not a directory: expected a Hugging Face"
            + " model directory (config.json, model.safetensors)");
      }
      for (String name : List.of(GptCheckpoint.CONFIG, GptCheckpoint.WEIGHTS)) {
        if (!fs.isFile(new Path(p, name))) {
          throw new IllegalArgumentException(what + " has no " + name + ": expected a Hugging Face model directory"
              + " (config.json, model.safetensors)");
        }
      }
      try (InputStream in = fs.open(new Path(p, GptCheckpoint.CONFIG))) {
        return new ObjectMapper().readTree(in);
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(what + ": cannot read config.json (" + e.getMessage() + ")");
    }
  }

  /**
   * config.json's eos_token_id, or -1 (no EOS: every sample runs to max-new-tokens) when it is absent or outside the
   * vocabulary (a tiny test model that keeps GPT-2's 50256 with 1000 ids).
   */
  public static int eosId(JsonNode config, int vocab) {
    JsonNode eos = config.path("eos_token_id");
    if (eos.isArray()) eos = eos.path(0);
    if (!eos.isInt()) return -1;
    int id = eos.asInt();
    if (id < 0 || id >= vocab) {
      LOG.warn("evaluate: config.json's eos_token_id {} is outside the vocabulary of {} ids: sampling without EOS", id,
          vocab);
      return -1;
    }
    return id;
  }

  /**
   * The policy's tokenizer.json, qualified (executors open it through their local copy, {@link HadoopFiles#local}; a
   * file: model must be on a disk every executor shares).
   */
  private static String tokenizerJson(String policyDir, String givenModel, Configuration conf) {
    Path p = new Path(policyDir, GptCheckpoint.TOKENIZER);
    try {
      if (!p.getFileSystem(conf).isFile(p)) {
        throw new IllegalArgumentException("--model " + givenModel + " has no tokenizer.json: evaluate decodes"
            + " completions with it; copy the tokenizer.json the data was tokenized with into the model directory");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + p + ": " + e.getMessage(), e);
    }
    return p.toString();
  }

  public static String fileHash(String file, Configuration conf) {
    try {
      Path p = new Path(file);
      return StageOutput.sha256(HadoopFiles.readText(p.getFileSystem(conf), p));
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
    }
  }

  /** The data's manifest fingerprint (if any) and every pairs/ file's relative path and length (not its bytes). */
  static String dataFingerprint(String dataDir, Configuration conf) {
    try {
      Path root = new Path(dataDir);
      FileSystem fs = root.getFileSystem(conf);
      StageOutput.Manifest manifest = fs.exists(new Path(root, StageOutput.MANIFEST))
          ? StageOutput.readManifest(fs, root) : null;
      Path pairs = fs.makeQualified(new Path(root, "pairs"));
      List<String> entries = new ArrayList<>();
      var files = fs.listFiles(pairs, true);
      while (files.hasNext()) {
        FileStatus f = files.next();
        entries.add(f.getPath().toString().substring(pairs.toString().length()) + "\t" + f.getLen());
      }
      entries.sort(null);
      return StageOutput.sha256((manifest == null ? "none" : manifest.fingerprint()) + "\n"
          + String.join("\n", entries));
    } catch (IOException e) {
      throw new UncheckedIOException("listing " + dataDir + "/pairs: " + e.getMessage(), e);
    }
  }

  /** JSON of a record (snake_case names), as samples.jsonl and eval.json are written. */
  public static String write(Object value, boolean pretty) {
    try {
      return pretty ? JSON.writer(SerializationFeature.INDENT_OUTPUT).writeValueAsString(value)
          : JSON.writeValueAsString(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static <T> T read(String json, Class<T> type) {
    try {
      return JSON.readValue(json, type);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static String fmt(double x) {
    return String.format("%.4f", x);
  }
}
