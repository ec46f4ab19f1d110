package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.train.Trainer;
import dev.sparkdpo.train.TrainOptions;
import dev.sparkdpo.train.WarmupSchedule;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false, abbreviateSynopsis = true,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {
        "Trains the policy with DPO or SFT on Spark (data-parallel, parameter averaging).",
        "",
        "Each worker takes --averaging-frequency steps on its share of the pairs, then DL4J Spark's parameter "
            + "averaging merges the workers' weights. Writes <output>/metrics.jsonl (a line per step and per eval, "
            + "TRL's metric names), <output>/checkpoints/step-N/ (HF model + optimizer.safetensors + "
            + "trainer_state.json), <output>/model/ (the final HF model), train.json and _SUCCESS. --data: a "
            + "reference output (dpo), or an ingest/reference output or text files (sft). The model and output are "
            + "paths on the driver's file system. With --lora-rank only LoRA adapters train: <output>/adapter/ and "
            + "the checkpoints hold them in PEFT's format, and model/ (merged) is written only with --merge.",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER,
        "Config-only key (no option): train.spark-conf { \"spark.x\" = ... }, the Spark settings training needs "
            + "(Kryo for ND4J arrays, large task results), applied unless spark-submit, spark-defaults.conf or --conf "
            + "set them."})
public final class TrainCommand implements Callable<Integer>, JobConfig.ConfigOnlyKeys {
  private static final String SFT_ON_TEXT = "--objective sft (it sets how sft reads text files)";
  /** Keys that only mean something with objective dpo (the DPO loss's). */
  public static final List<String> DPO_ONLY_KEYS = List.of("loss", "loss-weights", "beta", "label-smoothing",
      "reference-free");
  /** Keys that only mean something with --lora-rank > 0. */
  static final List<String> LORA_KEYS = List.of("lora-alpha", "lora-dropout", "lora-targets", "merge");
  private static final String DPO_ONLY = "--objective dpo (sft is next-token cross-entropy, without a DPO loss)";

  @Option(names = "--data", paramLabel = "DIR",
      description = "Reference output (dpo); ingest output or text files (sft).")
  String data;

  @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory the policy starts from.")
  String model;

  @Option(names = "--output", paramLabel = "DIR",
      description = "Run directory: metrics.jsonl, checkpoints/, model/, train.json.")
  String output;

  @Option(names = "--objective", paramLabel = "OBJ", completionCandidates = Choices.Objectives.class,
      description = "${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}); sft is next-token cross-entropy.")
  String objective;

  @Option(names = "--loss", paramLabel = "TYPE", split = ",", completionCandidates = Choices.Losses.class,
      description = "DPO loss types (TRL's loss_type names), one or more, e.g. sigmoid,sft (default ${DEFAULT-VALUE}): "
          + "${COMPLETION-CANDIDATES}.")
  List<String> loss;

  @Option(names = "--loss-weights", paramLabel = "W", split = ",",
      description = "One weight per loss type (default: 1 each).")
  List<Double> lossWeights;

  @Option(names = "--beta", paramLabel = "B", description = "DPO beta (default ${DEFAULT-VALUE}).")
  Double beta;

  @Option(names = "--label-smoothing", paramLabel = "E",
      description = "cDPO / robust label smoothing (default ${DEFAULT-VALUE}).")
  Double labelSmoothing;

  @Option(names = "--reference-free", description = "Ignore the reference log-probs (reference = uniform).")
  Boolean referenceFree;

  @Option(names = "--optimizer", paramLabel = "NAME", completionCandidates = Choices.Optimizers.class,
      description = "${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}; the DPO paper: rmsprop).")
  String optimizer;

  @Option(names = "--learning-rate", paramLabel = "LR", description = "Peak learning rate (default ${DEFAULT-VALUE}).")
  Double learningRate;

  @Option(names = "--warmup-steps", paramLabel = "N",
      description = "Linear warmup steps (default ${DEFAULT-VALUE}; the DPO paper: 150).")
  Integer warmupSteps;

