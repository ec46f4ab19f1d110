package dev.sparkdpo.tests.hdfs;

import static dev.sparkdpo.tests.train.TrainFixtures.maxAbsDifference;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.jobs.pipeline.Pipeline;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.cli.CliRuns.Run;
import dev.sparkdpo.tests.pipeline.PipelineTest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole chain on a real HDFS (a NameNode and two DataNodes, {@link MiniHdfs}) with every path {@code hdfs://}:
 * the pipeline with a shrunken demo (demo data, ingest with the demo's tokenizer, init-model, sft, reference, train
 * with checkpoints, evaluate with its report) on local[2] in a child JVM whose working directory and temporary
 * directory are the test's own, then {@code report}, then train resumed from its HDFS checkpoint. Checked: every
 * output complete on HDFS; the same results as the same run on local paths (init-model's weights byte for byte,
 * train's weights, metrics and evaluate's numbers and samples); nothing written to the local disk but Spark's and
 * spark-dpo's temporary and cache directories, all removed at exit; the resumed run ends on the uninterrupted run's
 * weights.
 */
@Timeout(value = 12, unit = TimeUnit.MINUTES)
class HdfsPipelineTest {
  private static final long TRAIN_STEPS = 4;
  private static final List<String> STAGES = List.of("demo", "ingest", "init-model", "sft", "reference", "train",
      "evaluate");

  @TempDir static Path tmp;
  static MiniHdfs hdfs;
  static FileSystem fs;

  @BeforeAll
  static void start() {
    hdfs = MiniHdfs.start(tmp.resolve("hdfs"), 2);
    fs = hdfs.fileSystem();
  }

  @AfterAll
  static void stop() throws IOException {
    CliRuns.stopSpark();
    if (fs != null) fs.close();
    if (hdfs != null) hdfs.close();
  }

  /** PipelineTest's shrunken demo, run root {@code root}: a checkpoint every 2 of 4 train steps. */
  static Path config(String name, String root) throws IOException {
    Path file = tmp.resolve(name + ".conf");
    Files.writeString(file, PipelineTest.smallDemo(root, TRAIN_STEPS));
    return file;
  }

  private static Run ok(Run r) {
    assertEquals(0, r.exitCode(), r::describe);
    return r;
  }

  private static org.apache.hadoop.fs.Path hp(String path) {
    return new org.apache.hadoop.fs.Path(hdfs.path(path));
  }

  private static String hdfsText(String path) throws IOException {
    try (var in = fs.open(hp(path))) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** A copy of an HDFS directory on the local disk (for the model readers). */
  private static Path fetch(String path) throws IOException {
    Path local = tmp.resolve("fetched").resolve(UUID.randomUUID().toString());
    Files.createDirectories(local.getParent());
    fs.copyToLocalFile(false, hp(path), new org.apache.hadoop.fs.Path(local.toUri()), true);
    return local;
  }

  private static Map<String, String> statuses(JsonNode pipelineJson) {
    Map<String, String> m = new LinkedHashMap<>();
    for (JsonNode s : pipelineJson.path("stages")) m.put(s.path("name").asText(), s.path("status").asText());
    return m;
  }

  private static List<JsonNode> lines(String text) throws IOException {
    List<JsonNode> out = new ArrayList<>();
    for (String line : text.split("\n")) if (!line.isBlank()) out.add(CliRuns.JSON.readTree(line));
    return out;
  }

  private static List<String> entries(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.map(p -> p.getFileName().toString()).sorted().toList();
    }
  }

  @Test
  void theChainRunsOnHdfsLikeOnLocalPathsAndResumesFromAnHdfsCheckpoint() throws Exception {
    // ------------------------------------------------------------------------ the same run on local paths
    Path localRoot = tmp.resolve("local").resolve("run");
    ok(CliRuns.run("pipeline", "--config", config("local", localRoot.toString()).toString(), "--master", "local[2]"));

    // ------------------------------------------------------------------------ on HDFS, in a JVM of its own
    String root = hdfs.path("/runs/run");
    Path workDir = Files.createDirectories(tmp.resolve("child-cwd"));
    Path childTmp = Files.createDirectories(tmp.resolve("child-tmp"));
    Path log = tmp.resolve("hdfs-pipeline.log");
    long t0 = System.nanoTime();
    Process child = CliRuns.startChild(log, workDir, List.of("-Djava.io.tmpdir=" + childTmp), "pipeline",
        "--config", config("hdfs", root).toString(), "--master", "local[2]");
    assertTrue(child.waitFor(8, TimeUnit.MINUTES), "the HDFS pipeline did not finish");
    String childLog = Files.readString(log);
    assertEquals(0, child.exitValue(), () -> CliRuns.tail(childLog, 60));
    System.out.printf("HdfsPipelineTest: pipeline on hdfs in %.1f s%n", (System.nanoTime() - t0) / 1e9);
    assertTrue(childLog.contains("report: " + root + "/evaluate/report.html"), () -> CliRuns.tail(childLog, 20));

    // nothing on the local disk but temporary directories, and none of spark-dpo's left after the JVM exited
    assertEquals(List.of(), entries(workDir), "files written into the working directory");
    List<String> leftovers = entries(childTmp).stream().filter(n -> n.startsWith("spark-dpo")).toList();
    assertEquals(List.of(), leftovers, "spark-dpo's temporary or cache directories left in " + childTmp);

    // every stage complete on HDFS, pipeline.json there
    JsonNode pipelineJson = CliRuns.JSON.readTree(hdfsText("/runs/run/" + Pipeline.PIPELINE_JSON));
    for (String stage : STAGES) {
      assertEquals("ran", statuses(pipelineJson).get(stage), stage + ": " + pipelineJson);
      assertTrue(fs.exists(hp("/runs/run/" + stage + "/_SUCCESS")), stage + " is complete on HDFS");
      assertTrue(fs.exists(hp("/runs/run/" + stage + "/_spark_dpo.json")), stage + " has its manifest");
    }
    assertEquals(root, pipelineJson.path("root").asText());
    for (String f : List.of("train/checkpoints/step-2/model.safetensors", "train/checkpoints/step-2/optimizer.safetensors",
        "train/checkpoints/step-4/trainer_state.json", "train/model/model.safetensors", "train/model/tokenizer.json",
        "train/metrics.jsonl", "train/train.json", "evaluate/eval.json", "evaluate/samples.jsonl",
        "evaluate/report.html", "init-model/tokenizer.json", "reference/reference.json")) {
      assertTrue(fs.isFile(hp("/runs/run/" + f)), f + " on HDFS");
    }
    assertTrue(fs.listStatus(hp("/runs/run/evaluate/plots")).length > 0, "evaluate's plots on HDFS");
    assertEquals(List.of(), leftoverSiblings("/runs/run"), "locks or temporary directories left on HDFS");

    // the same results as on local paths
    assertArrayEquals(Files.readAllBytes(localRoot.resolve("init-model/model.safetensors")),
        Files.readAllBytes(fetch("/runs/run/init-model").resolve("model.safetensors")), "init-model's weights");
    Path hdfsModel = fetch("/runs/run/train/model");
    double trained = maxAbsDifference(localRoot.resolve("train/model"), hdfsModel);
    assertTrue(trained <= 1e-6, "train's weights, local vs hdfs, differ by " + trained);
    List<JsonNode> localMetrics = lines(Files.readString(localRoot.resolve("train/metrics.jsonl")));
    List<JsonNode> hdfsMetrics = lines(hdfsText("/runs/run/train/metrics.jsonl"));
    assertEquals(localMetrics.size(), hdfsMetrics.size(), "metrics.jsonl lines");
    for (int i = 0; i < localMetrics.size(); i++) {
      for (String k : List.of("loss", "eval_loss", "rewards/accuracies")) {
        if (localMetrics.get(i).has(k)) {
          assertEquals(localMetrics.get(i).get(k).asDouble(), hdfsMetrics.get(i).get(k).asDouble(), 1e-6,
              "metrics.jsonl line " + i + " " + k);
        }
      }
    }
    JsonNode localEval = CliRuns.JSON.readTree(localRoot.resolve("evaluate/eval.json").toFile());
    JsonNode hdfsEval = CliRuns.JSON.readTree(hdfsText("/runs/run/evaluate/eval.json"));
    for (String k : List.of("/preference/policy/accuracy", "/preference/policy/margin_mean",
        "/preference/reference/accuracy", "/policy/reward_mean", "/reference/reward_mean", "/kl_mean", "/win_rate")) {
      assertEquals(localEval.at(k).asDouble(), hdfsEval.at(k).asDouble(), 1e-6, "eval.json " + k);
    }
    List<String> localSamples = lines(Files.readString(localRoot.resolve("evaluate/samples.jsonl"))).stream()
        .map(j -> j.at("/policy/completion").asText() + " | " + j.at("/reference/completion").asText()).toList();
    List<String> hdfsSamples = lines(hdfsText("/runs/run/evaluate/samples.jsonl")).stream()
        .map(j -> j.at("/policy/completion").asText() + " | " + j.at("/reference/completion").asText()).toList();
    assertEquals(localSamples, hdfsSamples, "evaluate's samples");

    // ------------------------------------------------------------------------ report, HDFS in and out
    Run report = ok(CliRuns.run("report", "--evaluate", root + "/evaluate", "--train", root + "/train", "--output",
        hdfs.path("/runs/report")));
    assertTrue(fs.isFile(hp("/runs/report/report.html")) && fs.isFile(hp("/runs/report/_SUCCESS")),
        report::describe);
    assertTrue(hdfsText("/runs/report/report.html").contains(root + "/train/metrics.jsonl"),
        "the report names its inputs as given");

    // ------------------------------------------------------------------------ resume from an HDFS checkpoint
    // train as a run killed after its step-2 checkpoint leaves it: no _SUCCESS, model, train.json or step-4, and a
    // half-written model directory
    for (String gone : List.of("train/_SUCCESS", "train/train.json", "train/model", "train/checkpoints/step-4")) {
      assertTrue(fs.delete(hp("/runs/run/" + gone), true), gone);
    }
    fs.mkdirs(hp("/runs/run/train/.model.tmp-" + UUID.randomUUID()));
    Run resumed = ok(CliRuns.run("pipeline", "--config", tmp.resolve("hdfs.conf").toString(), "--master",
        "local[2]"));
    String resumedLog = resumed.stderr() + resumed.stdout();
    assertTrue(resumedLog.contains("train: resuming from " + root + "/train/checkpoints/step-2"),
        () -> CliRuns.tail(resumedLog, 40));
    Map<String, String> after = statuses(CliRuns.JSON.readTree(hdfsText("/runs/run/" + Pipeline.PIPELINE_JSON)));
    for (String stage : List.of("demo", "ingest", "init-model", "sft", "reference")) {
      assertEquals("skipped", after.get(stage), stage + ": " + after);
    }
    assertEquals("ran", after.get("train"), after.toString());
    double resumedDiff = maxAbsDifference(hdfsModel, fetch("/runs/run/train/model"));
    assertTrue(resumedDiff <= 1e-6, "resumed vs uninterrupted weights differ by " + resumedDiff);
    List<String> trainEntries = new ArrayList<>();
    for (var st : fs.listStatus(hp("/runs/run/train"))) trainEntries.add(st.getPath().getName());
    assertFalse(trainEntries.stream().anyMatch(n -> n.startsWith(".model.tmp-")), "the killed run's temporary model"
        + " directory is still there: " + trainEntries);
    List<JsonNode> resumedSteps = lines(hdfsText("/runs/run/train/metrics.jsonl")).stream()
        .filter(j -> j.has("loss") && !j.has("eval_loss")).toList();
    assertEquals(List.of(1L, 2L, 3L, 4L), resumedSteps.stream().map(j -> j.path("step").asLong()).toList(),
        "step lines of the resumed run's metrics.jsonl");
  }

  /** Names in {@code dir} (on HDFS) and its subdirectories' parents that are locks or protocol temporaries. */
  private static List<String> leftoverSiblings(String dir) throws IOException {
    List<String> out = new ArrayList<>();
    for (var st : fs.listStatus(hp(dir))) {
      String n = st.getPath().getName();
      if (n.startsWith(".") && (n.endsWith(".lock") || n.contains(".tmp-") || n.contains(".old-"))) out.add(n);
    }
    return out;
  }
}
