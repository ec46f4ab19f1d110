package dev.sparkdpo.tests.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.jobs.SparkDpo;
import dev.sparkdpo.tests.cluster.StandaloneCluster;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.apache.spark.sql.SparkSession;
import scala.Option;

/**
 * Runs the real spark-dpo CLI ({@link SparkDpo#run}) in this JVM and captures its exit code and what it printed; the
 * caller may read the output with the Spark session the run left active, which is then stopped (so the next run
 * builds its own session from its own options). Also: the CLI in a child JVM (to kill it), and file helpers.
 */
public final class CliRuns {
  public static final ObjectMapper JSON = new ObjectMapper();

  static {
    // the project's own logging (conf/log4j2.properties: spark-dpo at INFO, Spark at WARN) instead of Spark's INFO
    // defaults, which print thousands of lines per run; -Dsparkdpo.tests.sparkInfoLogs=true keeps Spark's
    Path config = log4jConfig();
    if (config != null && !Boolean.getBoolean("sparkdpo.tests.sparkInfoLogs")) {
      org.apache.logging.log4j.core.config.Configurator.reconfigure(config.toUri());
    }
  }

  private CliRuns() {}

  /** What a run returned and printed; {@code appId} of the Spark session it created, null when it made none. */
  public record Run(String[] args, int exitCode, String stdout, String stderr, double seconds, String appId) {

    public String describe() {
      return "spark-dpo " + String.join(" ", args) + " -> exit " + exitCode + "\n--- stderr (tail):\n"
          + tail(stderr, 60);
    }

    /** The last line of stdout as JSON: the one-line summary the commands print. */
    public JsonNode printedJson() {
      String[] lines = stdout.strip().split("\\R");
      try {
        return JSON.readTree(lines[lines.length - 1]);
      } catch (IOException e) {
        throw new AssertionError("the last line of stdout is not JSON:\n" + stdout, e);
      }
    }
  }

  /** Runs {@code spark-dpo args...}, then stops every Spark session. */
  public static Run run(String... args) {
    return run(args, (run, spark) -> run);
  }

  /**
   * Runs {@code spark-dpo args...}, then {@code then} with the run and the session the run left active (null when it
   * created none), and finally stops every Spark session, whatever happened.
   */
  public static <T> T run(String[] args, BiFunction<Run, SparkSession, T> then) {
    stopSpark();
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    long t0 = System.nanoTime();
    int code;
    try {
      System.setOut(new PrintStream(new Tee(oldOut, out), true, StandardCharsets.UTF_8));
      System.setErr(new PrintStream(new Tee(oldErr, err), true, StandardCharsets.UTF_8));
      code = SparkDpo.run(args);
    } finally {
      System.out.flush();
      System.err.flush();
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    try {
      Option<SparkSession> active = SparkSession.getActiveSession();
      SparkSession spark = active.isDefined() ? active.get() : null;
      String appId = spark == null ? null : spark.sparkContext().applicationId();
      Run run = new Run(args, code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8), seconds,
          appId);
      return then.apply(run, spark);
    } finally {
      stopSpark();
    }
  }

  /** Runs {@code body} in a fresh {@code local[1]} session (no UI), which is stopped afterwards. */
  public static void withLocalSpark(Consumer<SparkSession> body) {
    stopSpark();
    SparkSession spark = SparkSession.builder().master("local[1]").appName("spark-dpo-tests")
        .config("spark.ui.enabled", "false").getOrCreate();
    try {
      body.accept(spark);
    } finally {
      stopSpark();
    }
  }

  /** Stops the active and the default session (the CLI leaves its session running) and forgets them. */
  public static void stopSpark() {
    Option<SparkSession> active = SparkSession.getActiveSession();
    if (active.isDefined()) active.get().stop();
    Option<SparkSession> dflt = SparkSession.getDefaultSession();
    if (dflt.isDefined()) dflt.get().stop();
    SparkSession.clearActiveSession();
    SparkSession.clearDefaultSession();
  }

  /**
   * Starts {@code spark-dpo args...} in a child JVM (this JVM's classpath, Spark's Java 17 flags, 1 GB heap), its
   * stdout and stderr going to {@code log}: a run that can really be killed.
   */
  public static Process startChild(Path log, String... args) {
    return startChild(log, null, List.of(), args);
  }

