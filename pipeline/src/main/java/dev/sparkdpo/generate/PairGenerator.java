package dev.sparkdpo.generate;

import dev.sparkdpo.data.PairNormalizer;
import dev.sparkdpo.data.ParsedRecord;
import dev.sparkdpo.data.PreferencePair;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.eval.Completions;
import dev.sparkdpo.eval.EvaluateStage;
import dev.sparkdpo.eval.RewardModel;
import dev.sparkdpo.io.HadoopConf;
import dev.sparkdpo.model.LanguageModel;
import dev.sparkdpo.model.Sampler;
import dev.sparkdpo.executor.ExecutorModels;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import org.apache.spark.util.LongAccumulator;

/**
 * The executor side of generate-pairs: a group of prompts (fixed on the driver, so it does not depend on the
 * partitioning) is tokenized, sampled K times each in one batch of the KV-cached {@link Sampler} (row seeds from the
 * seed, the prompt's id and the sample's index: a sample does not depend on its batch), each completion decoded,
 * normalised as ingest normalises responses and scored by the reward; then each prompt's completions become pairs
 * ({@link Pairing}). The model comes from the one executor cache ({@link ExecutorModels}): loaded once per executor.
 */
final class PairGenerator implements Serializable {
  private static final long serialVersionUID = 1L;

  /** The format column of generated pairs. */
  static final String FORMAT = "generated";

  /** The model as the executors load it (a qualified path and the fingerprint the driver computed). */
  record Model(String dir, String fingerprint, String tokenizerJson) implements Serializable {}

  /** Prompts sampled together; {@code index} orders the groups (stats are merged in that order). */
  record Group(int index, List<Prompts.Prompt> prompts) {}

  /** One output row's content (the pairs/ columns). */
  record GeneratedPair(String id, String prompt, String chosen, String rejected, String source, long record,
      int[] promptIds, int[] chosenIds, int[] rejectedIds, boolean responseTruncated, double chosenReward,
      double rejectedReward, String split) {}

  /** Count, mean and sum of squared deviations (Welford), merged in a fixed order so the stats are deterministic. */
  record Moments(long n, double mean, double m2) {
    static final Moments NONE = new Moments(0, 0, 0);

    Moments add(double x) {
      long n1 = n + 1;
      double delta = x - mean;
      double mean1 = mean + delta / n1;
      return new Moments(n1, mean1, m2 + delta * (x - mean1));
    }

    Moments merge(Moments o) {
      if (o.n == 0) return this;
      if (n == 0) return o;
      long total = n + o.n;
      double delta = o.mean - mean;
      return new Moments(total, mean + delta * o.n / total, m2 + o.m2 + delta * delta * n * o.n / total);
    }

    /** Population standard deviation; NaN without values. */
    double std() {
      return n == 0 ? Double.NaN : Math.sqrt(m2 / n);
    }

    double meanOrNaN() {
      return n == 0 ? Double.NaN : mean;
    }
  }

  /** What a group gave besides its pairs: counts, reward moments, drops by reason. */
  record Summary(int index, int prompts, long samples, long trainPairs, long evalPairs, Moments rewards,
      Moments chosen, Moments rejected, TreeMap<String, Long> dropped) {}

  record GroupResult(Summary summary, List<GeneratedPair> pairs) {}

  /** Reasons in stats.json's dropped. */
  static final String PROMPT_TOO_LONG = "prompt_too_long", EMPTY = "empty_completion",
      DUPLICATE = "duplicate_completion", TIE = "tie", BELOW_MIN_GAP = "below_min_gap";

  private final Model model;
  private final HadoopConf conf;
  private final RewardModel reward;
  private final int samplesPerPrompt;
  private final Completions.Sampling sampling;
  private final Pairing pairing;
  private final double minRewardGap;
  private final long seed;
  private final LongAccumulator promptsDone;
  private final LongAccumulator modelLoads;

  PairGenerator(Model model, HadoopConf conf, RewardModel reward, GeneratePairsOptions o, int eosId,
      LongAccumulator promptsDone, LongAccumulator modelLoads) {
    this.model = model;
    this.conf = conf;
    this.reward = reward;
    this.samplesPerPrompt = o.samplesPerPrompt();
    this.sampling = new Completions.Sampling(o.temperature(), o.topP(), o.maxNewTokens(), eosId);
    this.pairing = o.pairing();
    this.minRewardGap = o.minRewardGap();
    this.seed = o.seed();
    this.promptsDone = promptsDone;
    this.modelLoads = modelLoads;
  }

  LongAccumulator promptsDone() {
    return promptsDone;
  }

