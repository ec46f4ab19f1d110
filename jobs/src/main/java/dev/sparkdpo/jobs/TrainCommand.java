package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.train.Trainer;
import dev.sparkdpo.train.TrainOptions;
import dev.sparkdpo.train.WarmupSchedule;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Trains the policy with DPO (or SFT) on Spark: data-parallel steps with DL4J Spark's parameter averaging.",
        "Writes <output>/metrics.jsonl (a line per step and per eval, TRL's metric names), <output>/checkpoints/step-N/",
        "(HF model + optimizer.safetensors + trainer_state.json), <output>/model/ (the final HF model), train.json and",
        "_SUCCESS. --data: a reference output (dpo), or an ingest/reference output or text files (sft). The model and",
        "output are paths on the driver's file system. Every option is also a key of the HOCON 'train' block."})
public final class TrainCommand implements Callable<Integer> {
  @Option(names = "--data", paramLabel = "DIR", description = "Reference output (dpo); ingest output or text files (sft). Key: train.data")
  String data;

  @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory the policy starts from. Key: train.model")
  String model;

  @Option(names = "--output", paramLabel = "DIR", description = "Run directory. Key: train.output")
  String output;

  @Option(names = "--objective", paramLabel = "dpo|sft", description = "dpo (default) or sft (next-token cross-entropy). Key: train.objective")
  String objective;

  @Option(names = "--loss", paramLabel = "TYPES", split = ",",
      description = "DPO loss types (TRL names), e.g. sigmoid,sft (default sigmoid). Key: train.loss")
  List<String> loss;

  @Option(names = "--loss-weights", paramLabel = "W", split = ",", description = "One weight per loss type (default 1 each). Key: train.loss-weights")
  List<Double> lossWeights;

  @Option(names = "--beta", paramLabel = "B", description = "DPO beta (default 0.1). Key: train.beta")
  Double beta;

  @Option(names = "--label-smoothing", paramLabel = "E", description = "cDPO / robust label smoothing (default 0). Key: train.label-smoothing")
  Double labelSmoothing;

  @Option(names = "--reference-free", description = "Ignore the reference log-probs (reference = uniform). Key: train.reference-free")
  Boolean referenceFree;

  @Option(names = "--optimizer", paramLabel = "NAME", description = "adamw (default), adam, rmsprop, sgd. Key: train.optimizer")
  String optimizer;

  @Option(names = "--learning-rate", paramLabel = "LR", description = "Peak learning rate (default 1e-6). Key: train.learning-rate")
  Double learningRate;

  @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warmup steps (default 0; the DPO paper: 150). Key: train.warmup-steps")
  Integer warmupSteps;

  @Option(names = "--lr-decay", paramLabel = "constant|cosine", description = "After warmup (default constant). Key: train.lr-decay")
  String lrDecay;

  @Option(names = "--weight-decay", paramLabel = "WD", description = "Weight decay (default 0). Key: train.weight-decay")
  Double weightDecay;

  @Option(names = "--max-grad-norm", paramLabel = "N", description = "Clip the gradient norm to N; 0 = off (default 1.0). Key: train.max-grad-norm")
  Double maxGradNorm;

  @Option(names = "--workers", paramLabel = "W", description = "Data-parallel workers; 0 = Spark's default parallelism (default). Key: train.workers")
  Integer workers;

  @Option(names = "--batch-size-per-worker", paramLabel = "B", description = "Pairs per worker per step (default 8). Key: train.batch-size-per-worker")
  Integer batchSizePerWorker;

  @Option(names = "--averaging-frequency", paramLabel = "K", description = "Steps between parameter averagings (default 4; 1 = synchronous). Key: train.averaging-frequency")
  Integer averagingFrequency;

  @Option(names = "--epochs", paramLabel = "N", description = "Epochs (default 1). Key: train.epochs")
  Integer epochs;

  @Option(names = "--max-steps", paramLabel = "N", description = "Stop after N steps; 0 = no limit (default). Key: train.max-steps")
  Long maxSteps;