  @Option(names = "--lr-decay", paramLabel = "DECAY", completionCandidates = Choices.LrDecays.class,
      description = "After warmup: ${COMPLETION-CANDIDATES} (cosine: to 0 at the last step; default ${DEFAULT-VALUE}).")
  String lrDecay;

  @Option(names = "--weight-decay", paramLabel = "WD", description = "Weight decay (default ${DEFAULT-VALUE}).")
  Double weightDecay;

  @Option(names = "--max-grad-norm", paramLabel = "N",
      description = "Clip the gradient's L2 norm to N; 0 = off (default ${DEFAULT-VALUE}).")
  Double maxGradNorm;

  @Option(names = "--adam-beta1", paramLabel = "B1",
      description = "Adam's beta1, HF's adam_beta1 (default ${DEFAULT-VALUE}). Needs --optimizer adamw or adam.")
  Double adamBeta1;

  @Option(names = "--adam-beta2", paramLabel = "B2",
      description = "Adam's beta2, HF's adam_beta2 (default ${DEFAULT-VALUE}). Needs --optimizer adamw or adam.")
  Double adamBeta2;

  @Option(names = "--epsilon", paramLabel = "EPS",
      description = "Adam's / RMSprop's epsilon, HF's adam_epsilon (default ${DEFAULT-VALUE}). "
          + "Needs --optimizer adamw, adam or rmsprop.")
  Double epsilon;

  @Option(names = "--rms-decay", paramLabel = "A",
      description = "RMSprop's decay, torch's alpha (default ${DEFAULT-VALUE}). Needs --optimizer rmsprop.")
  Double rmsDecay;

  @Option(names = "--lora-rank", paramLabel = "R",
      description = "Train rank-R LoRA adapters (PEFT's) on the frozen model instead of all its weights; 0 = full "
          + "fine-tuning (default ${DEFAULT-VALUE}). Writes <output>/adapter/ (PEFT's format); model/ only with --merge.")
  Integer loraRank;

  @Option(names = "--lora-alpha", paramLabel = "A",
      description = "LoRA's lora_alpha: the adapters' update is scaled by A / R (default ${DEFAULT-VALUE}, PEFT's). "
          + "Needs --lora-rank.")
  Double loraAlpha;

  @Option(names = "--lora-dropout", paramLabel = "P",
      description = "LoRA's lora_dropout, in [0, 1): in training only, inverted dropout of the adapters' inputs, a new "
          + "mask each step, seeded by --seed (PEFT's); none in evaluation, sampling or --merge (default "
          + "${DEFAULT-VALUE}, PEFT's). Needs --lora-rank.")
  Double loraDropout;

  @Option(names = "--lora-targets", paramLabel = "M", split = ",",
      description = "Modules that get adapters, PEFT's target_modules (a name or its suffix): c_attn, c_proj, c_fc, "
          + "h.0.attn.c_attn... (default ${DEFAULT-VALUE}, PEFT's for gpt2). Needs --lora-rank.")
  List<String> loraTargets;

  @Option(names = "--merge",
      description = "Also write <output>/model/, the model with the adapters merged (a plain HF model). Needs "
          + "--lora-rank.")
  Boolean merge;

  @Option(names = "--workers", paramLabel = "W",
      description = "Data-parallel workers; 0 = Spark's default parallelism, one per core (default ${DEFAULT-VALUE}).")
  Integer workers;

  @Option(names = "--batch-size-per-worker", paramLabel = "B",
      description = "Pairs per worker per step (default ${DEFAULT-VALUE}).")
  Integer batchSizePerWorker;

  @Option(names = "--averaging-frequency", paramLabel = "K",
      description = "Steps each worker takes between parameter averagings; 1 = synchronous (default ${DEFAULT-VALUE}).")
  Integer averagingFrequency;

  @Option(names = "--epochs", paramLabel = "N", description = "Epochs (default ${DEFAULT-VALUE}).")
  Integer epochs;

