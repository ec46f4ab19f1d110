package dev.sparkdpo.tests.submit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.executor.NativeSetupPlugin;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.cli.CliRuns.Run;
import dev.sparkdpo.tests.cluster.SparkDistribution;
import dev.sparkdpo.tests.cluster.SparkDistribution.Submitted;
import dev.sparkdpo.tests.cluster.StandaloneCluster;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shaded jar as users run it: {@code spark-submit} of a Spark 3.5.7 distribution ({@link SparkDistribution}:
 * Spark's launcher builds the command line) with {@code conf/spark-submit.conf}, running the demo pipeline (demo data,
 * ingest with a tokenizer given as a model directory, init-model, sft, reference, train, evaluate with its report)
 * with {@code --master local[2]}, and on a standalone cluster running from the same distribution (two workers; the
 * executors, and the driver in cluster mode, see nothing of ours but the shaded jar) in client and in cluster deploy
 * mode. Each run's outputs are compared with an in-process run of the same settings, as bin/spark-dpo runs them: the
 * demo data, ingest's rows and the initial model identical; sft's, reference's, train's and evaluate's numbers within
 * {@value #TOLERANCE} (relative).
 *
 * <p>Every run writes under the same run root, set aside (renamed) once read: the same settings include the path,
 * since sft's held-out split and data order hash each text chunk's id, which holds the corpus file's absolute URI
 * ({@code TrainData.chunks}); under another root, sft trains on another split and every later stage differs.
 */
@Timeout(value = 25, unit = TimeUnit.MINUTES)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class SparkSubmitTest {
  static final String MAIN_CLASS = "dev.sparkdpo.jobs.SparkDpo";
  /**
   * Relative difference allowed between runs in the numbers of the stages after ingest. Measured: 0 between the
   * in-process run and spark-submit on local[2] (bit-identical), up to 4e-6 against the standalone cluster's 1-core
   * executors (float32 gradient norms and KL), 4e-8 in the reference log-probs.
   */
  static final double TOLERANCE = 1e-5;
  private static final long SUBMIT_TIMEOUT_SECONDS = 900;

  @TempDir static Path tmp;
  static SparkDistribution spark;
  static Path jar;
  static Path submitConf;
  static Path config;
  static Outputs reference;

  @BeforeAll
  static void setUp() throws Exception {
    spark = SparkDistribution.standIn();
    jar = Paths.get(System.getProperty("sparkdpo.shadedJar")).toAbsolutePath().normalize();
    assertTrue(Files.isRegularFile(jar), "no shaded jar at " + jar + ": mvn -pl jobs package");
    submitConf = Paths.get(System.getProperty("project.root"), "conf", "spark-submit.conf").toAbsolutePath().normalize();
    assertTrue(Files.isRegularFile(submitConf), submitConf.toString());

    // a tokenizer as a model directory holds it: tokenizer.json and tokenizer_config.json (the demo's, made first)
    Path demo = tmp.resolve("demo-data");
    Run made = CliRuns.run("demo-data", "--output", demo.toString(), "--seed", "7", "--sentences", "300", "--pairs", "120");
    assertEquals(0, made.exitCode(), made::describe);
    Path model = Files.createDirectories(tmp.resolve("tokenizer-model"));
    Files.copy(demo.resolve("tokenizer.json"), model.resolve("tokenizer.json"));
    Files.writeString(model.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|endoftext|>\"}");

    // PipelineTest's shrunken demo; absolute paths: a cluster-mode driver runs in a worker's directory
    config = tmp.resolve("demo-submit.conf");
    Files.writeString(config, """
        spark { conf { "spark.sql.shuffle.partitions" = 2 } }
        demo { seed = 7, sentences = 300, pairs = 120 }
        ingest { tokenizer = "%s", max-length = 32, eval-fraction = 0.2 }
        init-model { n-layer = 1, n-embd = 32, n-head = 2, n-positions = 32, seed = 7 }
        sft { learning-rate = 3e-3, batch-size-per-worker = 8, averaging-frequency = 2, max-steps = 4, workers = 2,
              eval-steps = 100, checkpoint-steps = 100 }
        reference { progress-seconds = 30 }
        train { learning-rate = 1e-3, batch-size-per-worker = 4, averaging-frequency = 2, max-steps = 4, workers = 2,
                eval-steps = 100, checkpoint-steps = 100 }
        evaluate { prompts = 4, samples-per-prompt = 2, max-new-tokens = 8 }
        """.formatted(model.toString().replace("\\", "/")));
  }

  /** Where every run writes (see the class comment). */
  static Path root() {
    return tmp.resolve("run");
  }

  /** The outputs of the run that just ended, read, and the run root renamed to {@code run-<name>}. */
  static Outputs setAside(String name) throws IOException {
    Outputs outputs = Outputs.read(root());
    Files.move(root(), tmp.resolve("run-" + name));
    return outputs;
  }

  /** The spark-submit arguments README gives, for one master; {@code extra} (resources, ...) before the jar. */
  static List<String> submitArgs(String master, String deployMode, List<String> extra) {
    List<String> args = new ArrayList<>(List.of("--master", master));
    if (deployMode != null) args.addAll(List.of("--deploy-mode", deployMode));
    args.addAll(List.of("--properties-file", submitConf.toString(), "--class", MAIN_CLASS));
    args.addAll(extra);
    args.addAll(List.of(jar.toString(), "pipeline", "--config", config.toString(), "--output", root().toString()));
    return args;
  }

  static Submitted submit(String name, List<String> args) {
    // loopback only (as every Spark process of the tests), and the client-mode driver's OpenBLAS setting (README)
    Submitted s = spark.submit(tmp.resolve(name + ".log"),
        Map.of("SPARK_LOCAL_IP", "127.0.0.1", "OPENBLAS_THREAD_TIMEOUT", "4"), args, SUBMIT_TIMEOUT_SECONDS);
    System.out.printf("SparkSubmitTest: %s: spark-submit %s -> exit %d in %.1f s%n", name, String.join(" ", args),
        s.exitCode(), s.seconds());
    return s;
  }

  @Test
  @Order(1)
  void theShadedJarBundlesNothingSparkShipsAndOnlyLinuxX86Natives() throws IOException {
    Map<String, String> sparkEntries = new ConcurrentHashMap<>();
    try (Stream<Path> jars = Files.list(spark.home().resolve("jars"))) {
      for (Path j : jars.toList()) {
        for (String e : entries(j)) sparkEntries.putIfAbsent(e, j.getFileName().toString());
      }
    }
    Map<String, Integer> clashes = new TreeMap<>();
    List<String> natives = new ArrayList<>();
    for (String e : entries(jar)) {
      String in = sparkEntries.get(e);
      if (in != null) clashes.merge(in + ": " + e.substring(0, Math.max(0, e.lastIndexOf('/'))), 1, Integer::sum);
      if (e.matches(".*\\.(so(\\.\\d+)*|dll|dylib|jnilib|a)$")) natives.add(e);
    }
    assertTrue(clashes.isEmpty(), () -> "the shaded jar carries classes or resources of Spark's jars/ (jar: package ->"
        + " entries); leave them out or relocate them in jobs/pom.xml: " + clashes);
    assertTrue(natives.stream().anyMatch(n -> n.contains("libnd4jcpu.so")), "ND4J's native library: " + natives);
    assertTrue(natives.stream().anyMatch(n -> n.contains("libtokenizers.so")), "DJL's tokenizers library: " + natives);
    assertTrue(natives.stream().allMatch(n -> n.contains("linux-x86_64/") || n.contains("linux-x86-64/")),
        () -> "native libraries of other platforms: " + natives);
  }

  @Test
  @Order(2)
  void inProcessRunAsBinSparkDpo() throws Exception {
    Run run = CliRuns.run("pipeline", "--config", config.toString(), "--output", root().toString(), "--master",
        "local[2]");
    assertEquals(0, run.exitCode(), run::describe);
    System.out.printf("SparkSubmitTest: in-process pipeline on local[2] in %.1f s%n", run.seconds());
    reference = setAside("in-process");
  }

  @Test
  @Order(3)
  void sparkSubmitLocalMaster() throws IOException {
    Submitted s = submit("local", submitArgs("local[2]", null, List.of()));
    assertEquals(0, s.exitCode(), s::describe);
    compare("local[2]", setAside("local"));
  }

  @Test
  @Order(4)
  void sparkSubmitStandaloneClientAndClusterMode() throws Exception {
    // two workers with 2 cores and 2 GB each: room for a cluster-mode driver (1 core, 1 GB) beside an executor
    try (StandaloneCluster cluster = StandaloneCluster.start(2, 2, "2g", spark.home());
         ExecutorWatch watch = new ExecutorWatch(cluster)) {
      // as many task slots as local[2]: one 1-core executor per worker
      List<String> resources = List.of("--conf", "spark.executor.cores=1", "--conf", "spark.cores.max=2",
          "--conf", "spark.executor.memory=1g");

      Submitted client = submit("client", submitArgs(cluster.masterUrl(), "client", resources));
      assertEquals(0, client.exitCode(), () -> client.describe() + cluster.diagnostics());
      compare("client mode", setAside("client"));

      List<String> waiting = new ArrayList<>(resources);
      // spark-submit returns when the driver ends, not when it was accepted (its exit code is 0 either way)
      waiting.addAll(List.of("--conf", "spark.standalone.submit.waitAppCompletion=true"));
      Submitted submitted = submit("cluster", submitArgs(cluster.masterUrl(), "cluster", waiting));
      assertEquals(0, submitted.exitCode(), () -> submitted.describe() + cluster.diagnostics());
      JsonNode drivers = cluster.masterStatus().path("completeddrivers");
      assertEquals(1, drivers.size(), drivers::toString);
      assertEquals("FINISHED", drivers.get(0).path("state").asText(), () -> drivers + "\n" + cluster.diagnostics());
      assertEquals(1, cluster.driverDirs().size());
      assertTrue(Files.isRegularFile(cluster.driverDirs().get(0).resolve(jar.getFileName())),
          "the worker copied the application jar for the driver");
      compare("cluster mode", setAside("cluster"));

      // every executor ran from the distribution with nothing of ours on its class path (the shaded jar reaches it
      // through Spark), and got the environment the jar's defaults give executors (spark.executorEnv.*)
      Map<Long, String> seen = watch.stop();
      assertTrue(seen.size() >= 4, "executors seen (2 per application): " + seen);
      String classpath = spark.home().resolve("conf") + "/:" + spark.home().resolve("jars") + "/*";
      seen.forEach((pid, problem) -> assertEquals("", problem, "executor " + pid));
      watch.classpaths.forEach((pid, cp) -> assertEquals(classpath, cp, "executor " + pid + "'s class path"));
      // ...and the jar's spark.plugins default set up each executor's native side before its first task
      for (Path exec : cluster.executorDirs(null)) {
        String log = Files.readString(exec.resolve("stderr"));
        assertTrue(log.contains(NativeSetupPlugin.LOG_PREFIX + "OpenBLAS kernels: "), exec + ": " + log);
        assertFalse(log.contains("too late"), exec + ": OpenBLAS loaded before the plugin ran: " + log);
      }
    }
  }

  /**
   * Asserts that a run's outputs equal the in-process run's: the demo data, ingest's rows and the initial model
   * exactly, the numbers of the later stages within {@link #TOLERANCE}; prints the largest difference of each stage.
   */
  static void compare(String mode, Outputs run) {
    assertEquals(reference.exact.keySet(), run.exact.keySet(), mode);
    reference.exact.forEach((k, v) -> assertEquals(v, run.exact.get(k), mode + ": " + k + " differs"));
    assertEquals(reference.numbers.keySet(), run.numbers.keySet(), mode + ": the same numbers");
    Map<String, Double> largest = new TreeMap<>();
    List<String> beyond = new ArrayList<>();
    reference.numbers.forEach((k, a) -> {
      double b = run.numbers.get(k);
      double diff = Math.abs(a - b) / Math.max(1e-12, Math.max(Math.abs(a), Math.abs(b)));
      if (a.equals(b)) diff = 0;
      largest.merge(k.substring(0, k.indexOf('.')), diff, Math::max);
      if (!(diff <= TOLERANCE)) beyond.add(k + ": " + a + " vs " + b);
    });
    System.out.println("SparkSubmitTest: " + mode + " vs in-process: largest relative difference per stage " + largest);
    assertTrue(beyond.isEmpty(), () -> mode + ": " + beyond.size() + " numbers differ from the in-process run's by"
        + " more than " + TOLERANCE + ": " + beyond.subList(0, Math.min(20, beyond.size())));
  }

  /** What one pipeline run wrote, reduced to what two runs of the same settings must agree on. */
  static final class Outputs {
    /** Compared exactly: file bytes (as text digests) and ingest's rows. */
    final Map<String, String> exact = new TreeMap<>();
    /** Compared within the tolerance: stage metrics and log-probs by name. */
    final Map<String, Double> numbers = new TreeMap<>();

    static Outputs read(Path root) {
      try {
        return new Outputs(root);
      } catch (IOException e) {
        throw new UncheckedIOException("reading the outputs under " + root, e);
      }
    }

    private Outputs(Path root) throws IOException {
      JsonNode pipeline = CliRuns.JSON.readTree(root.resolve("pipeline.json").toFile());
      for (JsonNode stage : pipeline.path("stages")) {
        // stages the demo config does not have (tokenizer, generate-pairs, runs, frontier) are disabled
        if (stage.path("status").asText().equals("disabled")) continue;
        assertEquals("ran", stage.path("status").asText(), root + ": " + stage);
      }
      for (String f : List.of("demo/tokenizer.json", "demo/lexicon.json", "demo/preferences/pairs.jsonl",
          "init-model/config.json", "init-model/tokenizer.json", "init-model/model.safetensors")) {
        exact.put(f, digest(root.resolve(f)));
      }
      JsonNode stats = CliRuns.JSON.readTree(root.resolve("ingest/stats.json").toFile());
      for (String k : List.of("input_records", "output_pairs", "train_pairs", "eval_pairs", "quarantined",
          "tokenization")) {
        exact.put("ingest/stats.json " + k, stats.path(k).toString());
      }
      CliRuns.withLocalSpark(session -> {
        // ingest's rows, every column but the input path (under each run's own root)
        List<Row> rows = session.read().parquet(root.resolve("ingest/pairs").toString()).orderBy("id").collectAsList();
        List<String> text = new ArrayList<>();
        for (Row r : rows) {
          assertTrue(r.<String>getAs("source").endsWith("/demo/preferences/pairs.jsonl"), r.toString());
          text.add(r.toString().replace(r.<String>getAs("source"), "SOURCE"));
        }
        exact.put("ingest/pairs", String.join("\n", text));
        for (Row r : session.read().parquet(root.resolve("reference/pairs").toString()).collectAsList()) {
          numbers.put("reference." + r.getAs("id") + ".chosen", r.<Double>getAs("ref_chosen_logp"));
          numbers.put("reference." + r.getAs("id") + ".rejected", r.<Double>getAs("ref_rejected_logp"));
        }
      });
      for (String stage : List.of("sft", "train")) {
        JsonNode summary = CliRuns.JSON.readTree(root.resolve(stage + "/train.json").toFile());
        summary.path("eval").fields().forEachRemaining(e -> numbers.put(stage + ".final " + e.getKey(),
            e.getValue().asDouble()));
        for (String line : Files.readAllLines(root.resolve(stage + "/metrics.jsonl"), StandardCharsets.UTF_8)) {
          JsonNode m = CliRuns.JSON.readTree(line);
          long step = m.path("step").asLong();
          for (String k : List.of("loss", "grad_norm", "eval_loss")) {
            if (m.has(k)) numbers.put(stage + ".step " + step + " " + k, m.path(k).asDouble());
          }
        }
      }
      JsonNode eval = CliRuns.JSON.readTree(root.resolve("evaluate/eval.json").toFile());
      flatten("evaluate.preference", eval.path("preference"));
      flatten("evaluate.policy", eval.path("policy"));
      flatten("evaluate.reference", eval.path("reference"));
      numbers.put("evaluate.kl_mean", eval.path("kl_mean").asDouble());
      exact.put("evaluate win_rate", eval.path("win_rate").toString());
      assertTrue(Files.isRegularFile(root.resolve("evaluate/report.html")), "the report");
    }

    /** A JSON object's numbers: counts and accuracies exactly, the rest within the tolerance. */
    private void flatten(String prefix, JsonNode node) {
      node.fields().forEachRemaining(e -> {
        String name = prefix + "." + e.getKey();
        if (e.getKey().equals("pairs") || e.getKey().equals("accuracy")) exact.put(name, e.getValue().toString());
        else if (e.getValue().isNumber()) numbers.put(name, e.getValue().asDouble());
        else if (e.getValue().isObject()) flatten(name, e.getValue());
      });
    }

    private static String digest(Path file) throws IOException {
      try {
        java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
        return java.util.HexFormat.of().formatHex(sha.digest(Files.readAllBytes(file)));
      } catch (java.security.NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }
  }

  /** Entry names of a jar: files only, outside META-INF. */
  static Set<String> entries(Path jarFile) throws IOException {
    Set<String> names = new HashSet<>();
    try (ZipFile zip = new ZipFile(jarFile.toFile())) {
      for (Enumeration<? extends ZipEntry> e = zip.entries(); e.hasMoreElements(); ) {
        ZipEntry z = e.nextElement();
        if (!z.isDirectory() && !z.getName().startsWith("META-INF/")) names.add(z.getName());
      }
    }
    return names;
  }

  /**
   * Samples the cluster's executor JVMs while applications run (they exit with their application): per executor, its
   * class path and what its environment lacks of the jar's spark.executorEnv defaults (from /proc: Linux).
   */
  static final class ExecutorWatch implements AutoCloseable {
    final Map<Long, String> problems = new ConcurrentHashMap<>();
    final Map<Long, String> classpaths = new ConcurrentHashMap<>();
    private final Thread thread;
    private volatile boolean running = true;

    ExecutorWatch(StandaloneCluster cluster) {
      thread = new Thread(() -> {
        while (running) {
          for (long pid : cluster.executorPids()) {
            if (!problems.containsKey(pid)) inspect(pid);
          }
          try {
            Thread.sleep(200);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "executor-watch");
      thread.setDaemon(true);
      thread.start();
    }

    private void inspect(long pid) {
      try {
        List<String> cmd = List.of(Files.readString(Path.of("/proc/" + pid + "/cmdline")).split("\0"));
        if (!cmd.contains("org.apache.spark.executor.CoarseGrainedExecutorBackend")) return; // a driver, or not yet
        List<String> env = List.of(Files.readString(Path.of("/proc/" + pid + "/environ")).split("\0"));
        classpaths.put(pid, cmd.get(cmd.indexOf("-cp") + 1));
        List<String> missing = new ArrayList<>(List.of("OPENBLAS_THREAD_TIMEOUT=4", "TOKENIZERS_PARALLELISM=false"));
        missing.removeAll(env);
        problems.put(pid, missing.isEmpty() ? "" : "not in its environment: " + missing);
      } catch (IOException | RuntimeException e) {
        // gone already, or not readable yet: the next round tries again
      }
    }

    Map<Long, String> stop() {
      running = false;
      thread.interrupt();
      return new LinkedHashMap<>(problems);
    }

    @Override
    public void close() {
      stop();
    }
  }
}
