package dev.sparkdpo.tests.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.jobs.pipeline.Pipeline;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.cli.CliRuns.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code spark-dpo pipeline} end to end on local[2] with a shrunken demo (the demo's code path: demo data, ingest,
 * init-model, sft, reference, train, evaluate with its report): a first run runs every stage, a second
 * skips every one, {@code --from train --force} reruns train only, and a run killed (SIGKILL) during train resumes at
 * train, skipping the stages before it, {@code --to} stops after its stage, and a generate-pairs block makes
 * reference read generate-pairs' output. Measured: 39 s on 2 quiet cores, 170 s on a shared machine.
 */
@Timeout(value = 8, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
public class PipelineTest {
  private static final List<String> BEFORE_EVALUATE =
      List.of("demo", "ingest", "init-model", "sft", "reference", "train");
  private static final long TRAIN_STEPS = 8;

  @TempDir static Path tmp;

  static Path root() {
    return tmp.resolve("run");
  }

  /** conf/demo.conf's shape, shrunk: fewer sentences and pairs, a smaller model, a few steps. */
  static Path config() throws Exception {
    return config("demo-small.conf", "");
  }

  /** The config, plus {@code extra} blocks. */
  static Path config(String name, String extra) throws Exception {
    Path file = tmp.resolve(name);
    if (Files.exists(file)) return file;
    Files.writeString(file, extra + smallDemo(root().toString().replace("\\", "/"), TRAIN_STEPS));
    return file;
  }

  /**
   * The text of a shrunken demo config with run root {@code root} and {@code trainSteps} train steps (a checkpoint
   * every 2): fewer sentences and pairs than conf/demo.conf, a 1-layer model, a few steps per stage.
   */
  public static String smallDemo(String root, long trainSteps) {
    return """
        spark { conf { "spark.sql.shuffle.partitions" = 2 } }
        pipeline { output = "%s" }
        demo { seed = 7, sentences = 300, pairs = 120 }
        ingest { max-length = 32, eval-fraction = 0.2 }
        init-model { n-layer = 1, n-embd = 32, n-head = 2, n-positions = 32, seed = 7 }
        sft { learning-rate = 3e-3, batch-size-per-worker = 8, averaging-frequency = 2, max-steps = 4,
              eval-steps = 100, checkpoint-steps = 100 }
        reference { progress-seconds = 30 }
        train { learning-rate = 1e-3, batch-size-per-worker = 4, averaging-frequency = 2, max-steps = %d,
                eval-steps = 100, checkpoint-steps = 2 }
        evaluate { prompts = 6, samples-per-prompt = 2, max-new-tokens = 8 }
        """.formatted(root, trainSteps);
  }

  static Run pipeline(String... extra) throws Exception {
    String[] base = {"pipeline", "--config", config().toString(), "--master", "local[2]"};
    String[] all = new String[base.length + extra.length];
    System.arraycopy(base, 0, all, 0, base.length);
    System.arraycopy(extra, 0, all, base.length, extra.length);
    Run run = CliRuns.run(all);
    assertEquals(0, run.exitCode(), run::describe);
    return run;
  }

  /** pipeline.json's stages by name. */
  static Map<String, JsonNode> stages() throws Exception {
    JsonNode doc = CliRuns.JSON.readTree(root().resolve(Pipeline.PIPELINE_JSON).toFile());
    Map<String, JsonNode> byName = new LinkedHashMap<>();
    for (JsonNode s : doc.path("stages")) byName.put(s.path("name").asText(), s);
    assertEquals(Pipeline.stageNames(), List.copyOf(byName.keySet()));
    return byName;
  }

  static Map<String, String> statuses() throws Exception {
    Map<String, String> m = new LinkedHashMap<>();
    stages().forEach((k, v) -> m.put(k, v.path("status").asText()));
    return m;
  }

  static JsonNode trainJson() throws Exception {
    return CliRuns.JSON.readTree(root().resolve("train/train.json").toFile());
  }

  private static Map<String, String> fingerprintsRun;

  @Test
  @Order(1)
  void aFirstRunRunsEveryStageUnderTheRunRoot() throws Exception {
    Run run = pipeline();
    Map<String, JsonNode> stages = stages();
    for (String name : BEFORE_EVALUATE) {
      JsonNode s = stages.get(name);
      assertEquals("ran", s.path("status").asText(), name + ": " + s);
      assertFalse(s.path("skipped").asBoolean(), name);
      assertEquals(root().resolve(name).toString(), s.path("output").asText(), name);
      assertTrue(s.path("fingerprint").asText().matches("[0-9a-f]{64}"), name + ": " + s);
      assertTrue(Files.exists(root().resolve(name).resolve("_SUCCESS")), name + " is complete");
    }
    // evaluate ran and wrote eval.json, samples.jsonl and the report
    assertEquals("ran", stages.get("evaluate").path("status").asText(), stages.get("evaluate").toString());
    for (String f : List.of("eval.json", "samples.jsonl", "report.html", "_SUCCESS")) {
      assertTrue(Files.exists(root().resolve("evaluate").resolve(f)), "evaluate/" + f);
    }
    assertTrue(run.stdout().contains("report: " + root().resolve("evaluate/report.html")), run.stdout());

    // the wiring: sft started from init-model, reference and train used sft's model, train read reference's output
    JsonNode train = trainJson();
    assertEquals(TRAIN_STEPS, train.path("steps").asLong(), train.toString());
    String settings = train.path("settings").toString();
    assertTrue(Files.isRegularFile(root().resolve("sft/model/model.safetensors")));
    assertTrue(Files.isRegularFile(root().resolve("train/model/model.safetensors")));
    String referenceJson = Files.readString(root().resolve("reference/reference.json"));
    assertTrue(referenceJson.contains(root().resolve("sft/model").toString()), referenceJson);
    assertNotNull(settings);
    fingerprintsRun = new LinkedHashMap<>();
    stages.forEach((k, v) -> fingerprintsRun.put(k, v.path("fingerprint").asText()));
  }

  @Test
  @Order(2)
  void aSecondRunSkipsEveryStage() throws Exception {
    long trainModified = Files.getLastModifiedTime(root().resolve("train/model/model.safetensors")).toMillis();
    pipeline();
    Map<String, JsonNode> stages = stages();
    for (String name : BEFORE_EVALUATE) {
      JsonNode s = stages.get(name);
      assertEquals("skipped", s.path("status").asText(), name + ": " + s);
      assertTrue(s.path("skipped").asBoolean(), name);
      assertEquals(fingerprintsRun.get(name), s.path("fingerprint").asText(), name + ": same fingerprint");
    }
    assertEquals(trainModified, Files.getLastModifiedTime(root().resolve("train/model/model.safetensors")).toMillis());
  }

  @Test
  @Order(3)
  void fromTrainWithForceRerunsTrainOnly() throws Exception {
    long sftModified = Files.getLastModifiedTime(root().resolve("sft/model/model.safetensors")).toMillis();
    long trainModified = Files.getLastModifiedTime(root().resolve("train/model/model.safetensors")).toMillis();
    pipeline("--from", "train", "--force");
    Map<String, String> statuses = statuses();
    for (String name : List.of("demo", "ingest", "init-model", "sft", "reference")) {
      assertEquals("skipped", statuses.get(name), name + ": " + statuses);
      assertTrue(stages().get(name).path("note").asText().contains("before --from train"), name);
    }
    assertEquals("ran", statuses.get("train"), statuses.toString());
    assertEquals(sftModified, Files.getLastModifiedTime(root().resolve("sft/model/model.safetensors")).toMillis());
    assertTrue(Files.getLastModifiedTime(root().resolve("train/model/model.safetensors")).toMillis() > trainModified);
    assertEquals(TRAIN_STEPS, trainJson().path("steps").asLong());
  }

  @Test
  @Order(4)
  void aRunKilledDuringTrainResumesAtTrainAndSkipsTheStagesBefore() throws Exception {
    // the test's own run root: dropping train's output makes train the first stage left to do
    CliRuns.deleteRecursively(root().resolve("train"));
    Path log = tmp.resolve("killed.log");
    Process child = CliRuns.startChild(log, "pipeline", "--config", config().toString(), "--master", "local[2]");
    Path checkpoint = root().resolve("train/checkpoints/step-2/trainer_state.json");
    try {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
      while (!Files.exists(checkpoint)) {
        assertTrue(child.isAlive(), () -> "the run ended before train's first checkpoint:\n" + tailOf(log));
        assertTrue(System.nanoTime() < deadline, () -> "no checkpoint in time:\n" + tailOf(log));
        Thread.sleep(20);
      }
      child.destroyForcibly(); // SIGKILL
      assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the killed run did not exit");
    } finally {
      child.destroyForcibly();
    }
    assertFalse(Files.exists(root().resolve("train/_SUCCESS")), "train finished before it was killed");
    assertEquals("running", statuses().get("train"), "pipeline.json of the killed run");

    Run resumed = pipeline();
    Map<String, String> statuses = statuses();
    for (String name : List.of("demo", "ingest", "init-model", "sft", "reference")) {
      assertEquals("skipped", statuses.get(name), name + ": " + statuses);
    }
    assertEquals("ran", statuses.get("train"), statuses.toString());
    assertTrue(resumed.stderr().contains("train: resuming from") || resumed.stdout().contains("train: resuming from"),
        () -> "train did not resume from its checkpoint:\n" + CliRuns.tail(resumed.stderr(), 40));
    assertEquals(TRAIN_STEPS, trainJson().path("steps").asLong());
    assertTrue(Files.exists(root().resolve("train/_SUCCESS")));
  }

  @Test
  @Order(5)
  void toStopsAfterItsStageAndLeavesTheLaterOutputsAlone() throws Exception {
    long referenceModified = Files.getLastModifiedTime(root().resolve("reference/_SUCCESS")).toMillis();
    long trainModified = Files.getLastModifiedTime(root().resolve("train/model/model.safetensors")).toMillis();
    long evalModified = Files.getLastModifiedTime(root().resolve("evaluate/eval.json")).toMillis();
    Run run = pipeline("--from", "reference", "--to", "reference", "--force");
    assertTrue((run.stdout() + run.stderr()).contains("pipeline: stage reference ("), run::describe);
    Map<String, JsonNode> stages = stages();
    assertEquals("ran", stages.get("reference").path("status").asText(), stages.toString());
    for (String name : List.of("train", "evaluate")) {
      assertEquals("skipped", stages.get(name).path("status").asText(), name + ": " + stages.get(name));
      assertTrue(stages.get(name).path("note").asText().contains("after --to reference"), name);
      String log = run.stdout() + run.stderr();
      assertFalse(log.contains("pipeline: stage " + name + " ("), () -> name + " ran:\n" + CliRuns.tail(log, 40));
    }
    assertTrue(Files.getLastModifiedTime(root().resolve("reference/_SUCCESS")).toMillis() > referenceModified);
    assertEquals(trainModified, Files.getLastModifiedTime(root().resolve("train/model/model.safetensors")).toMillis());
    assertEquals(evalModified, Files.getLastModifiedTime(root().resolve("evaluate/eval.json")).toMillis());
  }

  @Test
  @Order(6)
  void aGeneratePairsBlockSamplesPairsFromTheModelOfReferenceAndReferenceReadsThem() throws Exception {
    Path config = config("demo-generate.conf", "generate-pairs { samples-per-prompt = 4, max-new-tokens = 8,"
        + " max-prompts = 16 }\n");
    Run run = CliRuns.run("pipeline", "--config", config.toString(), "--master", "local[2]", "--from",
        "generate-pairs", "--to", "reference");
    assertEquals(0, run.exitCode(), run::describe);
    Map<String, JsonNode> stages = stages();
    assertEquals("ran", stages.get("generate-pairs").path("status").asText(), stages.toString());
    assertEquals("ran", stages.get("reference").path("status").asText(), stages.toString());
    JsonNode stats = CliRuns.JSON.readTree(root().resolve("generate-pairs/stats.json").toFile());
    // prompts: the ingest output's; sampled from sft's model; rewarded by the demo's lexicon
    assertEquals("pairs", stats.at("/prompts/source").asText(), stats.toString());
    assertEquals(List.of(root().resolve("ingest").toString()),
        List.of(stats.at("/settings/prompts/0").asText()), stats.toString());
    assertEquals(root().resolve("sft/model").toString(), stats.at("/settings/model").asText());
    assertTrue(stats.at("/settings/reward").asText().endsWith("demo/lexicon.json"), stats.toString());
    assertTrue(stats.get("pairs").asLong() > 0, stats.toString());
    String referenceJson = Files.readString(root().resolve("reference/reference.json"));
    assertTrue(referenceJson.contains(root().resolve("generate-pairs").toString()), referenceJson);
    // without the block the stage is disabled, and says why
    pipeline("--to", "ingest");
    assertEquals("disabled", stages().get("generate-pairs").path("status").asText());
    assertTrue(stages().get("generate-pairs").path("note").asText().contains("no generate-pairs block"));
  }

  @Test
  @Order(7)
  void aLoraTrainBlockMergesItsAdaptersSoEvaluateReadsTrainsModel() throws Exception {
    // merge is not given: the pipeline's train always merges, since evaluate reads train/model; with checkpoint-evals
    // the checkpoint at step 1 (adapters only) is evaluated as the base with its adapters merged (train reads the
    // generate-pairs test's 14 pairs: 2 steps, checkpointed at the end of each averaging round, so one checkpoint
    // besides the final model's with averaging-frequency 1; the settings after the demo's override its own)
    Path config = tmp.resolve("demo-lora.conf");
    Files.writeString(config, smallDemo(root().toString().replace("\\", "/"), TRAIN_STEPS)
        + "train { lora-rank = 4, lora-targets = [c_attn, c_proj, c_fc], checkpoint-steps = 1,\n"
        + "        averaging-frequency = 1 }\n"
        + "pipeline { checkpoint-evals = true }\n");
    Run run = CliRuns.run("pipeline", "--config", config.toString(), "--master", "local[2]", "--from", "train",
        "--force");
    assertEquals(0, run.exitCode(), run::describe);
    Map<String, String> statuses = statuses();
    assertEquals("ran", statuses.get("train"), statuses.toString());
    assertEquals("ran", statuses.get("evaluate"), statuses.toString());
    assertEquals("ran", statuses.get("runs"), statuses.toString());
    assertEquals("ran", statuses.get("frontier"), statuses.toString());
    assertTrue(Files.isDirectory(root().resolve("train/checkpoints/step-1/adapter")));
    assertFalse(Files.exists(root().resolve("train/checkpoints/step-1/model.safetensors")), "a LoRA checkpoint");
    assertTrue(Files.isRegularFile(root().resolve("evaluate-steps/merged/step-1/model.safetensors")));
    assertTrue(Files.isRegularFile(root().resolve("evaluate-steps/step-1/eval.json")));
    List<String> points = new ArrayList<>();
    for (JsonNode p : CliRuns.JSON.readTree(root().resolve("frontier/results.json").toFile()).path("points")) {
      points.add(p.path("run").asText() + (p.has("step") ? "@" + p.path("step").asLong() : ""));
    }
    long steps = trainJson().path("steps").asLong();
    assertTrue(steps > 1, trainJson()::toPrettyString);
    assertTrue(points.containsAll(List.of("run@1", "run@" + steps)), points.toString());
    JsonNode adapterConfig = CliRuns.JSON.readTree(root().resolve("train/adapter/adapter_config.json").toFile());
    assertEquals(4, adapterConfig.path("r").asInt(), adapterConfig::toPrettyString);
    assertTrue(trainJson().path("settings").path("lora").path("merge").asBoolean(), trainJson()::toPrettyString);
    assertTrue(Files.isRegularFile(root().resolve("train/model/model.safetensors")));
    assertTrue(Files.isRegularFile(root().resolve("evaluate/eval.json")));

    // merge = false would leave evaluate without a model: refused, naming the key
    Path noMerge = config("demo-lora-nomerge.conf", "train { lora-rank = 4, merge = false }\n");
    Run refused = CliRuns.run("pipeline", "--config", noMerge.toString(), "--master", "local[2]", "--from", "train",
        "--to", "train", "--force");
    assertEquals(2, refused.exitCode(), refused::describe);
    assertTrue(refused.stderr().contains("train.merge = false"), refused::describe);
  }

  private static String tailOf(Path log) {
    try {
      return CliRuns.tail(Files.readString(log), 40);
    } catch (Exception e) {
      return "(no log: " + e + ")";
    }
  }
}