  @Option(names = "--max-steps", paramLabel = "N",
      description = "Stop after N steps; 0 = no limit (default ${DEFAULT-VALUE}).")
  Long maxSteps;

  @Option(names = "--eval-steps", paramLabel = "N",
      description = "Evaluate every N steps, and before the first and after the last (default ${DEFAULT-VALUE}).")
  Long evalSteps;

  @Option(names = "--checkpoint-steps", paramLabel = "N",
      description = "Checkpoint every N steps, and at the end (default ${DEFAULT-VALUE}).")
  Long checkpointSteps;

  @Option(names = "--logging-steps", paramLabel = "N",
      description = "A progress line every N steps, HF's logging_steps; 0 = by time only (default ${DEFAULT-VALUE}).")
  Long loggingSteps;

  @Option(names = "--progress-seconds", paramLabel = "S",
      description = "And a progress line at least every S seconds (default ${DEFAULT-VALUE}).")
  Long progressSeconds;

  @Option(names = "--max-eval-pairs", paramLabel = "N",
      description = "Evaluate on at most N eval pairs; 0 = all (default ${DEFAULT-VALUE}).")
  Long maxEvalPairs;

  @Option(names = "--seed", paramLabel = "N",
      description = "Data order seed, also of the adapters' init and --lora-dropout masks (default ${DEFAULT-VALUE}).")
  Long seed;

  @Option(names = "--resume", description = "Continue from the newest complete checkpoint in --output.")
  Boolean resume;

  @Option(names = "--force", description = "Discard what --output holds and start over.")
  Boolean force;

  @Option(names = "--allow-ref-mismatch",
      description = "Train although the reference log-probs come from another model.")
  Boolean allowRefMismatch;

  @Option(names = "--tokenizer", paramLabel = "PATH",
      description = "sft on text files: tokenizer.json (default: the model's). Needs --objective sft.")
  String tokenizer;

  @Option(names = "--chunk-tokens", paramLabel = "N",
      description = "sft on text files: tokens per chunk; 0 = the model's context (default ${DEFAULT-VALUE}). "
          + "Needs --objective sft.")
  Integer chunkTokens;

  @Option(names = "--eval-fraction", paramLabel = "F",
      description = "sft on text files: chunks held out for eval (default ${DEFAULT-VALUE}). Needs --objective sft.")
  Double evalFraction;

  @Mixin SparkOptions spark;

  @Spec CommandSpec spec;

  /** Spark settings are a block of quoted keys, which no option can carry. */
  @Override
  public List<String> configOnlyKeys() {
    return List.of("spark-conf");
  }

  @Override
  public Integer call() throws Exception {
    JobConfig c = JobConfig.resolve(spec);
    TrainOptions opts = options(c);
    SparkSession session = spark.session(c.config(), c.block().getConfig("spark-conf"));
    Trainer.Result r = Trainer.run(session, opts);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("skipped", r.skipped());
    out.put("steps", r.steps());
    out.put("pairs", r.pairs());
    out.put("workers", r.workers());
    out.put("seconds", r.seconds());
    out.put("tokens_per_second", r.tokensPerSecond());
    out.put("eval", r.eval());
    out.put("model", r.model().toString());
    System.out.println(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(out));
    return 0;
  }