  /**
   * {@link #startChild(Path, String...)} in working directory {@code workDir} (null: this JVM's) with extra JVM
   * options (e.g. {@code -Djava.io.tmpdir=...}): a run whose every local write can be accounted for.
   */
  public static Process startChild(Path log, Path workDir, List<String> jvmOptions, String... args) {
    List<String> command = new ArrayList<>();
    command.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(Arrays.asList(org.apache.spark.launcher.JavaModuleOptions.defaultModuleOptions().trim().split("\\s+")));
    command.add("-Xmx1g");
    command.addAll(jvmOptions);
    Path config = log4jConfig();
    if (config != null) command.add("-Dlog4j2.configurationFile=" + config);
    command.add("-cp");
    command.add(String.join(java.io.File.pathSeparator, StandaloneCluster.currentClasspath()));
    command.add(SparkDpo.class.getName());
    command.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    if (workDir != null) pb.directory(workDir.toFile());
    pb.environment().put("OPENBLAS_THREAD_TIMEOUT", "4");
    pb.environment().put("SPARK_LOCAL_IP", "127.0.0.1"); // loopback only, as the tests' own JVM
    try {
      return pb.start();
    } catch (IOException e) {
      throw new UncheckedIOException("starting " + command, e);
    }
  }

  // ------------------------------------------------------------------------------------------------ files

  /** Files and directories under {@code dir}, relative, sorted (for "left intact" checks). */
  public static List<String> listing(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.map(p -> dir.relativize(p).toString()).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Every file under {@code dir} (relative path) with its size and modification time: a finer "untouched" check. */
  public static Map<String, String> snapshot(Path dir) {
    Map<String, String> files = new TreeMap<>();
    try (Stream<Path> s = Files.walk(dir)) {
      for (Path p : s.filter(Files::isRegularFile).toList()) {
        files.put(dir.relativize(p).toString(), Files.size(p) + " bytes, modified " + Files.getLastModifiedTime(p));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return files;
  }

  /** Siblings of {@code output} that look like StageOutput's temporary directories ({@code .<name>.tmp-*}). */
  public static List<String> tempSiblings(Path output) {
    Path parent = output.getParent();
    if (!Files.isDirectory(parent)) return List.of();
    try (Stream<Path> s = Files.list(parent)) {
      return s.map(p -> p.getFileName().toString())
          .filter(n -> n.startsWith("." + output.getFileName() + ".tmp")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static boolean hasParquet(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) return false;
    try (Stream<Path> s = Files.walk(dir)) {
      return s.anyMatch(p -> p.getFileName().toString().endsWith(".parquet"));
    }
  }

  /** The Parquet data files under {@code dir}, sorted. */
  public static List<Path> parquetFiles(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      return s.filter(p -> p.getFileName().toString().endsWith(".parquet")).sorted().toList();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static void copyRecursively(Path from, Path to) {
    try (Stream<Path> s = Files.walk(from)) {
      for (Path p : s.toList()) {
        Path target = to.resolve(from.relativize(p).toString());
        if (Files.isDirectory(p)) Files.createDirectories(target);
        else Files.copy(p, target);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static void deleteRecursively(Path dir) {
    if (!Files.exists(dir)) return;
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  // ------------------------------------------------------------------------------------------------ places

  /**
   * The test fixtures (in the repository under tests/testdata, unpacked into target/testdata by the build): the
   * {@code testdata.dir} system property, else {@code <project.root>/target/testdata}, else ../target/testdata.
   */
  public static Path testData() {
    String dir = System.getProperty("testdata.dir");
    if (dir != null && !dir.isBlank()) return Paths.get(dir).toAbsolutePath().normalize();
    String root = System.getProperty("project.root");
    if (root != null && !root.isBlank()) return Paths.get(root, "target", "testdata").toAbsolutePath().normalize();
    return Paths.get(System.getProperty("user.dir"), "..", "target", "testdata").toAbsolutePath().normalize();
  }

  public static Path gpt2Tokenizer() {
    return testData().resolve("fixtures/gpt2-tokenizer/tokenizer.json");
  }

  /** conf/log4j2.properties of the project, or null when the project root is unknown. */
  private static Path log4jConfig() {
    String root = System.getProperty("project.root");
    Path config = root == null ? null : Paths.get(root, "conf", "log4j2.properties");
    return config != null && Files.isRegularFile(config) ? config : null;
  }

  public static String tail(String s, int lines) {
    String[] l = s.split("\\R");
    return String.join("\n", Arrays.copyOfRange(l, Math.max(0, l.length - lines), l.length));
  }

  /** Writes to two streams. */
  private static final class Tee extends OutputStream {
    private final OutputStream a;
    private final OutputStream b;

    Tee(OutputStream a, OutputStream b) {
      this.a = a;
      this.b = b;
    }

    @Override
    public synchronized void write(int c) throws IOException {
      a.write(c);
      b.write(c);
    }

    @Override
    public synchronized void write(byte[] buf, int off, int len) throws IOException {
      a.write(buf, off, len);
      b.write(buf, off, len);
    }

    @Override
    public synchronized void flush() throws IOException {
      a.flush();
      b.flush();
    }
  }
}