  @Option(names = "--eval-steps", paramLabel = "N", description = "Evaluate every N steps (and first and last; default 100). Key: train.eval-steps")
  Long evalSteps;

  @Option(names = "--checkpoint-steps", paramLabel = "N", description = "Checkpoint every N steps (and at the end; default 500). Key: train.checkpoint-steps")
  Long checkpointSteps;

  @Option(names = "--logging-steps", paramLabel = "N", description = "A progress line every N steps (and every train.progress-seconds; default 10). Key: train.logging-steps")
  Long loggingSteps;

  @Option(names = "--max-eval-pairs", paramLabel = "N", description = "Evaluate on at most N eval pairs; 0 = all (default). Key: train.max-eval-pairs")
  Long maxEvalPairs;

  @Option(names = "--seed", paramLabel = "N", description = "Data order seed (default 42). Key: train.seed")
  Long seed;

  @Option(names = "--resume", description = "Continue from the newest complete checkpoint in --output. Key: train.resume")
  Boolean resume;

  @Option(names = "--force", description = "Discard what --output holds and start over. Key: train.force")
  Boolean force;

  @Option(names = "--allow-ref-mismatch", description = "Train although the reference log-probs come from another model. Key: train.allow-ref-mismatch")
  Boolean allowRefMismatch;

  @Option(names = "--tokenizer", paramLabel = "PATH", description = "sft on text: tokenizer.json (default: the model's). Key: train.tokenizer")
  String tokenizer;

  @Option(names = "--chunk-tokens", paramLabel = "N", description = "sft on text: tokens per chunk; 0 = the model's context (default). Key: train.chunk-tokens")
  Integer chunkTokens;

  @Option(names = "--eval-fraction", paramLabel = "F", description = "sft on text: chunks held out for eval (default 0.05). Key: train.eval-fraction")
  Double evalFraction;

  @Mixin SparkOptions spark;

  @Override
  public Integer call() throws Exception {
    Config c = config();
    TrainOptions opts = options(c);
    SparkSession session = spark.session(c, c.getConfig("train.spark-conf"));
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

  Config config() {
    return new JobConfig(spark.config)
        .set("train.data", data)
        .set("train.model", model)
        .set("train.output", output)
        .set("train.objective", objective)
        .set("train.loss", loss)
        .set("train.loss-weights", lossWeights)
        .set("train.beta", beta)
        .set("train.label-smoothing", labelSmoothing)
        .set("train.reference-free", referenceFree)
        .set("train.optimizer", optimizer)
        .set("train.learning-rate", learningRate)
        .set("train.warmup-steps", warmupSteps)
        .set("train.lr-decay", lrDecay)
        .set("train.weight-decay", weightDecay)
        .set("train.max-grad-norm", maxGradNorm)
        .set("train.workers", workers)
        .set("train.batch-size-per-worker", batchSizePerWorker)
        .set("train.averaging-frequency", averagingFrequency)
        .set("train.epochs", epochs)
        .set("train.max-steps", maxSteps)
        .set("train.eval-steps", evalSteps)
        .set("train.checkpoint-steps", checkpointSteps)
        .set("train.max-eval-pairs", maxEvalPairs)
        .set("train.logging-steps", loggingSteps)
        .set("train.seed", seed)
        .set("train.resume", resume)
        .set("train.force", force)
        .set("train.allow-ref-mismatch", allowRefMismatch)
        .set("train.tokenizer", tokenizer)
        .set("train.chunk-tokens", chunkTokens)
        .set("train.eval-fraction", evalFraction)
        .resolve();
  }

  static TrainOptions options(Config c) {
    Config t = c.getConfig("train");
    for (String key : new String[] {"data", "model", "output"}) {
      if (!t.hasPath(key)) throw new IllegalArgumentException("give --" + key + " (or train." + key + " in --config)");
    }
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
    return new TrainOptions(t.getString("data"), t.getString("model"), t.getString("output"),
        TrainOptions.Objective.parse(t.getString("objective")), loss, optimizer, parallelism, schedule,
        t.getLong("seed"), t.getBoolean("resume"), t.getBoolean("force"), t.getBoolean("allow-ref-mismatch"), text);
  }
}
