package dev.sparkdpo.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.io.HadoopFiles;
import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.LoraParams;
import dev.sparkdpo.executor.ExecutorModels;
import dev.sparkdpo.io.ModelFingerprint;
import dev.sparkdpo.reference.ReferenceStage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.CollectionAccumulator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.api.Repartition;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The training stage: DPO (or SFT) of a GPT-2 policy with DL4J Spark's {@link ParameterAveragingTrainingMaster}.
 *
 * <p>A run is a sequence of averaging rounds. Each round, the driver broadcasts the network (weights and optimizer
 * state), W Spark tasks each take up to k minibatches of their share of the round's pairs ({@link DataOrder}), and
 * the driver averages their weights and optimizer states. A step is one minibatch on every worker (a global batch of
 * W x batch-size-per-worker pairs); with k = 1 and SGD that is exactly synchronous data-parallel SGD. Between rounds
 * the driver writes the steps' metrics, logs progress, evaluates and checkpoints.
 */
public final class Trainer {
  private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String TRAIN_JSON = "train.json";
  public static final String MODEL = "model";
  private static final long GC_INTERVAL_NANOS = 20_000_000_000L;

  private Trainer() {}

  public record Result(boolean skipped, long steps, long pairs, int workers, Map<String, Double> eval, double seconds,
      long tokens, String model) {
    public double tokensPerSecond() {
      return seconds > 0 ? tokens / seconds : 0;
    }
  }

  /**
   * Trains under the stage-output protocol ({@link StageOutput}): the run directory is locked for the whole run,
   * carries its manifest from the start, and only a directory with a training run's manifest is ever resumed, skipped
   * or discarded (--force).
   */
  public static Result run(SparkSession spark, TrainOptions opts) {
    Configuration hadoop = spark.sparkContext().hadoopConfiguration();
    // any Hadoop file system, qualified against the default one (as the reference stage does)
    String output = HadoopFiles.qualified(opts.output(), hadoop);
    String model = HadoopFiles.qualified(opts.model(), hadoop);
    List<StageOutput.Input> inputs = List.of(new StageOutput.Input("--model", model),
        new StageOutput.Input("--data", opts.data()));
    try (StageOutput out = StageOutput.open("train", "--output", output, inputs, hadoop)) {
      return train(spark, opts, out, model);
    }
  }

