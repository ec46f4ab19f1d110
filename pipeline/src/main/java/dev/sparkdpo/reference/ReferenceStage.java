package dev.sparkdpo.reference;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.data.TokenIds;
import dev.sparkdpo.io.HadoopFiles;
import dev.sparkdpo.io.ModelFingerprint;
import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.io.HadoopConf;
import dev.sparkdpo.io.ProgressTicker;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.Safetensors;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.MetadataBuilder;
import org.apache.spark.sql.types.StructType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The reference stage: the frozen reference model's summed response log-probs of every pair of an ingest output,
 * computed across executors and stored beside the pair's columns, so that training never runs the reference model.
 *
 * <p>Output: {@code pairs/} (Parquet, partitioned by split: the ingest columns + {@value #REF_CHOSEN} and
 * {@value #REF_REJECTED}; chosen_len / rejected_len give the response lengths for length-normalised losses),
 * {@code reference.json} (fingerprints, counts, padding, throughput) and {@code _SUCCESS}, committed atomically.
 * The combined fingerprint is also in the Parquet footer (Spark's schema metadata of the two columns).
 */
public final class ReferenceStage {
  private static final Logger LOG = LoggerFactory.getLogger(ReferenceStage.class);

  public static final String REF_CHOSEN = "ref_chosen_logp";
  public static final String REF_REJECTED = "ref_rejected_logp";
  public static final String FINGERPRINT_KEY = "spark_dpo.reference.fingerprint";
  public static final String REFERENCE_JSON = "reference.json";

  private ReferenceStage() {}

  /** What {@code bin/spark-dpo reference} asks for. */
  public record Options(String data, String model, String output, long batchTokens, int partitions, boolean force,
      long progressSeconds) {}

  /** What a run did; {@code skipped} when a complete output with the same fingerprint existed. */
  public record Result(boolean skipped, String fingerprint, long pairs, long realTokens, long paddedTokens,
      long batches, long modelLoads, double seconds) {
    public double paddingFraction() {
      return paddedTokens == 0 ? 0 : 1 - (double) realTokens / paddedTokens;
    }

    public double tokensPerSecond() {
      return seconds == 0 ? 0 : realTokens / seconds;
    }
  }

  /** The output schema: the input columns, then the two log-probs, which carry the fingerprint as metadata. */
  public static StructType outputSchema(StructType input, String fingerprint) {
    Metadata md = new MetadataBuilder().putString(FINGERPRINT_KEY, fingerprint).build();
    return input.add(REF_CHOSEN, DataTypes.DoubleType, false, md).add(REF_REJECTED, DataTypes.DoubleType, false, md);
  }

  /** The row encoder of mapPartitions drops column metadata: puts the fingerprint back on the two columns. */
  static Dataset<Row> withFingerprint(Dataset<Row> scored, String fingerprint) {
    Metadata md = new MetadataBuilder().putString(FINGERPRINT_KEY, fingerprint).build();
    return scored.withColumn(REF_CHOSEN, scored.col(REF_CHOSEN).as(REF_CHOSEN, md))
        .withColumn(REF_REJECTED, scored.col(REF_REJECTED).as(REF_REJECTED, md));
  }

  public static Result run(SparkSession spark, Options given) {
    long t0 = System.nanoTime();
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    if (given.progressSeconds() < 1) throw new IllegalArgumentException("reference.progress-seconds must be >= 1");
    StageOutput.requireComplete("--data", given.data(), conf, "ingest", "generate-pairs"); // errors name the path as given
    // one meaning for every path on the driver and the executors: qualified against the default file system
    Options opts = new Options(HadoopFiles.qualified(given.data(), conf), HadoopFiles.qualified(given.model(), conf),
        HadoopFiles.qualified(given.output(), conf), given.batchTokens(), given.partitions(), given.force(),
        given.progressSeconds());
    GptConfig modelConfig = readModelConfig(opts.model(), "--model " + given.model(), conf);
    // the executors load the weights: a bad file fails here, once, before the job
    checkModelWeights(opts.model(), "--model " + given.model(), modelConfig, conf);
    ModelFingerprint fp = ModelFingerprint.of(opts.model(), opts.data(), conf);
    String fingerprint = fp.combined();
    try (StageOutput out = StageOutput.open("reference", "--output", opts.output(),
        List.of(new StageOutput.Input("--data", opts.data()), new StageOutput.Input("--model", opts.model())), conf)) {
      String existing = out.completeFingerprint();
      if (!opts.force() && fingerprint.equals(existing)) {
        LOG.info("reference: {} is complete with the same fingerprint {}: nothing to do (--force recomputes)",
            opts.output(), fingerprint.substring(0, 12));
        return new Result(true, fingerprint, 0, 0, 0, 0, 0, 0);
      }
      if (existing != null && !existing.equals(fingerprint)) {
        LOG.info("reference: {} was made from other inputs (fingerprint {} != {}): recomputing", opts.output(),
            abbrev(existing), abbrev(fingerprint));
      }
      return score(spark, given, opts, modelConfig, fp, out, t0);
    }
  }

  /** Scores every pair into a new output and commits it ({@code given}: the paths as the user gave them). */
  private static Result score(SparkSession spark, Options given, Options opts, GptConfig modelConfig,
      ModelFingerprint fp, StageOutput out, long t0) {
    String fingerprint = fp.combined();
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    Dataset<Row> pairs = spark.read().parquet(new Path(opts.data(), "pairs").toString());
    for (String column : List.of(PairSchema.ID, PairSchema.PROMPT_IDS, PairSchema.CHOSEN_IDS, PairSchema.REJECTED_IDS)) {
      if (!List.of(pairs.columns()).contains(column)) {
        throw new IllegalArgumentException(opts.data() + "/pairs has no " + column + " column: run ingest with"
            + " --tokenizer (the model's tokenizer.json) first");
      }
    }
    TokenIds.checkVocabulary(pairs, modelConfig.vocabSize(), "--data " + given.data(), "--model " + given.model());
    long total = pairs.count(); // before repartitioning: counting needs no shuffle
    if (opts.partitions() > 0) pairs = pairs.repartition(opts.partitions());
    LOG.info("reference: {} pairs in {} partitions, model {} ({} layers, d {}, context {}), batches of <= {} tokens",
        total, pairs.rdd().getNumPartitions(), opts.model(), modelConfig.nLayer(), modelConfig.nEmbd(),
        modelConfig.nPositions(), opts.batchTokens());

    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    ReferenceScorer.Progress progress = new ReferenceScorer.Progress(jsc.sc().longAccumulator("reference pairs"),
        jsc.sc().longAccumulator("reference real tokens"), jsc.sc().longAccumulator("reference padded tokens"),
        jsc.sc().longAccumulator("reference batches"), jsc.sc().longAccumulator("reference model loads"));
    ReferenceScorer scorer = new ReferenceScorer(opts.model(), fp.model(), new HadoopConf(conf), opts.batchTokens(),
        ReferenceScorer.DEFAULT_ATTENTION_BYTES, progress);
    StructType schema = outputSchema(pairs.schema(), fingerprint);
    Dataset<Row> scored = withFingerprint(
        pairs.mapPartitions((MapPartitionsFunction<Row, Row>) scorer::score, Encoders.row(schema)), fingerprint);

    out.begin(fingerprint);
    long started = System.nanoTime();
    try (ProgressTicker ticker = ProgressTicker.every("reference-progress", opts.progressSeconds(),
        () -> logProgress(progress, total, started))) {
      jsc.setJobDescription("reference: score " + total + " pairs with " + opts.model());
      scored.write().mode(SaveMode.ErrorIfExists).partitionBy(PairSchema.SPLIT).parquet(out.path("pairs"));
      double seconds = (System.nanoTime() - started) / 1e9;
      Result result = new Result(false, fingerprint, progress.pairs().value(), progress.realTokens().value(),
          progress.paddedTokens().value(), progress.batches().value(), progress.modelLoads().value(), seconds);
      if (result.pairs() != total) {
        throw new IllegalStateException("scored " + result.pairs() + " pairs of " + total);
      }
      out.writeText(REFERENCE_JSON, json(opts, fp, result, modelConfig));
      out.commit();
      LOG.info("reference: {} pairs, {} tokens in {} batches ({}% padding), {} s, {} tokens/s → {}", result.pairs(),
          result.realTokens(), result.batches(), String.format("%.1f", 100 * result.paddingFraction()),
          String.format("%.1f", seconds), Math.round(result.tokensPerSecond()), opts.output());
      return result;
    } finally {
      jsc.setJobDescription(null);
      LOG.debug("reference stage took {} s", (System.nanoTime() - t0) / 1e9);
    }
  }

  /**
   * What training checks before its first step: that the reference log-probs in {@code referenceDir} were computed
   * with the model whose weights the policy starts from (DPO compares the policy against exactly that model).
   * Returns reference.json's model fingerprint; throws a clear error on a mismatch unless {@code allowMismatch}
   * (then it only logs a warning).
   */
  public static String checkPolicy(String referenceDir, String policyModelDir, boolean allowMismatch,
      Configuration conf) {
    JsonNode json = referenceJson(referenceDir, conf);
    if (json == null) {
      throw new IllegalArgumentException("--data " + referenceDir + " is not a complete reference output (no _SUCCESS"
          + " or no " + REFERENCE_JSON + "): DPO trains on the reference stage's output; run bin/spark-dpo reference"
          + " --data <ingest output> --model <model> first (or train with --objective sft)");
    }
    String stored = json.path("model_fingerprint").asText("");
    String policy = ModelFingerprint.ofModel(policyModelDir, conf);
    if (!stored.equals(policy)) {
      String message = "the reference log-probs in " + referenceDir + " were computed with model "
          + json.path("model").asText("?") + " (fingerprint " + abbrev(stored) + "), but the policy starts from "
          + policyModelDir + " (fingerprint " + abbrev(policy) + "): DPO would measure the policy against another"
          + " model. Run bin/spark-dpo reference --model " + policyModelDir + ", or pass --allow-ref-mismatch if"
          + " the reference model is meant to differ";
      if (!allowMismatch) throw new IllegalArgumentException(message);
      LOG.warn("{} (allowed by --allow-ref-mismatch)", message);
    }
    return stored;
  }

  private static String abbrev(String fingerprint) {
    return fingerprint.length() > 12 ? fingerprint.substring(0, 12) + "…" : fingerprint;
  }

  /** The fingerprint a complete reference output was made with, or null when there is no complete output. */
  public static String fingerprintOf(String outputDir, Configuration conf) {
    JsonNode json = referenceJson(outputDir, conf);
    return json == null ? null : json.path("fingerprint").asText(null);
  }

  /** reference.json of a complete reference output, or null when there is none. */
  private static JsonNode referenceJson(String outputDir, Configuration conf) {
    try {
      Path dir = new Path(outputDir);
      FileSystem fs = dir.getFileSystem(conf);
      if (!fs.exists(dir) || !StageOutput.isComplete(fs, dir) || !fs.exists(new Path(dir, REFERENCE_JSON))) {
        return null;
      }
      try (InputStream in = fs.open(new Path(dir, REFERENCE_JSON))) {
        return new ObjectMapper().readTree(in);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + outputDir + "/" + REFERENCE_JSON + ": " + e.getMessage(), e);
    }
  }

  /** {@code what}: the model as the user gave it, for errors ("--model /models/sft"). */
  private static GptConfig readModelConfig(String modelDir, String what, Configuration conf) {
    Path file = new Path(modelDir, "config.json");
    try {
      FileSystem fs = file.getFileSystem(conf);
      if (!fs.isDirectory(new Path(modelDir))) {
        throw new IllegalArgumentException(what + " does not exist or is not a directory: expected a Hugging Face"
            + " model directory (config.json, model.safetensors)");
      }
      if (!fs.isFile(file)) {
        throw new IllegalArgumentException(what + " has no config.json: expected a Hugging Face model directory"
            + " (config.json, model.safetensors)");
      }
      try (InputStream in = fs.open(file)) {
        java.nio.file.Path tmp = java.nio.file.Files.createTempFile("spark-dpo-config", ".json");
        try {
          java.nio.file.Files.copy(in, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
          return GptConfig.read(tmp, what + ": config.json"); // errors name the user's file, not the copy
        } finally {
          java.nio.file.Files.deleteIfExists(tmp);
        }
      }
    } catch (IOException e) {
      throw new IllegalArgumentException(what + ": cannot read config.json (" + e.getMessage()
          + "); expected a Hugging Face model directory (config.json, model.safetensors)", e);
    }
  }

  /**
   * The weights' header against the config, read on the driver (a few KB, not the weights): a missing, truncated or
   * mismatched model.safetensors is then one clear error before the job, instead of a failure in every task.
   */
  private static void checkModelWeights(String modelDir, String what, GptConfig config, Configuration conf) {
    Path file = new Path(modelDir, GptCheckpoint.WEIGHTS);
    try {
      FileSystem fs = file.getFileSystem(conf);
      if (!fs.isFile(file)) {
        java.util.function.Predicate<String> exists = name -> {
          try {
            return fs.exists(new Path(modelDir, name));
          } catch (IOException e) {
            return false; // it only picks the hint
          }
        };
        throw new IllegalArgumentException(what + " has no " + GptCheckpoint.WEIGHTS
            + GptCheckpoint.weightsHint(exists));
      }
      long size = fs.getFileStatus(file).getLen();
      try (InputStream in = fs.open(file)) {
        GptCheckpoint.checkHeader(config, Safetensors.header(in, size, what + ": " + GptCheckpoint.WEIGHTS), what);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
    }
  }

  private static void logProgress(ReferenceScorer.Progress p, long total, long started) {
    long done = p.pairs().value();
    double seconds = (System.nanoTime() - started) / 1e9;
    double rate = done / Math.max(seconds, 1e-9);
    String eta = done == 0 ? "?" : String.format("%.0f s", (total - done) / rate);
    LOG.info("reference: {} / {} pairs ({}%), {} tokens/s, ETA {}", done, total,
        total == 0 ? 100 : 100 * done / total, Math.round(p.realTokens().value() / Math.max(seconds, 1e-9)), eta);
  }

  private static String json(Options opts, ModelFingerprint fp, Result r, GptConfig c) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("fingerprint", r.fingerprint());
    m.put("model_fingerprint", fp.model());
    m.put("tokenizer_fingerprint", fp.tokenizer());
    m.put("data_fingerprint", fp.data());
    m.put("model", opts.model());
    m.put("data", opts.data());
    m.put("n_layer", c.nLayer());
    m.put("n_embd", c.nEmbd());
    m.put("vocab_size", c.vocabSize());
    m.put("pairs", r.pairs());
    m.put("real_tokens", r.realTokens());
    m.put("padded_tokens", r.paddedTokens());
    m.put("padding_fraction", r.paddingFraction());
    m.put("batches", r.batches());
    m.put("model_loads", r.modelLoads()); // JVMs (executors) that loaded the model during this run
    m.put("batch_tokens", opts.batchTokens());
    m.put("seconds", r.seconds());
    m.put("tokens_per_second", r.tokensPerSecond());
    try {
      return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(m) + "\n";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
