package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.generate.GeneratePairs;
import dev.sparkdpo.generate.GeneratePairsOptions;
import dev.sparkdpo.generate.Pairing;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "generate-pairs", mixinStandardHelpOptions = true, sortOptions = false, abbreviateSynopsis = true,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {
        "On-policy preference pairs: a model's samples of prompts, rewarded and paired.",
        "",
        "Prompts are an ingest output's (with their split) or sentence prefixes of text files (split by a seeded hash "
            + "of their text). K completions per prompt are sampled across executors (the model loaded once per "
            + "executor), rewarded, and paired: best vs worst, or every two whose rewards differ; ties are never "
            + "paired.",
        "",
        "Writes <output>/pairs/ in the ingest output's schema with the token columns (plus chosen_reward, "
            + "rejected_reward; split=train|eval), so reference and train take it as they take ingest's, and "
            + "<output>/stats.json, committed atomically. Re-running with the same inputs does nothing unless --force.",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class GeneratePairsCommand implements Callable<Integer> {
  @Option(names = "--prompts", paramLabel = "PATH", arity = "1..*", split = ",",
      description = "Text files, directories or globs (sentence prefixes become prompts), or one ingest output (its "
          + "prompts).")
  List<String> prompts;

  @Option(names = "--model", paramLabel = "DIR",
      description = "The model sampled from: a Hugging Face model directory (config.json, model.safetensors).")
  String model;

  @Option(names = "--reward", paramLabel = "SPEC",
      description = "Reward of a completion: lexicon:<word->score JSON, e.g. AFINN-165> (sum of its words' scores).")
  String reward;

  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically).")
  String output;

  @Option(names = "--tokenizer", paramLabel = "PATH",
      description = "tokenizer.json (or a directory holding one) of the model (default: the model's).")
  String tokenizer;

  @Option(names = "--samples-per-prompt", paramLabel = "K",
      description = "Completions sampled per prompt, >= 2 (default ${DEFAULT-VALUE}).")
  Integer samplesPerPrompt;

  @Option(names = "--max-new-tokens", paramLabel = "N",
      description = "Max tokens per completion; sampling also stops at the model's EOS (default ${DEFAULT-VALUE}).")
  Integer maxNewTokens;

  @Option(names = "--temperature", paramLabel = "T", description = "Sampling temperature, > 0 (default "
      + "${DEFAULT-VALUE}).")
  Double temperature;

  @Option(names = "--top-p", paramLabel = "P", description = "Nucleus sampling mass, 1 = off (default ${DEFAULT-VALUE}).")
  Double topP;

  @Option(names = "--pairing", paramLabel = "MODE", completionCandidates = Choices.Pairings.class,
      description = "${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}). best-worst: the highest- vs the lowest-"
          + "rewarded completion of a prompt; all: every two completions whose rewards differ.")
  String pairing;

  @Option(names = "--min-reward-gap", paramLabel = "G",
      description = "Drop pairs whose reward gap is below G (ties are always dropped; default ${DEFAULT-VALUE}).")
  Double minRewardGap;

  @Option(names = "--seed", paramLabel = "S", description = "Seed of the prefixes, the split, the prompt order and the "
      + "samples (default ${DEFAULT-VALUE}).")
  Long seed;

  @Option(names = "--eval-fraction", paramLabel = "F",
      description = "Text prompts: share in split=eval, by a hash of the prompt (default ${DEFAULT-VALUE}).")
  Double evalFraction;

  @Option(names = "--max-prompts", paramLabel = "N",
      description = "At most N prompts, the first in a seeded order; 0 = all (default ${DEFAULT-VALUE}).")
  Integer maxPrompts;

  @Option(names = "--prompt-words", paramLabel = "MIN-MAX",
      description = "Text prompts: a sentence's first MIN..MAX words, the length drawn per sentence (default "
          + "${DEFAULT-VALUE}).")
  String promptWords;

  @Option(names = "--batch-rows", paramLabel = "N",
      description = "Sampler rows per batch: prompts x samples (default ${DEFAULT-VALUE}).")
  Integer batchRows;

  @Option(names = "--progress-seconds", paramLabel = "S",
      description = "Seconds between progress lines (prompts done, rate, ETA) in the driver log "
          + "(default ${DEFAULT-VALUE}).")
  Long progressSeconds;

  @Option(names = "--force", description = "Recompute even when a complete output with the same fingerprint exists.")
  Boolean force;

  @Mixin SparkOptions spark;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    JobConfig c = JobConfig.resolve(spec);
    GeneratePairsOptions opts = options(c);
    SparkSession session = spark.session(c.config());
    GeneratePairs.Result r = GeneratePairs.run(session, opts);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("skipped", r.skipped());
    out.put("fingerprint", r.fingerprint());
    out.put("output", r.output());
    out.put("prompts", r.prompts());
    out.put("samples", r.samples());
    out.put("pairs", r.pairs());
    out.put("train_pairs", r.trainPairs());
    out.put("eval_pairs", r.evalPairs());
    out.put("model_loads", r.modelLoads());
    out.put("seconds", r.seconds());
    System.out.println(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(out));
    return 0;
  }

  /** The generate-pairs block of resolved settings as the stage's options; a bad value names its option. */
  public static GeneratePairsOptions options(JobConfig c) {
    Config g = c.block();
    List<String> prompts = g.hasPath("prompts") ? g.getStringList("prompts") : List.of();
    if (prompts.isEmpty()) {
      throw new IllegalArgumentException("give --prompts (or " + "generate-pairs.prompts in --config): text files,"
          + " directories or globs, or an ingest output");
    }
    int[] words = GeneratePairsOptions.promptWords(g.getString("prompt-words"));
    return new GeneratePairsOptions(prompts, c.required("model"), c.required("reward"), c.required("output"),
        g.hasPath("tokenizer") ? g.getString("tokenizer") : null, g.getInt("samples-per-prompt"),
        g.getInt("max-new-tokens"), g.getDouble("temperature"), g.getDouble("top-p"),
        Pairing.parse(g.getString("pairing")), g.getDouble("min-reward-gap"), g.getLong("seed"),
        g.getDouble("eval-fraction"), g.getInt("max-prompts"), words[0], words[1], g.getInt("batch-rows"),
        g.getBoolean("force"), g.getLong("progress-seconds"));
  }
}