  private static Result train(SparkSession spark, TrainOptions opts, StageOutput out, String modelUri) {
    long started = System.nanoTime();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    Configuration hadoop = spark.sparkContext().hadoopConfiguration();
    FileSystem fs = out.fileSystem();
    Path output = out.target();

    // ------------------------------------------------------------------------------------- data and settings
    // the driver reads the model from a local directory: itself on a local disk, else a copy (HadoopFiles.local);
    // its other files (tokenizer) are copied into checkpoints and the final model
    java.nio.file.Path model = HadoopFiles.local(modelUri, null, hadoop);
    // loaded (and checked, with errors naming --model) before the fingerprint reads its files, and before --force
    // may clear anything
    GptCheckpoint start = GptCheckpoint.load(model, "--model " + opts.model());
    String modelFingerprint = ModelFingerprint.ofModel(modelUri, hadoop);
    GptConfig gpt = start.config();
    TrainOptions.Lora lora = opts.lora();
    long trainable = lora == null ? start.parameterCount() : LoraParams.count(gpt, lora.config());
    checkResultSize(trainable, opts.optimizer(), lora != null);
    int workers = opts.parallelism().workers() > 0 ? opts.parallelism().workers() : jsc.defaultParallelism();
    TrainData data = TrainData.read(spark, opts, modelUri, gpt, hadoop);
    ObjectNode settings = settings(opts, workers, modelFingerprint, data.fingerprint());

    Optional<Result> done = prepareOutput(out, opts, settings);
    if (done.isPresent()) return done.get();

    Integer eos = Checkpoints.eosTokenId(model);
    int width = data.checkAndMeasure(gpt.nPositions());
    DataOrder.Plan plan = new DataOrder.Plan(data.trainCount(), workers, opts.parallelism().batchSizePerWorker(),
        opts.parallelism().averagingFrequency());
    long totalSteps = plan.stepsPerEpoch() * opts.schedule().epochs();
    if (opts.schedule().maxSteps() > 0) totalSteps = Math.min(totalSteps, opts.schedule().maxSteps());
    LOG.info("train: {} {} pairs ({} eval), {} workers x {} pairs per step (global batch {}), averaging every {}"
            + " steps, {} steps per epoch, {} steps in all; model {} ({} params), sequences <= {} tokens",
        data.trainCount(), opts.objective().cliName(), data.evalCount(), workers,
        opts.parallelism().batchSizePerWorker(), plan.globalBatch(), plan.averagingFrequency(), plan.stepsPerEpoch(),
        totalSteps, opts.model(), start.parameterCount(), width);

    ComputationGraph net;
    GptParams frozenBase = null; // LoRA: the driver's copy of the base (the executor model cache's), for --merge
    if (lora == null) {
      net = PolicyNetwork.build(start, opts.loss(), width, opts.optimizer(), totalSteps, opts.seed());
    } else {
      // the base stays out of the network: every JVM (this one too, in local mode) loads it once, by this key
      frozenBase = ((Gpt) ExecutorModels.get(modelUri, modelFingerprint, hadoop, null)).params();
      net = PolicyNetwork.buildLora(gpt, lora.config(), modelUri, modelFingerprint, opts.loss(), width,
          opts.optimizer(), totalSteps, opts.seed());
      LOG.info("train: LoRA rank {} (alpha {}) on {}: {} trainable parameters of {} ({}%)", lora.config().rank(),
          lora.config().alpha(), lora.config().targets(), trainable, start.parameterCount(),
          String.format("%.3f", 100.0 * trainable / start.parameterCount()));
    }
    start = null; // the network (or the executor model cache) holds the weights now
    // what each worker sends back per averaging round and the driver averages (and broadcasts again): the
    // parameters and, with saveUpdater, the optimizer state, as float32
    INDArray updaterState = PolicyNetwork.updaterState(net); // null or empty for SGD
    long averagedBytesPerWorker = 4L * (net.numParams() + (updaterState == null ? 0 : updaterState.length()));

    // ------------------------------------------------------------------------------------- resume
    long step = 0;
    int epoch = 0;
    long epochStep = 0;
    double secondsBefore = 0;
    long tokensBefore = 0;
    if (opts.resume()) {
      Optional<Path> newest = Checkpoints.newest(fs, output);
      if (newest.isPresent()) {
        Checkpoints.State s = Checkpoints.readState(fs, newest.get());
        checkSameSettings(newest.get(), s.settings(), settings);
        Checkpoints.restore(fs, newest.get(), net, hadoop);
        step = s.step();
        epoch = s.epoch();
        epochStep = s.epochStep();
        secondsBefore = s.seconds();
        tokensBefore = s.tokens();
        LOG.info("train: resuming from {} (step {}, epoch {}, step {} of the epoch)", show(newest.get()), step, epoch,
            epochStep);
      } else {
        LOG.info("train: --resume but no complete checkpoint in {}: starting from step 0", show(new Path(output, Checkpoints.DIR)));
      }
    }
    if (epochStep == plan.stepsPerEpoch()) {
      epoch++;
      epochStep = 0;
    }

    CollectionAccumulator<WorkerStep> stepAccumulator = jsc.sc().collectionAccumulator("train steps");
    WorkerHooks hooks = new WorkerHooks(stepAccumulator);
    ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(workers, 1)
        .batchSizePerWorker(opts.parallelism().batchSizePerWorker())
        .averagingFrequency(opts.parallelism().averagingFrequency())
        .workerPrefetchNumBatches(0)
        .saveUpdater(true) // average the optimizer state too (DL4J's default is false: workers restart it each round)
        .repartionData(Repartition.Never) // DataOrder already made one partition per worker
        .rddTrainingApproach(RDDTrainingApproach.Direct) // no export directory: works without a shared file system
        .storageLevel(null) // a round's RDD is read twice (count, fit) from the persisted epoch: no extra cache
        .rngSeed(opts.seed())
        .trainingHooks(hooks)
        .build();
    SparkComputationGraph sparkNet = new SparkComputationGraph(jsc, net, master);
    sparkNet.setListeners(List.of(hooks));

    WarmupSchedule schedule = PolicyNetwork.schedule(opts.optimizer(), totalSteps);
    Progress progress = new Progress(totalSteps, step, opts.schedule().progressSeconds(),
        opts.schedule().loggingSteps());
    Map<String, Double> lastEval = Map.of();
    Path lastCheckpoint = Checkpoints.newest(fs, output).orElse(null);
    boolean resumed = step > 0 || lastCheckpoint != null && opts.resume();
    try (MetricsLog metrics = MetricsLog.open(fs, output, resumed ? step : -1)) {
      if (resumed) lastEval = metrics.evalAt(step); // the eval of the checkpoint's step, if one ran
      if (step == 0 && data.evalCount() > 0) {
        lastEval = evaluate(jsc, data, net, opts, step, 0.0, metrics);
      }
      long lastEvalStep = step;
      long lastGc = System.nanoTime();
      long lastCheckpointStep = lastCheckpoint == null ? -1 : Checkpoints.stepOf(lastCheckpoint);
      while (step < totalSteps) {
        jsc.setJobDescription("train: order the pairs of epoch " + epoch);
        JavaPairRDD<Long, TrainPair> epochPairs = DataOrder.epoch(data.train(), plan, opts.seed(), epoch);
        try {
          while (step < totalSteps && epochStep < plan.stepsPerEpoch()) {
            long round = epochStep / plan.averagingFrequency();
            long steps = Math.min(Math.min(plan.averagingFrequency(), plan.stepsPerEpoch() - epochStep),
                totalSteps - step);
            long firstPosition = epochStep * plan.globalBatch();
            long endPosition = Math.min((epochStep + steps) * plan.globalBatch(), plan.pairs());
            hooks.setFirstStep(step);
            stepAccumulator.reset();
            jsc.setJobDescription("train: steps " + (step + 1) + "-" + (step + steps) + " of " + totalSteps);
            long t0 = System.nanoTime();
            try {
              sparkNet.fit(DataOrder.round(epochPairs, plan, round, endPosition, width));
            } catch (Exception e) { // SparkException is checked, and Scala throws it undeclared
              throw failure(e, step, steps, epoch, pairsByStep(epochPairs, plan, round, firstPosition, endPosition),
                  lastCheckpoint);
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            List<Map<String, Object>> records = stepRecords(WorkerHooks.latest(stepAccumulator.value()), step, steps,
                epoch, epochStep, plan, seconds, progress.elapsedSeconds() + secondsBefore, opts, schedule);
            if (!records.isEmpty()) { // the round's traffic, on its last step's line
              Map<String, Object> last = records.get(records.size() - 1);
              int roundWorkers = ((Number) last.get("workers")).intValue();
              last.put("averaged_bytes", averagedBytesPerWorker * roundWorkers);
            }
            for (Map<String, Object> r : records) metrics.write(r);
            String bad = nonFinite(records, net);
            if (bad != null) {
              throw failure(new IllegalStateException(bad + " (not finite)"), step, steps, epoch,
                  pairsByStep(epochPairs, plan, round, firstPosition, endPosition), lastCheckpoint);
            }
            step += steps;
            epochStep += steps;
            net.getConfiguration().setIterationCount((int) step);
            long roundTokens = records.stream().mapToLong(r -> ((Number) r.get("tokens")).longValue()).sum();
            progress.done(step, roundTokens, records.isEmpty() ? null : records.get(records.size() - 1), epoch,
                (double) epochStep / plan.stepsPerEpoch());
            boolean last = step >= totalSteps;
            if (data.evalCount() > 0 && (last || crossed(lastEvalStep, step, opts.schedule().evalSteps()))) {
              lastEval = evaluate(jsc, data, net, opts, step, epoch + (double) epochStep / plan.stepsPerEpoch(),
                  metrics);
              lastEvalStep = step;
            }
            if (last || crossed(lastCheckpointStep, step, opts.schedule().checkpointSteps())) {
              int stateEpoch = epoch;
              lastCheckpoint = Checkpoints.save(fs, output, net, new Checkpoints.State(step, stateEpoch, epochStep,
                  secondsBefore + progress.elapsedSeconds(), tokensBefore + progress.tokens(), settings), eos, model);
              lastCheckpointStep = step;
              LOG.info("train: checkpoint {}", show(lastCheckpoint));
            }
            // DL4J broadcasts the network every round and never destroys the broadcast: a driver GC lets Spark's
            // ContextCleaner drop the old ones on the driver and the executors (whose copies of the weights live
            // off-heap, invisible to any heap's GC pressure)
            if (System.nanoTime() - lastGc > GC_INTERVAL_NANOS) {
              System.gc();
              lastGc = System.nanoTime();
            }
          }
        } finally {
          epochPairs.unpersist(false);
        }
        if (epochStep >= plan.stepsPerEpoch()) {
          epoch++;
          epochStep = 0;
        }
      }
    } finally {
      jsc.setJobDescription(null);
    }

    if (lastEval.isEmpty() && data.evalCount() > 0) { // resumed after the last round, its eval not logged
      try (MetricsLog metrics = MetricsLog.open(fs, output, step)) {
        lastEval = evaluate(jsc, data, net, opts, step, epoch, metrics);
      }
    }
    if (lora != null) LOG.info("train: adapters in {}{}", show(new Path(output, Checkpoints.ADAPTER)),
        lora.merge() ? ", merged model in " + show(new Path(output, MODEL)) : " (no merged model: --merge writes one)");
    Path finalModel = new Path(output, MODEL);
    if (lora == null) {
      Checkpoints.saveModel(fs, finalModel, net, eos, model);
    } else {
      Checkpoints.saveAdapter(fs, new Path(output, Checkpoints.ADAPTER), net);
      if (lora.merge()) Checkpoints.saveMergedModel(fs, finalModel, net, frozenBase, eos, model);
      else finalModel = new Path(output, Checkpoints.ADAPTER); // no merged model: the result is the adapters
    }
    double seconds = secondsBefore + progress.elapsedSeconds();
    long tokens = tokensBefore + progress.tokens();
    Result result = new Result(false, step, data.trainCount(), workers, lastEval, seconds, tokens, show(finalModel));
    writeSummary(fs, output, opts, settings, result, plan, totalSteps, lastCheckpoint);
    out.markComplete();
    LOG.info("train: done, {} steps in {} s ({} tokens/s); model {}", step, String.format("%.1f", seconds),
        Math.round(result.tokensPerSecond()), show(finalModel));
    return result;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // per-step metrics

  /**
   * One metrics line per step of the round: the workers' minibatch results averaged with their pair counts as
   * weights (so 2 workers x b pairs report what 1 worker x 2b pairs would), grad_norm the workers' mean (each the
   * norm of its minibatch's mean-loss gradient, before clipping), tokens/s over the round's wall time.
   */
  static List<Map<String, Object>> stepRecords(List<WorkerStep> reported, long firstStep, long steps, int epoch,
      long epochStep, DataOrder.Plan plan, double roundSeconds, double wallSeconds, TrainOptions opts,
      WarmupSchedule schedule) {
    TreeMap<Long, List<WorkerStep>> byStep = new TreeMap<>();
    for (WorkerStep w : reported) byStep.computeIfAbsent(w.step, k -> new ArrayList<>()).add(w);
    long roundTokens = reported.stream().mapToLong(w -> w.tokens).sum();
    List<Map<String, Object>> out = new ArrayList<>();
    for (long s = firstStep; s < firstStep + steps; s++) {
      List<WorkerStep> ws = byStep.getOrDefault(s, List.of());
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("step", s + 1);
      r.put("epoch", epoch + (double) (epochStep + (s - firstStep) + 1) / plan.stepsPerEpoch());
      long pairs = ws.stream().mapToLong(w -> w.pairs).sum();
      Map<String, Double> mean = new LinkedHashMap<>();
      for (WorkerStep w : ws) {
        w.metrics.forEach((k, v) -> mean.merge(k, v * w.pairs / pairs, Double::sum));
      }
      if (opts.objective() == TrainOptions.Objective.SFT) {
        r.put("loss", mean.getOrDefault("loss", Double.NaN));
      } else {
        r.putAll(mean);
      }
      r.put("learning_rate", schedule.valueAt((int) s, 0));
      r.put("grad_norm", ws.stream().mapToDouble(w -> w.gradNorm).average().orElse(Double.NaN));
      r.put("pairs", pairs);
      long tokens = ws.stream().mapToLong(w -> w.tokens).sum();
      r.put("tokens", tokens);
      r.put("tokens_per_second", roundSeconds > 0 ? roundTokens / roundSeconds : 0);
      r.put("workers", ws.size());
      // the slowest worker's time in this step's fit; a round's wall time minus its steps' is communication
      r.put("worker_seconds", ws.stream().mapToDouble(w -> w.seconds).max().orElse(0));
      r.put("round_seconds", roundSeconds);
      r.put("wall_time", wallSeconds);
      out.add(r);
    }
    return out;
  }

  /** What is not finite after a round (loss, gradient or weights), or null. */
  private static String nonFinite(List<Map<String, Object>> records, ComputationGraph net) {
    for (Map<String, Object> r : records) {
      for (String k : List.of("loss", "grad_norm")) {
        Object v = r.get(k);
        if (v instanceof Double d && !Double.isFinite(d)) return k + " is " + d + " at step " + r.get("step");
      }
    }
    INDArray params = net.params();
    if (params.isNaN().any() || params.isInfinite().any()) return "the averaged weights are not finite";
    return null;
  }

  /** The pair ids of each step of a failed round ("step N: id, id, ..."), or why they could not be listed. */
  private static List<String> pairsByStep(JavaPairRDD<Long, TrainPair> epoch, DataOrder.Plan plan, long round,
      long from, long to) {
    try {
      TreeMap<Long, List<String>> byStep = new TreeMap<>();
      for (scala.Tuple2<Long, String> t : DataOrder.ids(epoch, plan, round, from, to)) {
        byStep.computeIfAbsent(t._1() / plan.globalBatch() + 1, k -> new ArrayList<>()).add(t._2());
      }
      List<String> out = new ArrayList<>();
      byStep.forEach((s, ids) -> out.add("step " + s + " (epoch position " + (s - 1) * plan.globalBatch() + "): "
          + String.join(", ", ids)));
      return out;
    } catch (RuntimeException e) {
      return List.of("(could not list them: " + e.getMessage() + ")");
    }
  }

  /**
   * A round's failure as an error naming the steps, their pairs, the last good checkpoint and what to do; a bad-input
   * error (exit 2) when the cause is (NaN/inf, or a worker's IllegalArgumentException), else a failure (exit 1).
   */
  private static RuntimeException failure(Exception e, long firstStep, long steps, int epoch, List<String> pairs,
      Path lastCheckpoint) {
    Throwable root = e;
    boolean badInput = false;
    for (Throwable t = e; t != null && t.getCause() != t; t = t.getCause()) {
      root = t;
      badInput |= t instanceof IllegalArgumentException;
    }
    String cause = root.getMessage() == null ? root.toString() : root.getMessage();
    boolean nonFinite = cause.contains("NaN") || cause.contains("Infinity") || cause.contains("not finite")
        || cause.contains("must be finite");
    List<String> shown = pairs.size() > 16 ? pairs.subList(0, 16) : pairs;
    String message = (nonFinite ? "training diverged (NaN/inf loss, gradients or weights)" : "training failed")
        + " in steps " + (firstStep + 1) + "-" + (firstStep + steps) + " (epoch " + epoch + "): " + cause
        // one line (the CLI prints errors as one line): the parts separated by "; "
        + "; pairs in these steps: " + String.join("; ", shown) + (pairs.size() > shown.size() ? "; ..." : "")
        + "; last good checkpoint: " + (lastCheckpoint == null ? "none" : show(lastCheckpoint))
        + (nonFinite ? "; lower --learning-rate or keep --max-grad-norm on and start over (--force), or resume with"
            + " the same settings after fixing these pairs' data" : "");
    return nonFinite || badInput ? new IllegalArgumentException(message, e) : new IllegalStateException(message, e);
  }

  /**
   * DL4J's parameter averaging returns each worker's weights and optimizer state as one task result, which Kryo caps
   * at 2 GB: refuse runs that cannot train this way before anything starts, in one line naming the size, the limit
   * and the way out. {@code parameters} are the trainable ones (with LoRA, the adapters': only they travel).
   */
  static void checkResultSize(long parameters, TrainOptions.Optimizer optimizer, boolean lora) {
    int floatsPerParameter = switch (optimizer.name()) {
      case "adamw", "adam" -> 3;
      case "rmsprop" -> 2;
      default -> 1;
    };
    long bytes = 4L * floatsPerParameter * parameters;
    if (bytes > RESULT_LIMIT_BYTES) {
      String what = lora ? "LoRA adapters too large" : "model too large for full fine-tuning";
      String fix = lora ? "lower --lora-rank or --lora-targets"
          : "train LoRA adapters instead (--lora-rank 8: only they travel), or use a smaller model";
      throw new IllegalArgumentException(String.format(Locale.ROOT, "%s: %,d trainable parameters with %s make each"
          + " worker's result %.2f GB (weights + optimizer state, %d bytes per parameter), over the %d MiB a Spark"
          + " task result can carry (Kryo's limit); %s", what, parameters, optimizer.name(), bytes / 1e9,
          4 * floatsPerParameter, RESULT_LIMIT_BYTES >> 20, fix));
    }
  }

  /** spark.kryoserializer.buffer.max's ceiling (2047m): the largest task result Kryo serializes. */
  static final long RESULT_LIMIT_BYTES = 2047L << 20;

  /** Whether (from, to] contains a multiple of {@code every} (0 = never). */
  static boolean crossed(long from, long to, long every) {
    return every > 0 && to / every > Math.max(from, 0) / every;
  }

  private static Map<String, Double> evaluate(JavaSparkContext jsc, TrainData data, ComputationGraph net,
      TrainOptions opts, long step, double epoch, MetricsLog metrics) {
    jsc.setJobDescription("train: evaluate at step " + step);
    long t0 = System.nanoTime();
    dev.sparkdpo.dpo.GptDpoOutputLayer l = PolicyNetwork.layer(net).layerConf();
    // with LoRA, net.params() are the adapters: the broadcast is small and the executors add their frozen base
    PolicyEval.Adapters adapters = l.loraConfig() == null ? null
        : new PolicyEval.Adapters(l.loraConfig(), l.getBaseModel(), l.getBaseModelFingerprint());
    Map<String, Double> eval = PolicyEval.evaluate(jsc, data.eval(), net.params().toFloatVector(),
        PolicyNetwork.gptConfig(net), adapters, opts.loss(), opts.objective() == TrainOptions.Objective.SFT);
    double seconds = (System.nanoTime() - t0) / 1e9;
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("step", step);
    r.put("epoch", epoch);
    r.putAll(eval);
    r.put("eval_seconds", seconds);
    metrics.write(r);
    LOG.info("train: eval at step {}: loss {}{}, perplexity {} ({} pairs, {} s)", step,
        fmt(eval.get("eval_loss")), eval.containsKey("eval_rewards/accuracies")
            ? ", accuracy " + fmt(eval.get("eval_rewards/accuracies")) + ", margin " + fmt(eval.get("eval_rewards/margins"))
            : "", fmt(eval.get("eval_perplexity")), eval.get("eval_pairs").longValue(), String.format("%.1f", seconds));
    return eval;
  }

  static String fmt(Double v) {
    return v == null ? "-" : String.format("%.4f", v);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // progress

  /**
   * The driver's progress line: steps, epoch, loss, accuracy, tokens/s, elapsed and ETA, at the first round end after
   * each multiple of logging-steps, at least every progress-seconds, and after the last step.
   */
  static final class Progress {
    private final long totalSteps;
    private final long firstStep;
    private final long everyNanos;
    private final long started = System.nanoTime();
    private long lastLog = started;
    private long tokens;

    private final long everySteps;
    private long lastLoggedStep;

    Progress(long totalSteps, long firstStep, long everySeconds, long everySteps) {
      this.totalSteps = totalSteps;
      this.firstStep = firstStep;
      this.everyNanos = everySeconds * 1_000_000_000L;
      this.everySteps = everySteps;
      this.lastLoggedStep = firstStep;
    }

    double elapsedSeconds() {
      return (System.nanoTime() - started) / 1e9;
    }

    long tokens() {
      return tokens;
    }

    void done(long step, long roundTokens, Map<String, Object> last, int epoch, double epochFraction) {
      tokens += roundTokens;
      long now = System.nanoTime();
      if (now - lastLog < everyNanos && step < totalSteps && !crossed(lastLoggedStep, step, everySteps)) return;
      lastLog = now;
      lastLoggedStep = step;
      double elapsed = elapsedSeconds();
      double perStep = elapsed / Math.max(1, step - firstStep);
      StringBuilder line = new StringBuilder(String.format("train: step %d/%d (%.1f%%), epoch %.2f", step, totalSteps,
          100.0 * step / totalSteps, epoch + epochFraction));
      if (last != null) {
        line.append(", loss ").append(fmt((Double) last.get("loss")));
        if (last.get("rewards/accuracies") instanceof Double acc) line.append(", accuracy ").append(fmt(acc));
      }
      line.append(String.format(", %,.0f tokens/s, elapsed %s, ETA %s", tokens / elapsed, duration(elapsed),
          duration(perStep * (totalSteps - step))));
      LOG.info(line.toString());
    }

    static String duration(double seconds) {
      long s = Math.round(seconds);
      return s >= 3600 ? String.format("%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60)
          : String.format("%dm%02ds", s / 60, s % 60);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // output directory, settings, summary

  /** The settings a resumed run must share with the run it resumes, and that make a finished run "the same". */
  static ObjectNode settings(TrainOptions o, int workers, String modelFingerprint, String dataFingerprint) {
    ObjectNode s = JSON.createObjectNode();
    s.put("data_fingerprint", dataFingerprint);
    s.put("model_fingerprint", modelFingerprint);
    s.put("objective", o.objective().cliName());
    ObjectNode loss = s.putObject("loss");
    loss.put("beta", o.loss().beta());
    loss.put("label_smoothing", o.loss().labelSmoothing());
    loss.putPOJO("loss_type", o.loss().losses().stream().map(t -> t.trlName()).toList());
    loss.putPOJO("loss_weights", o.loss().weights());
    loss.put("reference_free", o.loss().referenceFree());
    s.set("optimizer", JSON.valueToTree(o.optimizer()));
    // the workers actually used (not 0 = "default parallelism"): they fix the global batch and the data order
    s.set("parallelism", JSON.valueToTree(new TrainOptions.Parallelism(workers, o.parallelism().batchSizePerWorker(),
        o.parallelism().averagingFrequency())));
    s.put("epochs", o.schedule().epochs());
    s.put("max_steps", o.schedule().maxSteps());
    s.put("max_eval_pairs", o.schedule().maxEvalPairs());
    s.put("seed", o.seed());
    if (o.objective() == TrainOptions.Objective.SFT) s.set("text", JSON.valueToTree(o.text()));
    if (o.lora() != null) { // PEFT's names
      ObjectNode l = s.putObject("lora");
      l.put("r", o.lora().config().rank());
      l.put("lora_alpha", o.lora().config().alpha());
      l.put("lora_dropout", o.lora().config().dropout());
      l.putPOJO("target_modules", o.lora().config().targets());
      l.put("merge", o.lora().merge());
    }
    try { // as it reads back from JSON (number node types), so that stored and current settings compare equal
      return (ObjectNode) JSON.readTree(JSON.writeValueAsString(s));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void checkSameSettings(Path checkpoint, JsonNode stored, JsonNode now) {
    List<String> differ = new ArrayList<>();
    now.fieldNames().forEachRemaining(k -> {
      if (!Objects.equals(stored.get(k), now.get(k))) differ.add(k + " (was " + stored.get(k) + ", now " + now.get(k) + ")");
    });
    if (!differ.isEmpty()) {
      throw new IllegalArgumentException("--resume: checkpoint " + show(checkpoint) + " was made with other settings: "
          + String.join("; ", differ) + ". Resume with the same settings, or --force to start over");
    }
  }

  /**
   * Readies the run directory (opened, locked, and known to be empty or a training run's): returns the earlier result
   * if it is a finished run with the same settings; starts a fresh run (discarding ours with --force); refuses to mix
   * runs (an unfinished run needs --resume or --force, a finished one with other settings --force).
   */
  private static Optional<Result> prepareOutput(StageOutput out, TrainOptions opts, ObjectNode settings) {
    FileSystem fs = out.fileSystem();
    Path output = out.target();
    try {
      String fingerprint = settingsFingerprint(settings);
      if (out.existing() == null || opts.force()) {
        out.create(fingerprint);
        return Optional.empty();
      }
      removeTemporaries(fs, output);
      if (out.state() == StageOutput.State.COMPLETE) {
        JsonNode summary = JSON.readTree(HadoopFiles.readText(fs, new Path(output, TRAIN_JSON)));
        if (settings.equals(summary.get("settings"))) {
          LOG.info("train: {} is a finished run with the same settings and data: nothing to do (--force retrains)",
              show(output));
          JsonNode eval = summary.path("eval");
          Map<String, Double> evalMap = new LinkedHashMap<>();
          eval.fields().forEachRemaining(f -> evalMap.put(f.getKey(), f.getValue().asDouble()));
          return Optional.of(new Result(true, summary.path("steps").asLong(), summary.path("pairs").asLong(),
              summary.path("workers").asInt(), evalMap, 0, 0, show(new Path(output, MODEL))));
        }
        throw new IllegalArgumentException("--output " + show(output) + " holds a finished run with other settings or data:"
            + " pass --force to replace it, or choose another output directory");
      }
      if (!opts.resume()) {
        throw new IllegalArgumentException("--output " + show(output) + " holds an unfinished run: pass --resume to continue"
            + " it from its newest checkpoint, or --force to start over");
      }
      return Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException("preparing " + output + ": " + e.getMessage(), e);
    }
  }

  /** Removes what a killed run left half-written inside the run directory (the model's and checkpoints' temps). */
  private static void removeTemporaries(FileSystem fs, Path output) throws IOException {
    for (Path dir : new Path[] {output, new Path(output, Checkpoints.DIR)}) {
      if (!fs.isDirectory(dir)) continue;
      for (FileStatus st : fs.listStatus(dir)) {
        if (isOurTemp(st.getPath().getName())) fs.delete(st.getPath(), true);
      }
    }
  }

  private static String settingsFingerprint(ObjectNode settings) {
    return StageOutput.sha256(settings.toString());
  }


  /** Temporary siblings the trainer writes before a rename (.model.tmp-…, .step-N.tmp-…, GptCheckpoint's). */
  private static boolean isOurTemp(String name) {
    return name.matches("\\.(model|adapter|step-\\d+)\\.(tmp|old)-[0-9a-f-]+");
  }

  private static void writeSummary(FileSystem fs, Path output, TrainOptions opts, ObjectNode settings, Result r, DataOrder.Plan plan,
      long totalSteps, Path lastCheckpoint) {
    ObjectNode j = JSON.createObjectNode();
    j.put("data", opts.data());
    j.put("start_model", opts.model());
    j.set("settings", settings);
    j.put("steps", r.steps());
    j.put("total_steps", totalSteps);
    j.put("pairs", r.pairs());
    j.put("workers", r.workers());
    j.put("global_batch", plan.globalBatch());
    j.put("steps_per_epoch", plan.stepsPerEpoch());
    j.put("seconds", r.seconds());
    j.put("tokens", r.tokens());
    j.put("tokens_per_second", r.tokensPerSecond());
    j.set("eval", JSON.valueToTree(r.eval()));
    j.put("model", r.model());
    if (opts.lora() != null) {
      j.put("adapter", show(new Path(output, Checkpoints.ADAPTER)));
      if (!opts.lora().merge()) {
        j.put("model_note", "LoRA without --merge: no merged model was written; adapter/ holds the adapters (PEFT's"
            + " format) for the base model " + opts.model());
      }
    }
    j.put("last_checkpoint", lastCheckpoint == null ? null : show(lastCheckpoint));
    Path file = new Path(output, TRAIN_JSON);
    try {
      HadoopFiles.writeText(fs, file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(j));
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + file + ": " + e.getMessage(), e);
    }
  }

  /** A path for logs and train.json: local paths as before (no file: scheme), others as URIs. */
  private static String show(Path p) {
    return StageOutput.show(p);
  }
}
