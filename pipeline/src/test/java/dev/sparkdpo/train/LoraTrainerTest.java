package dev.sparkdpo.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import dev.sparkdpo.model.PeftAdapter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * LoRA DPO on the tiny preference task, end to end through Spark: only the adapters train (the network's parameters,
 * what averaging moves), the policy starts equal to the reference, held-out accuracy and margin rise, adapter/ is
 * PEFT's format (in checkpoints too), --merge's model/ scores as base + adapters, and a resumed run ends where an
 * uninterrupted one does.
 */
class LoraTrainerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final LoraConfig LORA = new LoraConfig(4, 8, 0, List.of("c_attn", "c_proj", "c_fc"));
  @TempDir static Path tmp;
  private static SparkSession spark;
  private static TrainFixture fixture;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("lora-trainer-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
        .config("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator")
        .getOrCreate();
    // GPT-2's init (std 0.02) gives a frozen tied head logits within ~+-0.3 whatever the adapters do to the residual
    // stream: wte x 10 lets a model that only trains adapters express the task
    GptCheckpoint start = GptInit.init(TrainFixture.GPT, 1);
    float[] wte = start.weights().get("transformer.wte.weight").data();
    for (int i = 0; i < wte.length; i++) wte[i] *= 10;
    fixture = TrainFixture.create(spark, tmp.resolve("fixture"), start);
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** AdamW at a LoRA-sized learning rate (adapters take larger ones than full fine-tuning). */
  private static TrainOptions lora(Path out, int epochs, long maxSteps, long evalSteps, long checkpointSteps,
      boolean merge, boolean resume) {
    return lora(LORA, out, epochs, maxSteps, evalSteps, checkpointSteps, merge, resume);
  }

  private static TrainOptions lora(LoraConfig config, Path out, int epochs, long maxSteps, long evalSteps,
      long checkpointSteps, boolean merge, boolean resume) {
    return TrainFixture.options(fixture.reference, fixture.model, out, "adamw", 5e-2, 1.0, 2, 4, 2, epochs, maxSteps,
        evalSteps, checkpointSteps, resume).withLora(new TrainOptions.Lora(config, merge));
  }

  @Test
  void learnsTheTaskTrainingOnlyTheAdaptersAndWritesPeftAdaptersAndAMergedModel() throws IOException {
    Path out = tmp.resolve("learn");
    Trainer.Result r = Trainer.run(spark, lora(out, 4, 0, 16, 32, true, false));
    List<JsonNode> lines = metrics(out);
    List<JsonNode> evals = lines.stream().filter(j -> j.has("eval_loss")).toList();
    JsonNode first = evals.get(0), last = evals.get(evals.size() - 1);
    System.out.printf("LoraTrainerTest: eval loss %.4f -> %.4f, accuracy %.2f -> %.2f, margin %.4f -> %.4f over %d"
            + " steps%n", first.get("eval_loss").asDouble(), last.get("eval_loss").asDouble(),
        first.get("eval_rewards/accuracies").asDouble(), last.get("eval_rewards/accuracies").asDouble(),
        first.get("eval_rewards/margins").asDouble(), last.get("eval_rewards/margins").asDouble(), r.steps());
    // B = 0 at the start: the policy is the reference model exactly (every reward 0, the loss ln 2)
    assertEquals(0, first.get("step").asLong());
    assertEquals(Math.log(2), first.get("eval_loss").asDouble(), 1e-6);
    assertEquals(0, first.get("eval_rewards/margins").asDouble(), 1e-6);
    assertTrue(last.get("eval_rewards/accuracies").asDouble() >= 0.8, last.toString());
    assertTrue(last.get("eval_rewards/margins").asDouble() > 0.1, last.toString());
    assertTrue(last.get("eval_loss").asDouble() < 0.8 * first.get("eval_loss").asDouble(), last.toString());

    // averaging moves the adapters and their AdamW state (m, v) only: 2 workers x 4 bytes x 3 x adapter count
    long adapters = LoraParams.count(TrainFixture.GPT, LORA);
    List<JsonNode> rounds = lines.stream().filter(j -> j.has("averaged_bytes")).toList();
    assertEquals(r.steps() / 2, rounds.size(), "one line per round (k = 2) carries the round's traffic");
    for (JsonNode j : rounds) assertEquals(2 * 4 * 3 * adapters, j.get("averaged_bytes").asLong());

    // adapter/ in PEFT's format, in the output and in each checkpoint; no model files in checkpoints
    Path adapter = out.resolve(Checkpoints.ADAPTER);
    JsonNode config = JSON.readTree(adapter.resolve(PeftAdapter.CONFIG).toFile());
    assertEquals("LORA", config.get("peft_type").asText());
    assertEquals(4, config.get("r").asInt());
    assertTrue(config.get("fan_in_fan_out").asBoolean());
    assertEquals(fixture.model.toString(), config.get("base_model_name_or_path").asText());
    LoraParams trained = PeftAdapter.load(adapter, TrainFixture.GPT, DataType.FLOAT, "test");
    assertTrue(trained.get("transformer.h.0.attn.c_attn.lora_B.weight").amaxNumber().doubleValue() > 0, "B trained");
    Path lastCheckpoint = out.resolve("checkpoints/step-" + r.steps());
    assertEquals(trained.flat(), PeftAdapter.load(lastCheckpoint.resolve(Checkpoints.ADAPTER), TrainFixture.GPT,
        DataType.FLOAT, "test").flat());
    assertFalse(Files.exists(lastCheckpoint.resolve(GptCheckpoint.WEIGHTS)), "the frozen base is not checkpointed");

    // --merge: model/ is the base with W + s (B A)^T, scoring as base + adapters
    Gpt base = Gpt.from(GptCheckpoint.load(fixture.model));
    Gpt merged = Gpt.from(GptCheckpoint.load(out.resolve(Trainer.MODEL)));
    int[][] tokens = {{3, 17, 33, 35, 31}, {3, 17, 44, 41}, {9, 2, 5, 38, 30, 36, 39}};
    int[] prompts = {2, 2, 4};
    double[] adapted = base.withAdapters(trained).responseLogProbs(tokens, prompts);
    double[] fromFile = merged.responseLogProbs(tokens, prompts);
    double[] plain = base.responseLogProbs(tokens, prompts);
    for (int i = 0; i < tokens.length; i++) {
      assertEquals(adapted[i], fromFile[i], 1e-5 * Math.max(1, Math.abs(adapted[i])), "row " + i);
      assertTrue(Math.abs(adapted[i] - plain[i]) > 1e-3, "training changed row " + i);
    }
    // a checkpoint's adapters merged into the base (what pipeline.checkpoint-evals evaluates): the last checkpoint
    // is the final adapters, so its merge is --merge's model/; a second merge into the same directory is skipped
    assertTrue(Checkpoints.holdsAdapters(lastCheckpoint));
    Path mergedCheckpoint = tmp.resolve("learn-merged-step-" + r.steps());
    assertTrue(Checkpoints.saveMergedCheckpoint(lastCheckpoint, fixture.model, mergedCheckpoint));
    assertArrayEquals(fromFile, Gpt.from(GptCheckpoint.load(mergedCheckpoint)).responseLogProbs(tokens, prompts), 0.0);
    Set<String> files = names(mergedCheckpoint);
    assertTrue(files.remove(Checkpoints.MERGED_FROM), files.toString());
    assertEquals(names(out.resolve(Trainer.MODEL)), files, "the files of --merge's model/ (the base's other files)");
    assertFalse(Checkpoints.saveMergedCheckpoint(lastCheckpoint, fixture.model, mergedCheckpoint), "kept");

    JsonNode summary = JSON.readTree(out.resolve(Trainer.TRAIN_JSON).toFile());
    assertEquals(4, summary.get("settings").get("lora").get("r").asInt());
    assertTrue(summary.get("adapter").asText().endsWith(Checkpoints.ADAPTER));
  }

  @Test
  void resumingALoraRunFromACheckpointGivesTheAdaptersOfAnUninterruptedRun() throws IOException {
    // with lora_dropout: the masks are drawn from the seed, the step and the minibatch, so the resumed run's steps
    // draw the masks the uninterrupted run's drew
    LoraConfig dropping = new LoraConfig(LORA.rank(), LORA.alpha(), 0.1, LORA.targets());
    Path whole = tmp.resolve("whole");
    Trainer.run(spark, lora(dropping, whole, 2, 24, 0, 8, false, false));
    assertEquals(0.1, JSON.readTree(whole.resolve(Checkpoints.ADAPTER).resolve(PeftAdapter.CONFIG).toFile())
        .get("lora_dropout").asDouble());
    JsonNode summary = JSON.readTree(whole.resolve(Trainer.TRAIN_JSON).toFile());
    assertTrue(summary.get("model_note").asText().contains("--merge"), summary.toString());
    assertFalse(Files.exists(whole.resolve(Trainer.MODEL)), "no merged model without --merge");

    Path crashed = tmp.resolve("crashed");
    copy(whole, crashed);
    for (String gone : List.of("checkpoints/step-24", Checkpoints.ADAPTER, "_SUCCESS", Trainer.TRAIN_JSON)) {
      Checkpoints.deleteTree(crashed.resolve(gone));
    }
    Trainer.Result r = Trainer.run(spark, lora(dropping, crashed, 2, 24, 0, 8, false, true));
    assertEquals(24, r.steps());
    LoraParams resumed = PeftAdapter.load(crashed.resolve(Checkpoints.ADAPTER), TrainFixture.GPT, DataType.FLOAT, "t");
    LoraParams uninterrupted = PeftAdapter.load(whole.resolve(Checkpoints.ADAPTER), TrainFixture.GPT, DataType.FLOAT,
        "t");
    double diff = resumed.flat().sub(uninterrupted.flat()).amaxNumber().doubleValue();
    System.out.printf("LoraTrainerTest: resumed at step 16 vs uninterrupted: max |diff| %.2e%n", diff);
    assertTrue(diff <= 1e-6, "resumed run differs by " + diff);

    // and the dropout acted: the same run without it ends elsewhere
    Path noDropout = tmp.resolve("no-dropout");
    Trainer.run(spark, lora(noDropout, 2, 24, 0, 0, false, false));
    double moved = PeftAdapter.load(noDropout.resolve(Checkpoints.ADAPTER), TrainFixture.GPT, DataType.FLOAT, "t")
        .flat().sub(uninterrupted.flat()).amaxNumber().doubleValue();
    System.out.printf("LoraTrainerTest: lora_dropout 0.1 vs 0 after 24 steps: max |diff| %.2e%n", moved);
    assertTrue(moved > 1e-3, "dropout changed nothing: " + moved);
  }

  @Test
  void fullFineTuningReportsItsAveragingTrafficToo() throws IOException {
    Path out = tmp.resolve("full");
    Trainer.run(spark, TrainFixture.options(fixture.reference, fixture.model, out, "sgd", 0.1, 0, 2, 4, 1, 1, 2, 0, 0,
        false));
    List<JsonNode> rounds = metrics(out).stream().filter(j -> j.has("averaged_bytes")).toList();
    assertEquals(2, rounds.size());
    for (JsonNode j : rounds) assertEquals(2 * 4 * TrainFixture.GPT.parameterCount(), j.get("averaged_bytes").asLong());
  }

  private static List<JsonNode> metrics(Path out) throws IOException {
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve(MetricsLog.FILE))) lines.add(JSON.readTree(line));
    return lines;
  }

  private static Set<String> names(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith("_") && !n.startsWith("."))
          .collect(Collectors.toCollection(TreeSet::new));
    }
  }

  private static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) Files.createDirectories(target);
        else Files.copy(p, target);
      }
    }
  }
}
