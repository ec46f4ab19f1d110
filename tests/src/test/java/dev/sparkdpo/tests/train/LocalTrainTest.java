package dev.sparkdpo.tests.train;

import static dev.sparkdpo.tests.train.TrainFixtures.evalLines;
import static dev.sparkdpo.tests.train.TrainFixtures.maxAbsDifference;
import static dev.sparkdpo.tests.train.TrainFixtures.metrics;
import static dev.sparkdpo.tests.train.TrainFixtures.stepLines;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.Safetensors;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.cli.CliRuns.Run;
import dev.sparkdpo.tests.train.TrainFixtures.Prepared;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.LongStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The train command end to end on Spark {@code local[2]}: a corpus a tiny model can learn (positive chosen, negative
 * rejected responses) through the real ingest, init-model and reference, then the real {@code train}, asserting on
 * what it printed and wrote: it learns, its metrics and checkpoints, a skipped rerun, an exact resume after a SIGKILL,
 * the reference-fingerprint check and the divergence guard.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class LocalTrainTest {
  static final String MASTER = "local[2]";
  static final int WORKERS = 2;
  static final int BATCH = 8;
  static final double LEARNING_RATE = 1e-2;
  static final double LN2 = Math.log(2);
  static final double BETA = 0.1;

  static final List<String> STEP_KEYS = List.of("step", "epoch", "loss", "rewards/chosen", "rewards/rejected",
      "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected", "learning_rate", "grad_norm", "pairs",
      "tokens", "tokens_per_second", "workers", "wall_time");
  static final List<String> EVAL_KEYS = List.of("step", "epoch", "eval_loss", "eval_rewards/chosen",
      "eval_rewards/rejected", "eval_rewards/accuracies", "eval_rewards/margins", "eval_logps/chosen",
      "eval_logps/rejected", "eval_perplexity", "eval_pairs", "eval_seconds");
  static final List<String> CHECKPOINT_FILES = List.of("config.json", "model.safetensors", "tokenizer.json",
      "optimizer.safetensors", "trainer_state.json");

  @TempDir static Path tmp;
  static Prepared data;
  static final Map<String, String> report = new LinkedHashMap<>();

  @BeforeAll
  static void ingestInitAndReference() {
    long t0 = System.nanoTime();
    data = TrainFixtures.prepare(tmp.resolve("prep"), MASTER, 11, 3);
    report.put("prepare (init-model + ingest + reference)", String.format("%.1f s, %d train / %d eval pairs",
        (System.nanoTime() - t0) / 1e9, data.trainPairs(), data.evalPairs()));
  }

  @AfterAll
  static void printReport() {
    CliRuns.stopSpark();
    StringBuilder sb = new StringBuilder("LocalTrainTest:");
    report.forEach((k, v) -> sb.append("\n  ").append(k).append(": ").append(v));
    System.out.println(sb);
  }

  static Path out(String name) {
    return tmp.resolve("out").resolve(name);
  }

  /** train over the prepared reference output and model into {@code output}, on local[2], plus {@code extra}. */
  static List<String> args(Path output, String... extra) {
    return TrainFixtures.trainArgs(MASTER, data.reference(), data.model(), output, extra);
  }

  static List<String> with(List<String> args, String... extra) {
    List<String> a = new ArrayList<>(args);
    a.addAll(List.of(extra));
    return a;
  }

  static Run train(String name, List<String> args) {
    Run r = CliRuns.run(args.toArray(String[]::new));
    report.put("run " + name, String.format("%.1f s, exit %d", r.seconds(), r.exitCode()));
    return r;
  }

  static void assertTrained(Run r, Path output) {
    assertEquals(0, r.exitCode(), r::describe);
    assertTrue(Files.exists(output.resolve("_SUCCESS")), () -> "no _SUCCESS in " + CliRuns.listing(output));
    assertTrue(Files.isRegularFile(output.resolve("train.json")), () -> "no train.json: " + CliRuns.listing(output));
  }

  static long stepsPerEpoch() {
    return (data.trainPairs() + WORKERS * BATCH - 1) / (WORKERS * BATCH);
  }

  // ---------------------------------------------------------------------------------------------------- a. learns

  @Test
  @Order(1)
  void learnsThePreferenceWritesMetricsCheckpointsAndModelAndAnIdenticalRunIsSkipped() {
    Path output = out("learn");
    int epochs = 2;
    long every = 12; // checkpoints at 12, 24, 36 and the last step (40)
    List<String> args = args(output, "--learning-rate", String.valueOf(LEARNING_RATE), "--batch-size-per-worker",
        String.valueOf(BATCH), "--averaging-frequency", "2", "--epochs", String.valueOf(epochs), "--eval-steps", "10",
        "--checkpoint-steps", String.valueOf(every));
    Run r = train("learn", args);
    assertTrained(r, output);
    long n = stepsPerEpoch() * epochs;

    // what it printed
    JsonNode printed = r.printedJson();
    assertFalse(printed.path("skipped").asBoolean(true), printed::toPrettyString);
    assertEquals(n, printed.path("steps").asLong(), printed::toPrettyString);
    assertEquals(data.trainPairs(), printed.path("pairs").asLong(), printed::toPrettyString);
    assertEquals(WORKERS, printed.path("workers").asInt(), printed::toPrettyString);
    assertTrue(printed.path("seconds").asDouble() > 0 && printed.path("tokens_per_second").asDouble() > 0,
        printed::toPrettyString);
    assertEquals(output.resolve("model").toString(), printed.path("model").asText());

    // metrics.jsonl: a line per step 1..N with TRL's keys, the configured learning rate and a full global batch
    List<JsonNode> metrics = metrics(output);
    List<JsonNode> steps = stepLines(metrics);
    assertEquals(LongStream.rangeClosed(1, n).boxed().toList(), steps.stream().map(j -> j.path("step").asLong())
        .toList(), "step lines of metrics.jsonl");
    long pairsSeen = 0;
    for (JsonNode s : steps) {
      for (String k : STEP_KEYS) assertTrue(s.hasNonNull(k), () -> "step line without " + k + ": " + s);
      assertEquals(LEARNING_RATE, s.path("learning_rate").asDouble(), 1e-12, s::toString);
      assertEquals(WORKERS, s.path("workers").asInt(), s::toString);
      assertTrue(Double.isFinite(s.path("loss").asDouble()) && s.path("grad_norm").asDouble() > 0, s::toString);
      assertTrue(s.path("pairs").asLong() > 0 && s.path("pairs").asLong() <= WORKERS * BATCH, s::toString);
      assertTrue(s.path("tokens").asLong() > 0, s::toString);
      pairsSeen += s.path("pairs").asLong();
    }
    assertEquals(epochs * data.trainPairs(), pairsSeen, "every train pair once per epoch");
    assertEquals(epochs, steps.get(steps.size() - 1).path("epoch").asDouble(), 1e-9, "epoch of the last step");
    assertEquals(LN2, steps.get(0).path("loss").asDouble(), 1e-4, "the first step's loss: policy = reference");

    // eval lines: at 0, every 10 steps and the last; ln 2 at first, then it learns
    List<JsonNode> evals = evalLines(metrics);
    List<Long> expectedEvalSteps = new ArrayList<>(List.of(0L));
    expectedEvalSteps.addAll(TrainFixtures.everySteps(n, stepsPerEpoch(), 2, 10));
    assertEquals(expectedEvalSteps, evals.stream().map(j -> j.path("step").asLong()).toList(), "eval steps");
    for (JsonNode e : evals) {
      for (String k : EVAL_KEYS) assertTrue(e.hasNonNull(k), () -> "eval line without " + k + ": " + e);
      assertEquals(data.evalPairs(), e.path("eval_pairs").asLong(), e::toString);
    }
    JsonNode first = evals.get(0);
    JsonNode last = evals.get(evals.size() - 1);
    assertEquals(LN2, first.path("eval_loss").asDouble(), 1e-4, first::toString);
    assertTrue(last.path("eval_rewards/accuracies").asDouble() >= 0.9, last::toString);
    assertTrue(last.path("eval_loss").asDouble() < first.path("eval_loss").asDouble(), last::toString);
    assertTrue(last.path("eval_rewards/margins").asDouble() > 0, last::toString);
    assertEquals(last.path("eval_loss").asDouble(), printed.path("eval").path("eval_loss").asDouble(), 1e-12,
        "printed eval = the last eval line");
    report.put("learn: eval loss / accuracy", String.format("%.4f / %.3f at step 0 -> %.4f / %.3f at step %d",
        first.path("eval_loss").asDouble(), first.path("eval_rewards/accuracies").asDouble(),
        last.path("eval_loss").asDouble(), last.path("eval_rewards/accuracies").asDouble(), n));

    // checkpoints every 12 steps and at the end, each complete
    List<Long> expectedCheckpoints = TrainFixtures.everySteps(n, stepsPerEpoch(), 2, every);
    List<String> dirs = CliRuns.listing(output.resolve("checkpoints")).stream().filter(s -> !s.isEmpty()
        && !s.contains("/")).toList();
    assertEquals(expectedCheckpoints.stream().map(s -> "step-" + s).sorted().toList(), dirs, "checkpoint dirs");
    for (long s : expectedCheckpoints) {
      Path cp = output.resolve("checkpoints").resolve("step-" + s);
      for (String f : CHECKPOINT_FILES) assertTrue(Files.isRegularFile(cp.resolve(f)), cp + " has no " + f);
      assertEquals(s, TrainFixtures.readJson(cp.resolve("trainer_state.json")).path("global_step").asLong());
    }

    // model/: loads, equals the last checkpoint, and is not the starting model
    Path model = output.resolve("model");
    GptCheckpoint loaded = GptCheckpoint.load(model);
    assertEquals(GptCheckpoint.load(data.model()).config(), loaded.config(), "the trained model's config");
    assertTrue(Files.isRegularFile(model.resolve("tokenizer.json")), () -> CliRuns.listing(model).toString());
    assertEquals(0.0, maxAbsDifference(model, output.resolve("checkpoints").resolve("step-" + n)),
        "model/ vs the last checkpoint");
    double moved = maxAbsDifference(model, data.model());
    assertTrue(moved > 1e-3, "the weights barely moved: " + moved);

    JsonNode trainJson = TrainFixtures.readJson(output.resolve("train.json"));
    assertEquals(n, trainJson.path("steps").asLong(), trainJson::toPrettyString);

    // an identical second run: skipped, nothing touched
    Map<String, String> files = CliRuns.snapshot(output);
    Run again = train("learn-again", args);
    assertEquals(0, again.exitCode(), again::describe);
    assertTrue(again.stdout().contains("\"skipped\":true"), again.stdout());
    assertEquals(n, again.printedJson().path("steps").asLong());
    assertEquals(files, CliRuns.snapshot(output), "a skipped run touched the output");
  }

  // ---------------------------------------------------------------------------------------------------- b. resume

  /**
   * A run killed (SIGKILL) after its step-4 checkpoint, resumed with --resume, ends with the weights of an
   * uninterrupted run with the same settings, and its metrics.jsonl reads as one run.
   */
  @Test
  @Order(2)
  void aRunKilledAfterACheckpointResumesToTheWeightsOfAnUninterruptedRun() throws Exception {
    long steps = 16;
    Path killed = out("killed");
    String[] settings = {"--learning-rate", String.valueOf(LEARNING_RATE), "--max-steps", String.valueOf(steps),
        "--averaging-frequency", "2", "--checkpoint-steps", "4", "--eval-steps", "100"};
    List<String> runArgs = args(killed, settings);
    Path log = tmp.resolve("killed-run.log");
    long t0 = System.nanoTime();
    Process child = CliRuns.startChild(log, runArgs.toArray(String[]::new));
    try {
      awaitCheckpoint(child, killed.resolve("checkpoints/step-4/trainer_state.json"), log);
      child.destroyForcibly();
      assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the killed run did not exit");
    } finally {
      child.destroyForcibly();
    }
    List<String> leftBehind = CliRuns.listing(killed.resolve("checkpoints"));
    report.put("resume: child killed", String.format("%.1f s after start; checkpoints left %s",
        (System.nanoTime() - t0) / 1e9, leftBehind.stream().filter(s -> !s.isEmpty() && !s.contains("/")).toList()));
    assertFalse(Files.exists(killed.resolve("_SUCCESS")), "the run finished before it was killed");
    assertFalse(Files.exists(killed.resolve("model")), "the run finished before it was killed");

    // without --resume an unfinished run is refused
    Run refused = train("killed-without-resume", runArgs);
    assertEquals(2, refused.exitCode(), refused::describe);
    assertTrue(refused.stderr().contains("--resume"), refused::describe);

    Run resumed = train("resumed", with(runArgs, "--resume"));
    assertTrained(resumed, killed);
    assertEquals(steps, resumed.printedJson().path("steps").asLong(), resumed.stdout());

    Path straight = out("uninterrupted");
    Run full = train("uninterrupted", args(straight, settings));
    assertTrained(full, straight);

    double worst = maxAbsDifference(killed.resolve("model"), straight.resolve("model"));
    report.put("resume: max |resumed - uninterrupted| weight", String.valueOf(worst));
    assertTrue(worst <= 1e-6, "resumed vs uninterrupted weights differ by " + worst);

    // metrics.jsonl of the resumed run: steps 1..16 exactly once, evals at 0 and 16 once, losses as uninterrupted
    List<JsonNode> resumedMetrics = metrics(killed);
    List<JsonNode> resumedSteps = stepLines(resumedMetrics);
    assertEquals(LongStream.rangeClosed(1, steps).boxed().toList(),
        resumedSteps.stream().map(j -> j.path("step").asLong()).toList(), "step lines of the resumed run");
    assertEquals(List.of(0L, steps), evalLines(resumedMetrics).stream().map(j -> j.path("step").asLong()).toList(),
        "eval lines of the resumed run");
    List<JsonNode> straightSteps = stepLines(metrics(straight));
    double worstLoss = 0;
    for (int i = 0; i < steps; i++) {
      worstLoss = Math.max(worstLoss, Math.abs(resumedSteps.get(i).path("loss").asDouble()
          - straightSteps.get(i).path("loss").asDouble()));
    }
    report.put("resume: max |resumed - uninterrupted| step loss", String.valueOf(worstLoss));
    assertTrue(worstLoss <= 1e-5, "per-step losses of the resumed and the uninterrupted run differ by " + worstLoss);
    JsonNode evalResumed = evalLines(resumedMetrics).get(1);
    JsonNode evalStraight = evalLines(metrics(straight)).get(1);
    assertEquals(evalStraight.path("eval_loss").asDouble(), evalResumed.path("eval_loss").asDouble(), 1e-5);
  }

  /** Waits until {@code file} exists. Fails if the child exits first. */
  private static void awaitCheckpoint(Process child, Path file, Path log) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    while (System.nanoTime() < deadline) {
      if (Files.exists(file)) return;
      if (!child.isAlive()) {
        throw new AssertionError("the run to be killed ended first (exit " + child.exitValue() + "):\n"
            + CliRuns.tail(Files.readString(log), 40));
      }
      Thread.sleep(20);
    }
    throw new AssertionError("the run to be killed never wrote " + file + ":\n" + CliRuns.tail(Files.readString(log), 40));
  }

  // ---------------------------------------------------------------------------------------------------- c. mismatch

  /**
   * A reference output computed with model A and a policy starting from model B: refused (exit 2, naming
   * --allow-ref-mismatch) before anything is written; with --allow-ref-mismatch it trains, and the evaluation at step 0
   * measures B against A's reference log-probs. Runs after {@link #divergenceStopsWithTheStepsThePairsAndTheLastGoodCheckpoint},
   * whose last evaluation (in this JVM) was of model A at step 0: the evaluation here must not reuse it.
   */
  @Test
  @Order(4)
  void aReferenceFromAnotherModelIsRefusedUnlessAllowed() {
    Path otherModel = TrainFixtures.initModel(tmp.resolve("model-b"), 4);
    Path output = out("mismatch");
    List<String> mismatch = TrainFixtures.trainArgs(MASTER, data.reference(), otherModel, output, "--learning-rate",
        String.valueOf(LEARNING_RATE), "--max-steps", "2", "--averaging-frequency", "1");
    Run refused = train("mismatch", mismatch);
    assertEquals(2, refused.exitCode(), refused::describe);
    assertTrue(refused.stderr().contains("--allow-ref-mismatch"), refused::describe);
    assertTrue(refused.stderr().contains(otherModel.toString()), refused::describe);
    assertEquals(1, refused.stderr().lines().filter(l -> l.startsWith("error:")).count(), refused::describe);
    assertFalse(Files.exists(output), () -> "a refused run left " + CliRuns.listing(output));

    Run allowed = train("mismatch-allowed", with(mismatch, "--allow-ref-mismatch"));
    assertTrained(allowed, output);
    assertEquals(2, allowed.printedJson().path("steps").asLong(), allowed.stdout());
    assertEquals(2, stepLines(metrics(output)).size());

    // step 0: the policy is B, the reference A: B's log-probs, rewards = beta (B - A)
    JsonNode first = evalLines(metrics(output)).get(0);
    assertEquals(0, first.path("step").asLong(), first::toString);
    double[] refMeans = TrainFixtures.evalReferenceMeans(data.reference());
    double policyChosen = first.path("eval_logps/chosen").asDouble();
    double policyRejected = first.path("eval_logps/rejected").asDouble();
    report.put("mismatch: eval at step 0", String.format("policy B logps/chosen %.6f, reference A %.6f, "
        + "rewards/chosen %.6g", policyChosen, refMeans[0], first.path("eval_rewards/chosen").asDouble()));
    assertTrue(Math.abs(policyChosen - refMeans[0]) > 1e-3, () -> "the evaluation at step 0 gave model A's log-probs"
        + " (the reference's: " + refMeans[0] + "), not model B's: " + first);
    assertEquals(BETA * (policyChosen - refMeans[0]), first.path("eval_rewards/chosen").asDouble(), 1e-6,
        first::toString);
    assertEquals(BETA * (policyRejected - refMeans[1]), first.path("eval_rewards/rejected").asDouble(), 1e-6,
        first::toString);
  }

  // ---------------------------------------------------------------------------------------------------- d. NaN guard

  @Test
  @Order(3)
  void divergenceStopsWithTheStepsThePairsAndTheLastGoodCheckpoint() {
    Path output = out("diverged");
    Run r = train("diverged", args(output, "--optimizer", "sgd", "--learning-rate", "1e30", "--max-grad-norm", "0",
        "--averaging-frequency", "1", "--checkpoint-steps", "1", "--max-steps", "6"));
    assertEquals(2, r.exitCode(), r::describe);
    String err = r.stderr();
    for (String s : List.of("diverged", "steps", "pairs in these steps", "last good checkpoint")) {
      assertTrue(err.contains(s), () -> "stderr lacks '" + s + "'\n" + r.describe());
    }
    assertFalse(Files.exists(output.resolve("_SUCCESS")), () -> CliRuns.listing(output).toString());
    assertFalse(Files.exists(output.resolve("model")), () -> CliRuns.listing(output).toString());

    Matcher steps = Pattern.compile("in steps (\\d+)-(\\d+)").matcher(err);
    assertTrue(steps.find(), err);
    long failedStep = Long.parseLong(steps.group(1));
    Matcher pairs = Pattern.compile("step (\\d+) \\(epoch position \\d+\\): ([^;]+)").matcher(err);
    assertTrue(pairs.find(), err);
    assertEquals(failedStep, Long.parseLong(pairs.group(1)), err);
    long named = pairs.group(2).split(", ").length;
    assertTrue(named > 0 && named <= WORKERS * BATCH, "pairs of one step: " + named);
    Matcher cp = Pattern.compile("last good checkpoint: ([^;\\s]+)").matcher(err);
    assertTrue(cp.find(), err);
    if (failedStep == 1) {
      assertEquals("none", cp.group(1), err);
    } else {
      Path checkpoint = Path.of(cp.group(1));
      assertEquals(output.resolve("checkpoints").resolve("step-" + (failedStep - 1)), checkpoint, err);
      assertTrue(Files.isRegularFile(checkpoint.resolve("trainer_state.json")), err);
    }
    report.put("diverged", String.format("failed in step %d; %s", failedStep,
        err.lines().filter(l -> l.startsWith("error:")).findFirst().orElse("?")));
  }

  // ---------------------------------------------------------------------------------------------------- e. LoRA

  @Test
  @Order(5)
  void loraWithMergeWritesPeftAdaptersInTheOutputAndCheckpointsAndTheMergedModel() throws Exception {
    Path output = out("lora");
    Run r = train("lora", args(output, "--lora-rank", "4", "--merge", "--learning-rate", "1e-2",
        "--batch-size-per-worker", String.valueOf(BATCH), "--averaging-frequency", "2", "--max-steps", "4",
        "--checkpoint-steps", "2", "--eval-steps", "100"));
    assertTrained(r, output);
    assertEquals(output.resolve("model").toString(), r.printedJson().path("model").asText(), r::describe);

    // adapter/: PEFT's files and names, as peft.PeftModel.from_pretrained reads them
    Path adapter = output.resolve("adapter");
    JsonNode config = CliRuns.JSON.readTree(adapter.resolve("adapter_config.json").toFile());
    assertEquals("LORA", config.path("peft_type").asText(), config::toPrettyString);
    assertEquals(4, config.path("r").asInt(), config::toPrettyString);
    assertEquals(8.0, config.path("lora_alpha").asDouble(), config::toPrettyString);
    assertEquals("[\"c_attn\"]", config.path("target_modules").toString(), config::toPrettyString);
    assertTrue(config.path("fan_in_fan_out").asBoolean(), config::toPrettyString);
    int layers = GptCheckpoint.load(data.model()).config().nLayer();
    Set<String> expected = new TreeSet<>();
    for (int l = 0; l < layers; l++) {
      for (String ab : List.of("lora_A", "lora_B")) {
        expected.add("base_model.model.transformer.h." + l + ".attn.c_attn." + ab + ".weight");
      }
    }
    assertEquals(expected, new TreeSet<>(Safetensors.read(adapter.resolve("adapter_model.safetensors")).keySet()));

    // checkpoints hold the adapters (and the optimizer state), not the model; the merged model is a full HF model
    Path checkpoint = output.resolve("checkpoints/step-4");
    assertTrue(Files.isRegularFile(checkpoint.resolve("adapter/adapter_model.safetensors")),
        () -> CliRuns.listing(checkpoint).toString());
    assertFalse(Files.exists(checkpoint.resolve("model.safetensors")), () -> CliRuns.listing(checkpoint).toString());
    GptCheckpoint merged = GptCheckpoint.load(output.resolve("model"));
    assertEquals(GptCheckpoint.load(data.model()).parameterCount(), merged.parameterCount());
    // and the adapters trained: the merged model is not the start model
    assertTrue(maxAbsDifference(output.resolve("model"), data.model()) > 0, "the adapters changed nothing");
    report.put("lora", String.format("rank 4 on c_attn, %d adapter tensors", expected.size()));
  }
}
