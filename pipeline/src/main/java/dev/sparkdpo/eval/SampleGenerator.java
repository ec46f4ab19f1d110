package dev.sparkdpo.eval;

import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.io.HadoopConf;
import dev.sparkdpo.model.LanguageModel;
import dev.sparkdpo.model.Sampler;
import dev.sparkdpo.model.SamplingConfig;
import dev.sparkdpo.executor.ExecutorModels;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.util.LongAccumulator;

/**
 * The executor side of evaluate's generation: for each prompt of a partition, K samples from the policy and K from
 * the reference (the same sampler seed, so sample i of both draws from the same random stream), each completion
 * scored under both models (summed log-probs, {@link LanguageModel#responseLogProbs}, the reference stage's code), decoded with
 * the policy's tokenizer and rewarded. The models come from the one executor cache ({@link ExecutorModels}): loaded
 * once per executor JVM, shared by its tasks.
 */
final class SampleGenerator implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Models and tokenizer as the executors load them (qualified paths; fingerprints the driver computed). */
  record Models(String policyDir, String policyFingerprint, String referenceDir, String referenceFingerprint,
      String tokenizerJson) implements Serializable {}

  private final Models models;
  private final HadoopConf conf;
  private final RewardModel reward;
  private final int samplesPerPrompt;
  private final Completions.Sampling sampling;
  private final LongAccumulator promptsDone;
  private final LongAccumulator modelLoads;

  SampleGenerator(Models models, HadoopConf conf, RewardModel reward, int samplesPerPrompt,
      Completions.Sampling sampling, LongAccumulator promptsDone, LongAccumulator modelLoads) {
    this.models = models;
    this.conf = conf;
    this.reward = reward;
    this.samplesPerPrompt = samplesPerPrompt;
    this.sampling = sampling;
    this.promptsDone = promptsDone;
    this.modelLoads = modelLoads;
  }

  LongAccumulator promptsDone() {
    return promptsDone;
  }

  /**
   * Prompts in, samples out, both as JSON lines: Spark's Kryo (the CLI's serializer) cannot build a FieldSerializer
   * for a Java record, and a samples.jsonl line is what the driver writes anyway (Jackson round-trips doubles exactly).
   */
  Iterator<String> generateJson(Iterator<String> prompts) {
    List<String> out = new ArrayList<>();
    generate(new Iterator<EvalSamples.Prompt>() {
      @Override
      public boolean hasNext() {
        return prompts.hasNext();
      }

      @Override
      public EvalSamples.Prompt next() {
        return EvaluateStage.read(prompts.next(), EvalSamples.Prompt.class);
      }
    }).forEachRemaining(s -> out.add(EvaluateStage.write(s, false)));
    return out.iterator();
  }

  Iterator<EvalSamples.Sample> generate(Iterator<EvalSamples.Prompt> prompts) {
    Completions.onTask();
    LanguageModel policy = ExecutorModels.get(models.policyDir(), models.policyFingerprint(), conf.get(), modelLoads);
    LanguageModel reference = ExecutorModels.get(models.referenceDir(), models.referenceFingerprint(), conf.get(), modelLoads);
    PairTokenizer tokenizer = Completions.tokenizer(models.tokenizerJson());
    List<EvalSamples.Sample> out = new ArrayList<>();
    while (prompts.hasNext()) {
      out.addAll(samplesOf(prompts.next(), policy, reference, tokenizer));
      promptsDone.add(1);
    }
    return out.iterator();
  }

  /** K paired samples of one prompt. */
  List<EvalSamples.Sample> samplesOf(EvalSamples.Prompt p, LanguageModel policy, LanguageModel reference, PairTokenizer tokenizer) {
    int k = samplesPerPrompt;
    if (p.promptIds().length >= policy.config().contextLength()) {
      throw new IllegalArgumentException("eval prompt " + p.promptId() + " (\"" + abbrev(p.prompt()) + "\") has "
          + p.promptIds().length + " tokens, which leaves no room in the model's context of "
          + policy.config().contextLength() + " to generate; re-ingest with --max-prompt-length below it");
    }
    int[][] batch = new int[k][];                                        // K copies of the prompt: row i = sample i
    Arrays.fill(batch, p.promptIds());
    SamplingConfig config = sampling.withSeed(p.seed());
    int[][] fromPolicy = new Sampler(policy).generate(batch, config);    // [K][<= maxNew]
    int[][] fromReference = new Sampler(reference).generate(batch, config);
    // all 2K completions scored by each model in one batch: rows 0..K-1 policy samples, K..2K-1 reference samples
    int[][] completions = new int[2 * k][];
    System.arraycopy(fromPolicy, 0, completions, 0, k);
    System.arraycopy(fromReference, 0, completions, k, k);
    double[] underPolicy = logps(policy, p.promptIds(), completions);
    double[] underReference = logps(reference, p.promptIds(), completions);
    List<EvalSamples.Sample> out = new ArrayList<>(k);
    for (int i = 0; i < k; i++) {
      out.add(new EvalSamples.Sample(p.promptId(), p.prompt(), i, p.seed(),
          completion(p, fromPolicy[i], underPolicy[i], underReference[i], tokenizer),
          completion(p, fromReference[i], underPolicy[k + i], underReference[k + i], tokenizer)));
    }
    return out;
  }

  /** log π(y_i | x) summed over y_i's tokens, for each completion y_i of prompt x; an empty completion scores 0. */
  static double[] logps(LanguageModel gpt, int[] prompt, int[][] completions) {
    List<Integer> nonEmpty = new ArrayList<>();
    for (int i = 0; i < completions.length; i++) if (completions[i].length > 0) nonEmpty.add(i);
    double[] out = new double[completions.length];
    if (nonEmpty.isEmpty()) return out;
    int[][] tokens = new int[nonEmpty.size()][];                         // prompt + completion, unpadded
    int[] promptLengths = new int[tokens.length];
    for (int j = 0; j < tokens.length; j++) {
      tokens[j] = DpoBatch.sequence(prompt, completions[nonEmpty.get(j)]);
      promptLengths[j] = prompt.length;
    }
    double[] logps = gpt.responseLogProbs(tokens, promptLengths);
    for (int j = 0; j < tokens.length; j++) out[nonEmpty.get(j)] = logps[j];
    return out;
  }

  private static String abbrev(String text) {
    return text.length() <= 40 ? text : text.substring(0, 40) + "…";
  }

  private EvalSamples.Completion completion(EvalSamples.Prompt p, int[] tokens, double logpPolicy,
      double logpReference, PairTokenizer tokenizer) {
    String text = Completions.text(tokens, sampling, tokenizer);
    return new EvalSamples.Completion(text, tokens.length, reward.score(p.prompt(), text), logpPolicy, logpReference);
  }
}