  /**
   * Groups in (JSON), group results out (JSON, as evaluate's samples: Spark's Kryo cannot build a serializer for a
   * Java record).
   */
  Iterator<String> generateJson(Iterator<String> groups) {
    Completions.onTask();
    LanguageModel gpt = ExecutorModels.get(model.dir(), model.fingerprint(), conf.get(), modelLoads);
    PairTokenizer tokenizer = Completions.tokenizer(model.tokenizerJson());
    List<String> out = new ArrayList<>();
    while (groups.hasNext()) {
      Group g = EvaluateStage.read(groups.next(), Group.class);
      out.add(EvaluateStage.write(generate(g, gpt, tokenizer), false));
      promptsDone.add(g.prompts().size());
    }
    return out.iterator();
  }

  /** The sampler seed of sample {@code i} of a prompt: from the seed, the prompt's id and i alone. */
  static long rowSeed(long seed, String promptId, int i) {
    return EvaluateStage.promptSeed(seed, promptId + "#" + i);
  }

  GroupResult generate(Group g, LanguageModel gpt, PairTokenizer tokenizer) {
    int k = samplesPerPrompt;
    TreeMap<String, Long> dropped = new TreeMap<>();
    List<Prompts.Prompt> kept = new ArrayList<>();
    List<int[]> keptIds = new ArrayList<>();
    for (Prompts.Prompt p : g.prompts()) {
      int[] ids = tokenizer.encodeText(p.text());
      // the sampler needs one free position after the prompt
      if (ids.length == 0 || ids.length >= gpt.config().contextLength()) dropped.merge(PROMPT_TOO_LONG, 1L, Long::sum);
      else {
        kept.add(p);
        keptIds.add(ids);
      }
    }
    int[][] rows = new int[kept.size() * k][];
    long[] rowSeeds = new long[rows.length];
    for (int j = 0; j < kept.size(); j++) {
      for (int i = 0; i < k; i++) {
        rows[j * k + i] = keptIds.get(j);
        rowSeeds[j * k + i] = rowSeed(seed, kept.get(j).id(), i);
      }
    }
    int[][] samples = rows.length == 0 ? new int[0][] : new Sampler(gpt).generate(rows, rowSeeds,
        sampling.withSeed(seed));
    Moments all = Moments.NONE, chosen = Moments.NONE, rejected = Moments.NONE;
    long train = 0, eval = 0;
    List<GeneratedPair> pairs = new ArrayList<>();
    for (int j = 0; j < kept.size(); j++) {
      Prompts.Prompt p = kept.get(j);
      // the prompt's usable completions: normalised as ingest normalises a response; blank and repeated ones out
      List<Integer> usable = new ArrayList<>();
      List<String> texts = new ArrayList<>();
      List<Double> rewards = new ArrayList<>();
      Set<String> seen = new HashSet<>();
      for (int i = 0; i < k; i++) {
        String text = PairNormalizer.normalizeText(Completions.text(samples[j * k + i], sampling, tokenizer))
            .stripTrailing();
        double r = reward.score(p.text(), text);
        all = all.add(r);
        if (text.isBlank()) dropped.merge(EMPTY, 1L, Long::sum);
        else if (!seen.add(text)) dropped.merge(DUPLICATE, 1L, Long::sum);
        else {
          usable.add(j * k + i);
          texts.add(text);
          rewards.add(r);
        }
      }
      Pairing.Result result = pairing.pairs(rewards.stream().mapToDouble(Double::doubleValue).toArray(), minRewardGap);
      if (result.ties() > 0) dropped.merge(TIE, (long) result.ties(), Long::sum);
      if (result.belowMinGap() > 0) dropped.merge(BELOW_MIN_GAP, (long) result.belowMinGap(), Long::sum);
      for (Pairing.Pair pair : result.pairs()) {
        String c = texts.get(pair.chosen()), r = texts.get(pair.rejected());
        int[] cIds = samples[usable.get(pair.chosen())], rIds = samples[usable.get(pair.rejected())];
        double cReward = rewards.get(pair.chosen()), rReward = rewards.get(pair.rejected());
        String id = ParsedRecord.pair(new PreferencePair(p.text(), c, r), FORMAT, p.source(), p.record(), -1).id();
        pairs.add(new GeneratedPair(id, p.text(), c, r, p.source(), p.record(), keptIds.get(j), cIds, rIds,
            !sampling.ended(cIds) || !sampling.ended(rIds), cReward, rReward, p.split()));
        chosen = chosen.add(cReward);
        rejected = rejected.add(rReward);
        if (p.split().equals(dev.sparkdpo.data.PairSchema.EVAL)) eval++;
        else train++;
      }
    }
    return new GroupResult(new Summary(g.index(), g.prompts().size(), (long) kept.size() * k, train, eval, all, chosen,
        rejected, dropped), pairs);
  }

}
