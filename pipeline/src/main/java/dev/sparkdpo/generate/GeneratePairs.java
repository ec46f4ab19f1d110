package dev.sparkdpo.generate;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.Ingest;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizerFiles;
import dev.sparkdpo.eval.Completions;
import dev.sparkdpo.eval.EvaluateStage;
import dev.sparkdpo.eval.RewardModel;
import dev.sparkdpo.io.HadoopConf;
import dev.sparkdpo.io.HadoopFiles;
import dev.sparkdpo.io.ProgressTicker;
import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.io.ModelFingerprint;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The generate-pairs stage: on-policy preference data. Samples K completions per prompt from a model across the
 * executors, scores them with a reward ({@link RewardModel}) and pairs them ({@link Pairing}); writes the pairs in
 * the ingest output's schema with the token columns ({@link PairSchema#GENERATED_PAIRS}: plus chosen_reward and
 * rejected_reward), so reference and train take the output as they take ingest's, and {@code stats.json}.
 *
 * <p>What a pair gets depends only on the prompt, the model, the reward and the settings: prompts are grouped into
 * sampler batches on the driver (in a seeded order of their ids), every sample's random stream comes from the seed,
 * the prompt's id and the sample's index, and the stats are merged in group order; so the output is the same for any
 * number of executors or partitions. Output through {@link StageOutput} (stage {@value #STAGE}); the fingerprint
 * covers the model, the tokenizer, the reward, the prompts and every setting, and a rerun with the same one is skipped
 * unless {@code force}.
 */
public final class GeneratePairs {
  private static final Logger LOG = LoggerFactory.getLogger(GeneratePairs.class);

  public static final String STAGE = "generate-pairs";
  public static final String STATS_JSON = "stats.json";

  private GeneratePairs() {}

  /** What a run did; {@code skipped} when a complete output with the same fingerprint existed. */
  public record Result(boolean skipped, String fingerprint, String output, int prompts, long samples, long pairs,
      long trainPairs, long evalPairs, long modelLoads, double seconds) {}

  public static Result run(SparkSession spark, GeneratePairsOptions o) {
    long t0 = System.nanoTime();
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    String modelDir = HadoopFiles.qualified(o.model(), conf);
    JsonNode config = EvaluateStage.modelConfig(modelDir, "--model " + o.model(), conf);
    int vocab = config.path("vocab_size").asInt();
    String tokenizerJson = tokenizerJson(o, modelDir);
    PairTokenizer tokenizer = Completions.tokenizer(tokenizerJson); // a bad file fails here, once
    if (tokenizer.vocabSize() > vocab) {
      throw new IllegalArgumentException("--tokenizer " + tokenizerJson + " has " + tokenizer.vocabSize() + " tokens,"
          + " but --model " + o.model() + " a vocabulary of " + vocab + ": give the tokenizer the model was trained"
          + " with");
    }
    RewardModel reward = RewardModel.parse(o.reward(), conf);
    int eos = EvaluateStage.eosId(config, vocab);
    String modelFp = ModelFingerprint.ofModel(modelDir, conf);
    List<StageOutput.Input> inputs = new ArrayList<>();
    for (String p : o.prompts()) inputs.add(new StageOutput.Input("--prompts", p));
    inputs.add(new StageOutput.Input("--model", modelDir));
    try (StageOutput out = StageOutput.open(STAGE, "--output", HadoopFiles.qualified(o.output(), conf), inputs, conf)) {
      Prompts.Read read = Prompts.read(spark, o.prompts(), o.seed(), o.promptWordsMin(), o.promptWordsMax(),
          o.evalFraction());
      List<Prompts.Prompt> prompts = select(read.prompts(), o.maxPrompts(), o.seed());
      if (prompts.isEmpty()) {
        throw new IllegalArgumentException("--prompts " + String.join(",", o.prompts()) + " gave no prompts ("
            + read.sentences() + " sentences, " + read.shortSentences() + " shorter than " + o.promptWordsMin()
            + " words): give text with sentences, or an ingest output with pairs");
      }
      String fingerprint = StageOutput.sha256(String.join("\n", STAGE + "/1", "model=" + modelFp,
          "tokenizer=" + EvaluateStage.fileHash(tokenizerJson, conf), "reward=" + reward.fingerprint(),
          "prompts=" + Prompts.digest(prompts), "settings=" + settingsKey(o)));
      String existing = out.completeFingerprint();
      if (!o.force() && fingerprint.equals(existing)) {
        LOG.info("generate-pairs: {} is complete with the same fingerprint {}: nothing to do (--force recomputes)",
            out.target(), fingerprint.substring(0, 12));
        return new Result(true, fingerprint, out.target().toString(), prompts.size(), 0, 0, 0, 0, 0, 0);
      }
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      LongAccumulator loads = jsc.sc().longAccumulator("generate-pairs model loads");
      PairGenerator generator = new PairGenerator(new PairGenerator.Model(modelDir, modelFp, tokenizerJson),
          new HadoopConf(conf), reward, o, eos, jsc.sc().longAccumulator("generate-pairs prompts"), loads);
      List<String> groups = groups(prompts, o.promptsPerBatch());
      int slices = Math.max(1, Math.min(groups.size(), jsc.defaultParallelism()));
      LOG.info("generate-pairs: {} prompts ({} read from {} {}) x {} samples from {} in {} batches of <= {} rows, {}"
          + " tasks; pairing {}, min reward gap {}", prompts.size(), read.prompts().size(), read.kind(),
          String.join(",", o.prompts()), o.samplesPerPrompt(), o.model(), groups.size(),
          o.promptsPerBatch() * o.samplesPerPrompt(), slices, o.pairing().code(), o.minRewardGap());
      JavaRDD<String> results = jsc.parallelize(groups, slices).mapPartitions(generator::generateJson)
          .persist(StorageLevel.MEMORY_AND_DISK());
      out.begin(fingerprint);
      long started = System.nanoTime();
      List<PairGenerator.Summary> summaries;
      try (ProgressTicker ticker = ProgressTicker.every("generate-pairs-progress", o.progressSeconds(),
          () -> logProgress(generator.promptsDone().value(), prompts.size(), started))) {
        jsc.setJobDescription("generate-pairs: sample " + prompts.size() + " prompts x " + o.samplesPerPrompt());
        JavaRDD<Row> rows = results.flatMap(json -> rows(EvaluateStage.read(json, PairGenerator.GroupResult.class)));
        spark.createDataFrame(rows, PairSchema.GENERATED_PAIRS).write().mode(SaveMode.ErrorIfExists)
            .partitionBy(PairSchema.SPLIT).parquet(out.path("pairs"));
        summaries = new ArrayList<>(results.map(json -> EvaluateStage.write(
            EvaluateStage.read(json, PairGenerator.GroupResult.class).summary(), false)).collect().stream()
            .map(json -> EvaluateStage.read(json, PairGenerator.Summary.class)).toList());
        logProgress(prompts.size(), prompts.size(), started);
      } finally {
        jsc.setJobDescription(null);
        results.unpersist();
      }
      summaries.sort(Comparator.comparingInt(PairGenerator.Summary::index));
      Stats stats = Stats.of(summaries);
      if (stats.pairs() == 0) {
        LOG.warn("generate-pairs: no pairs (dropped: {}): every prompt's completions tied or were too close",
            stats.dropped());
        Ingest.writeEmptyPairs(spark, PairSchema.GENERATED_PAIRS, out.path("pairs"));
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      out.writeText(STATS_JSON, statsJson(o, read, prompts, stats, reward, loads.value(), seconds));
      out.commit();
      LOG.info("generate-pairs: {} prompts x {} samples → {} pairs ({} train, {} eval); reward {} ± {} (chosen {},"
          + " rejected {}); dropped {}; {} s → {}", prompts.size(), o.samplesPerPrompt(), stats.pairs(),
          stats.trainPairs(), stats.evalPairs(), fmt(stats.rewards().meanOrNaN()), fmt(stats.rewards().std()),
          fmt(stats.chosen().meanOrNaN()), fmt(stats.rejected().meanOrNaN()), stats.dropped(),
          String.format("%.1f", seconds), out.target());
      return new Result(false, fingerprint, out.target().toString(), prompts.size(), stats.samples(), stats.pairs(),
          stats.trainPairs(), stats.evalPairs(), loads.value(), seconds);
    }
  }

  /** The first {@code max} prompts (0 = all) in the order of sha256(seed:id): the sampler batches' order too. */
  static List<Prompts.Prompt> select(List<Prompts.Prompt> prompts, int max, long seed) {
    List<Prompts.Prompt> ordered = new ArrayList<>(prompts);
    Map<String, String> key = new java.util.HashMap<>();
    for (Prompts.Prompt p : prompts) key.put(p.id(), StageOutput.sha256(seed + ":" + p.id()));
    ordered.sort(Comparator.comparing((Prompts.Prompt p) -> key.get(p.id())).thenComparing(Prompts.Prompt::id));
    return max > 0 && ordered.size() > max ? ordered.subList(0, max) : ordered;
  }

  /** Consecutive prompts, {@code perGroup} at a time, as the JSON of {@link PairGenerator.Group}s. */
  static List<String> groups(List<Prompts.Prompt> prompts, int perGroup) {
    List<String> groups = new ArrayList<>();
    for (int from = 0, i = 0; from < prompts.size(); from += perGroup, i++) {
      groups.add(EvaluateStage.write(new PairGenerator.Group(i, prompts.subList(from, Math.min(prompts.size(),
          from + perGroup))), false));
    }
    return groups;
  }

  private static java.util.Iterator<Row> rows(PairGenerator.GroupResult result) {
    List<Row> rows = new ArrayList<>(result.pairs().size());
    for (PairGenerator.GeneratedPair p : result.pairs()) {
      rows.add(RowFactory.create(p.id(), p.prompt(), p.chosen(), p.rejected(), PairGenerator.FORMAT, p.source(),
          p.record(), p.promptIds(), p.chosenIds(), p.rejectedIds(), p.promptIds().length,
          p.chosenIds().length, p.rejectedIds().length, false, p.responseTruncated(), p.chosenReward(),
          p.rejectedReward(), p.split()));
    }
    return rows.iterator();
  }

  /** The summaries merged in group order. */
  record Stats(long samples, long pairs, long trainPairs, long evalPairs, PairGenerator.Moments rewards,
      PairGenerator.Moments chosen, PairGenerator.Moments rejected, TreeMap<String, Long> dropped) {
    static Stats of(List<PairGenerator.Summary> summaries) {
      long samples = 0, train = 0, eval = 0;
      PairGenerator.Moments all = PairGenerator.Moments.NONE, chosen = PairGenerator.Moments.NONE,
          rejected = PairGenerator.Moments.NONE;
      TreeMap<String, Long> dropped = new TreeMap<>();
      for (String reason : List.of(PairGenerator.PROMPT_TOO_LONG, PairGenerator.EMPTY, PairGenerator.DUPLICATE,
          PairGenerator.TIE, PairGenerator.BELOW_MIN_GAP)) {
        dropped.put(reason, 0L);
      }
      for (PairGenerator.Summary s : summaries) {
        samples += s.samples();
        train += s.trainPairs();
        eval += s.evalPairs();
        all = all.merge(s.rewards());
        chosen = chosen.merge(s.chosen());
        rejected = rejected.merge(s.rejected());
        s.dropped().forEach((k, v) -> dropped.merge(k, v, Long::sum));
      }
      return new Stats(samples, train + eval, train, eval, all, chosen, rejected, dropped);
    }
  }

  private static String statsJson(GeneratePairsOptions o, Prompts.Read read, List<Prompts.Prompt> prompts,
      Stats stats, RewardModel reward, long modelLoads, double seconds) {
    Map<String, Object> p = new LinkedHashMap<>();
    p.put("source", read.kind());
    p.put("read", read.prompts().size());
    if (read.kind().equals("text")) {
      p.put("files", read.files());
      p.put("sentences", read.sentences());
      p.put("short_sentences", read.shortSentences());
    }
    p.put("used", prompts.size());
    p.put("train", prompts.stream().filter(x -> x.split().equals(PairSchema.TRAIN)).count());
    p.put("eval", prompts.stream().filter(x -> x.split().equals(PairSchema.EVAL)).count());
    Map<String, Object> j = new LinkedHashMap<>();
    j.put("prompts", p);
    j.put("samples", stats.samples());
    j.put("pairs", stats.pairs());
    j.put("train_pairs", stats.trainPairs());
    j.put("eval_pairs", stats.evalPairs());
    j.put("dropped", stats.dropped());
    Map<String, Object> rewards = new LinkedHashMap<>();
    rewards.put("samples", moments(stats.rewards()));
    rewards.put("chosen", moments(stats.chosen()));
    rewards.put("rejected", moments(stats.rejected()));
    j.put("reward", rewards);
    j.put("model_loads", modelLoads);
    j.put("seconds", Math.round(seconds * 1000) / 1000.0);
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("prompts", o.prompts());
    s.put("model", o.model());
    s.put("tokenizer", o.tokenizer());
    s.put("reward", reward.spec());
    s.put("samples_per_prompt", o.samplesPerPrompt());
    s.put("max_new_tokens", o.maxNewTokens());
    s.put("temperature", o.temperature());
    s.put("top_p", o.topP());
    s.put("pairing", o.pairing().code());
    s.put("min_reward_gap", o.minRewardGap());
    s.put("seed", o.seed());
    s.put("eval_fraction", o.evalFraction());
    s.put("max_prompts", o.maxPrompts());
    s.put("prompt_words", o.promptWordsMin() + "-" + o.promptWordsMax());
    s.put("batch_rows", o.batchRows());
    j.put("settings", s);
    return EvaluateStage.write(j, true) + "\n";
  }

  private static Map<String, Object> moments(PairGenerator.Moments m) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("n", m.n());
    out.put("mean", m.n() == 0 ? null : m.mean());
    out.put("std", m.n() == 0 ? null : m.std());
    return out;
  }

  /** The settings a run's output depends on (not the paths: the prompts, model and reward are hashed). */
  private static String settingsKey(GeneratePairsOptions o) {
    return String.join(",", "k=" + o.samplesPerPrompt(), "max_new=" + o.maxNewTokens(), "t=" + o.temperature(),
        "top_p=" + o.topP(), "pairing=" + o.pairing().code(), "min_gap=" + o.minRewardGap(), "seed=" + o.seed(),
        "eval=" + o.evalFraction(), "max_prompts=" + o.maxPrompts(), "words=" + o.promptWordsMin() + "-"
            + o.promptWordsMax(), "batch_rows=" + o.batchRows());
  }

  /**
   * The tokenizer.json as a local path (every executor opens it): --tokenizer (a file or a directory holding one),
   * else the model's.
   */
  private static String tokenizerJson(GeneratePairsOptions o, String modelDir) {
    if (o.tokenizer() != null) return TokenizerFiles.resolveTokenizerJson(o.tokenizer()).toString();
    Path p = new Path(modelDir, GptCheckpoint.TOKENIZER);
    java.nio.file.Path local = "file".equals(p.toUri().getScheme()) ? java.nio.file.Path.of(p.toUri()) : null;
    if (local == null || !Files.isRegularFile(local)) {
      throw new IllegalArgumentException("--model " + o.model() + " has no local tokenizer.json: give --tokenizer"
          + " (the tokenizer.json the model was trained with, on a path every executor reads)");
    }
    return local.toString();
  }

  private static void logProgress(long done, int total, long started) {
    double seconds = (System.nanoTime() - started) / 1e9;
    double rate = seconds > 0 ? done / seconds : 0;
    String eta = rate > 0 ? String.format("%.0f s", (total - done) / rate) : "?";
    LOG.info("generate-pairs: {}/{} prompts sampled, {} prompts/s, ETA {}", done, total, String.format("%.2f", rate),
        eta);
  }

  private static String fmt(double x) {
    return String.format("%.4f", x);
  }
}