  /** The train block of resolved settings as the trainer's options; a bad value or an ignored setting fails. */
  public static TrainOptions options(JobConfig c) {
    Config t = c.block();
    String data = c.required("data");
    String model = c.required("model");
    String output = c.required("output");
    checkSettingsApply(c);
    List<LossType> losses = t.getStringList("loss").stream().map(LossType::parse).toList();
    List<Double> weights = t.getDoubleList("loss-weights");
    DpoConfig loss = new DpoConfig(t.getDouble("beta"), t.getDouble("label-smoothing"), losses,
        weights.isEmpty() ? null : weights.stream().mapToDouble(Double::doubleValue).toArray(),
        t.getBoolean("reference-free"));
    TrainOptions.Optimizer optimizer = new TrainOptions.Optimizer(t.getString("optimizer"),
        t.getDouble("learning-rate"), t.getInt("warmup-steps"), WarmupSchedule.Decay.parse(t.getString("lr-decay")),
        t.getDouble("weight-decay"), t.getDouble("max-grad-norm"), t.getDouble("adam-beta1"),
        t.getDouble("adam-beta2"), t.getDouble("epsilon"), t.getDouble("rms-decay"));
    TrainOptions.Parallelism parallelism = new TrainOptions.Parallelism(t.getInt("workers"),
        t.getInt("batch-size-per-worker"), t.getInt("averaging-frequency"));
    TrainOptions.Schedule schedule = new TrainOptions.Schedule(t.getInt("epochs"), t.getLong("max-steps"),
        t.getLong("eval-steps"), t.getLong("checkpoint-steps"), t.getLong("progress-seconds"),
        t.getLong("max-eval-pairs"), t.getLong("logging-steps"));
    TrainOptions.Text text = new TrainOptions.Text(t.hasPath("tokenizer") ? t.getString("tokenizer") : null,
        t.getInt("chunk-tokens"), t.getDouble("eval-fraction"));
    TrainOptions.Lora lora = TrainOptions.Lora.of(t.getInt("lora-rank"), t.getDouble("lora-alpha"),
        t.getDouble("lora-dropout"), t.getStringList("lora-targets"), t.getBoolean("merge"));
    return new TrainOptions(data, model, output,
        TrainOptions.Objective.parse(t.getString("objective")), loss, optimizer, parallelism, schedule,
        t.getLong("seed"), t.getBoolean("resume"), t.getBoolean("force"), t.getBoolean("allow-ref-mismatch"), text,
        lora);
  }

  /**
   * Refuses settings the user gave that this run would ignore: the DPO loss under sft, sft's text settings under dpo,
   * an optimizer constant of another optimizer. Values are compared as parsed, so a bad name fails later with its list.
   */
  private static void checkSettingsApply(JobConfig c) {
    Config t = c.block();
    String objective = t.getString("objective").strip().toLowerCase(Locale.ROOT);
    boolean sft = objective.equals(TrainOptions.Objective.SFT.cliName());
    boolean dpo = objective.equals(TrainOptions.Objective.DPO.cliName());
    for (String key : List.of("tokenizer", "chunk-tokens", "eval-fraction")) {
      c.check(key, sft || !dpo, SFT_ON_TEXT, "add --objective sft, or drop it");
    }
    for (String key : DPO_ONLY_KEYS) {
      c.check(key, !sft, DPO_ONLY, "drop it, or use --objective dpo");
    }
    // a negative rank fails in TrainOptions.Lora.of with its own message, not as "needs --lora-rank"
    boolean lora = t.getInt("lora-rank") != 0;
    for (String key : LORA_KEYS) {
      c.check(key, lora, "--lora-rank R > 0 (LoRA; without it the run is full fine-tuning)",
          "add --lora-rank, or drop it");
    }
    String optimizer = t.getString("optimizer").strip().toLowerCase(Locale.ROOT);
    boolean adam = optimizer.equals("adamw") || optimizer.equals("adam");
    for (String key : List.of("adam-beta1", "adam-beta2")) {
      c.check(key, adam || !TrainOptions.Optimizer.NAMES.contains(optimizer), "--optimizer adamw or adam",
          "use --optimizer adamw or adam, or drop it");
    }
    c.check("epsilon", !optimizer.equals("sgd"), "--optimizer adamw, adam or rmsprop (sgd has no epsilon)",
        "drop it, or use another --optimizer");
    c.check("rms-decay", optimizer.equals("rmsprop") || !TrainOptions.Optimizer.NAMES.contains(optimizer),
        "--optimizer rmsprop", "use --optimizer rmsprop, or drop it");
  }
}
