package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.eval.EvaluateOptions;
import dev.sparkdpo.eval.EvaluateStage;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "evaluate", mixinStandardHelpOptions = true, sortOptions = false, abbreviateSynopsis = true,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {
        "Policy vs reference: eval-pair preferences, paired samples, KL, reward, win rate.",
        "",
        "Does the policy behave better than the reference? Preference metrics of both models on the eval split, and "
            + "paired samples from both on eval prompts (KL to the reference, reward, win rate), across executors.",
        "",
        "Writes <output>/eval.json (preference accuracy and margin of policy and reference; reward, log-prob and "
            + "length of each model's samples; kl_mean, win_rate), <output>/samples.jsonl (one line per prompt and "
            + "sample) and the report, committed atomically. Re-running with the same inputs does nothing unless "
            + "--force.",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class EvaluateCommand implements Callable<Integer> {
  @Option(names = "--data", paramLabel = "DIR",
      description = "Reference or (tokenized) ingest output: its split=eval pairs are evaluated.")
  String data;

  @Option(names = "--model", paramLabel = "DIR",
      description = "The policy: a Hugging Face model directory (config.json, model.safetensors, tokenizer.json).")
  String model;

  @Option(names = "--reference-model", paramLabel = "DIR",
      description = "The reference model the policy is compared with (a Hugging Face model directory).")
  String referenceModel;

  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically).")
  String output;

  @Option(names = "--reward", paramLabel = "SPEC",
      description = "Reward of a completion: lexicon:<word->score JSON, e.g. AFINN-165> (sum of its words' scores) or "
          + "none (default ${DEFAULT-VALUE}).")
  String reward;

  @Option(names = "--prompts", paramLabel = "N",
      description = "Distinct eval prompts sampled from, the first N in a seeded order (default ${DEFAULT-VALUE}).")
  Integer prompts;

  @Option(names = "--samples-per-prompt", paramLabel = "K",
      description = "Samples per prompt from each model, paired by seed (default ${DEFAULT-VALUE}).")
  Integer samplesPerPrompt;

  @Option(names = "--max-new-tokens", paramLabel = "N",
      description = "Max tokens per completion; sampling also stops at the model's EOS (default ${DEFAULT-VALUE}).")
  Integer maxNewTokens;

  @Option(names = "--temperature", paramLabel = "T", description = "Sampling temperature, 0 = greedy (default "
      + "${DEFAULT-VALUE}).")
  Double temperature;

  @Option(names = "--top-p", paramLabel = "P", description = "Nucleus sampling mass, 1 = off (default ${DEFAULT-VALUE}).")
  Double topP;

  @Option(names = "--seed", paramLabel = "S", description = "Seed of the prompt order and the samples "
      + "(default ${DEFAULT-VALUE}).")
  Long seed;

  @Option(names = "--beta", paramLabel = "B",
      description = "DPO beta of the implicit reward margin (the one the policy was trained with; default "
          + "${DEFAULT-VALUE}).")
  Double beta;

  @Option(names = "--label", paramLabel = "NAME",
      description = "Run name in eval.json and the report (default: the train output's or the model's directory name).")
  String label;

  @Option(names = "--train-metrics", paramLabel = "DIR",
      description = "Train output whose metrics.jsonl the report plots (optional).")
  String trainMetrics;

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
    EvaluateOptions opts = options(c);
    SparkSession session = spark.session(c.config());
    EvaluateStage.Result r = EvaluateStage.run(session, opts);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("skipped", r.skipped());
    out.put("fingerprint", r.fingerprint());
    out.put("output", r.output());
    out.put("pairs", r.pairs());
    out.put("prompts", r.prompts());
    out.put("samples", r.samples());
    out.put("kl_mean", r.skipped() ? null : r.klMean());
    out.put("win_rate", r.skipped() ? null : r.winRate());
    out.put("model_loads", r.modelLoads());
    out.put("seconds", r.seconds());
    System.out.println(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(out));
    return 0;
  }

  /** The evaluate block of resolved settings as the stage's options; a bad value names its option. */
  public static EvaluateOptions options(JobConfig c) {
    Config e = c.block();
    return new EvaluateOptions(c.required("data"), c.required("model"), c.required("reference-model"),
        c.required("output"), e.getString("reward"), e.getInt("prompts"), e.getInt("samples-per-prompt"),
        e.getInt("max-new-tokens"), e.getDouble("temperature"), e.getDouble("top-p"), e.getLong("seed"),
        e.getDouble("beta"), e.hasPath("label") ? e.getString("label") : null,
        e.hasPath("train-metrics") ? e.getString("train-metrics") : null, e.getBoolean("force"),
        e.getLong("progress-seconds"));
  }
}
