package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.*;

import com.typesafe.config.Config;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.train.TrainOptions;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Settings from picocli's option model: keys derived from the options, the defaults file kept in step with them,
 * unknown keys and wrong types refused with one line, --help built from the enums and the defaults file. No Spark.
 */
class JobConfigTest {
  @TempDir Path dir;

  /** Parses {@code args} for {@code command} and resolves its settings, as the command's call() does. */
  static JobConfig settings(Object command, String... args) {
    CommandLine cli = new CommandLine(command);
    cli.parseArgs(args);
    return JobConfig.resolve(cli.getCommandSpec());
  }

  private Path conf(String text) throws IOException {
    Path file = dir.resolve("run.conf");
    Files.writeString(file, text);
    return file;
  }

  private String error(Object command, String... args) {
    return assertThrows(IllegalArgumentException.class, () -> settings(command, args)).getMessage();
  }

  /** Runs the CLI: its exit code and what it printed on stderr. */
  record Run(int code, String err) {}

  static Run run(String... args) {
    PrintStream old = System.err;
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    try {
      return new Run(SparkDpo.run(args), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setErr(old);
    }
  }

  static String help(String... command) {
    StringWriter out = new StringWriter();
    CommandLine cli = new CommandLine(new SparkDpo());
    cli.setOut(new PrintWriter(out));
    List<String> args = new ArrayList<>(List.of(command));
    args.add("--help");
    assertEquals(0, cli.execute(args.toArray(String[]::new)));
    return out.toString();
  }

  // ------------------------------------------------------------------------------------------------ unknown keys

  @Test
  void aMisspeltKeyFailsBeforeAnyWorkNamingTheFileLineAndNearestKey() throws Exception {
    Path file = conf("""
        train {
          data = "ref"
          learning-rat = 0.5
        }
        """);
    assertEquals(file + ": unknown key train.learning-rat (line 3); did you mean train.learning-rate? Valid keys: "
        + "spark-dpo train --help", error(new TrainCommand(), "--config", file.toString()));

    Run r = run("train", "--config", file.toString(), "--model", "m", "--output", dir.resolve("out").toString());
    assertEquals(2, r.code(), r.err());
    assertEquals(List.of("error: " + file + ": unknown key train.learning-rat (line 3); did you mean "
        + "train.learning-rate? Valid keys: spark-dpo train --help"), r.err().lines().toList());
    assertFalse(Files.exists(dir.resolve("out")));
  }

  @Test
  void unknownBlocksTopLevelKeysAndSparkKeysFail() throws Exception {
    Path file = conf("trian {\n  beta = 0.2\n}\n");
    assertEquals(file + ": unknown block trian (line 1); did you mean train? Valid blocks: spark, demo, tokenizer, "
        + "ingest, init-model, generate-pairs, reference, train, evaluate, report, pipeline, sft",
        error(new IngestCommand(), "--config",
        file.toString()));
    file = conf("beta = 0.2\n");
    assertEquals(file + ": unknown key beta (line 1); did you mean train.beta? Keys go in their command's block, e.g. "
        + "train { beta = ... }", error(new TrainCommand(), "--config", file.toString()));
    file = conf("spark {\n  mastr = \"local[2]\"\n}\n");
    assertTrue(error(new TrainCommand(), "--config", file.toString()).startsWith(file + ": unknown key spark.mastr "
        + "(line 2); did you mean spark.master?"));
    // TRL's and Hugging Face's spelling: underscores
    file = conf("train.batch_size_per_worker = 4\n");
    assertTrue(error(new TrainCommand(), "--config", file.toString())
        .contains("unknown key train.batch_size_per_worker (line 1); did you mean train.batch-size-per-worker?"));
    // nothing close: no guess
    file = conf("reference { frobnicate = 1 }\n");
    assertEquals(file + ": unknown key reference.frobnicate (line 1) Valid keys: spark-dpo reference --help",
        error(new ReferenceCommand(), "--config", file.toString()));
  }

  @Test
  void theWholeFileIsCheckedButFreeFormBlocksAreNot() throws Exception {
    // a pipeline file: the ingest run finds the train block's typo too, rather than hours later
    Path file = conf("""
        ingest { input = ["a"], output = "o" }
        train { bta = 0.2 }
        """);
    assertTrue(error(new IngestCommand(), "--config", file.toString()).contains("unknown key train.bta (line 2); did "
        + "you mean train.beta?"));
    file = conf("""
        spark { conf { "spark.anything.at.all" = 1 } }
        train { spark-conf { "spark.whatever" = x } }
        evaluate { prompts = 16 }
        generate-pairs { max-prompts = 4 }
        ingest { input = ["a"], output = "o" }
        """);
    JobConfig c = settings(new IngestCommand(), "--config", file.toString());
    assertEquals(1, c.config().getInt("spark.conf.\"spark.anything.at.all\""));
    assertEquals("x", c.config().getString("train.spark-conf.\"spark.whatever\""));
  }

  /** The pipeline's sft block holds train's keys: checked as train's, with train's defaults under it. */
  @Test
  void theSftBlockIsCheckedAndReadAsATrainBlock() throws Exception {
    Path file = conf("""
        train { learning-rate = 1e-4 }
        sft { learning-rat = 0.1 }
        """);
    assertTrue(error(new IngestCommand(), "--config", file.toString()).contains("unknown key sft.learning-rat (line 2);"
        + " did you mean sft.learning-rate?"));
    file = conf("""
        train { learning-rate = 1e-4, beta = 0.3 }
        sft { learning-rate = 3e-3, objective = sft }
        """);
    JobConfig c = settings(new IngestCommand(), "--config", file.toString());
    JobConfig sft = c.forStage("train", "sft", Map.of("data", "d"), Map.of("model", "m", "output", "o"));
    assertEquals(3e-3, sft.block().getDouble("learning-rate"));
    assertEquals(0.1, sft.block().getDouble("beta"), "train's defaults, not the train block's settings");
    assertEquals("d", sft.block().getString("data"));
    assertEquals("m", sft.block().getString("model"));
    assertEquals("--beta / sft.beta", sft.name("beta"));
    assertTrue(sft.isSet("learning-rate"));
    assertFalse(sft.isSet("beta"));
  }

  @Test
  void nearestIsAnEditDistanceWithinAThirdOrAPrefix() {
    List<String> keys = List.of("learning-rate", "batch-size-per-worker", "seed", "beta");
    assertEquals("learning-rate", JobConfig.nearest("learning-rat", keys));
    assertEquals("learning-rate", JobConfig.nearest("learning_rate", keys));
    assertEquals("batch-size-per-worker", JobConfig.nearest("batch-size", keys));
    assertEquals("beta", JobConfig.nearest("bta", keys));
    assertNull(JobConfig.nearest("frobnicate", keys));
    assertEquals(3, JobConfig.editDistance("kitten", "sitting"));
  }

  /** The shipped examples stay valid: every block they hold passes the checks and builds its stage's options. */
  @Test
  void theExampleConfigsAreValid() {
    for (String name : List.of("demo.conf", "cluster-example.conf")) {
      Path file = Path.of("..", "conf", name);
      assertTrue(Files.isRegularFile(file), file.toAbsolutePath().toString());
      Config c = JobConfig.load(file.toFile());
      String path = file.toString();
      if (c.hasPath("ingest.output")) IngestCommand.options(settings(new IngestCommand(), "--config", path));
      if (c.hasPath("reference.output")) ReferenceCommand.options(settings(new ReferenceCommand(), "--config", path));
      if (c.hasPath("train.output")) TrainCommand.options(settings(new TrainCommand(), "--config", path));
    }
  }

  // ------------------------------------------------------------------------------------------------ value types

  @Test
  void aWrongTypeNamesTheKeyFileLineAndExpectedType() throws Exception {
    Path file = conf("train {\n  beta = \"abc\"\n}\n");
    assertEquals(file + ": train.beta (line 2): expected a number, got \"abc\"",
        error(new TrainCommand(), "--config", file.toString()));
    // Typesafe Config's getLong would silently make 1.5 a 1
    file = conf("ingest {\n  seed = 1.5\n}\n");
    assertEquals(file + ": ingest.seed (line 2): expected a whole number, got 1.5",
        error(new IngestCommand(), "--config", file.toString()));
    file = conf("train { loss = sigmoid }\n");
    assertEquals(file + ": train.loss (line 1): expected a list of strings, got \"sigmoid\"; write [\"sigmoid\"]",
        error(new TrainCommand(), "--config", file.toString()));
    file = conf("train { loss-weights = [1, x] }\n");
    assertTrue(error(new TrainCommand(), "--config", file.toString()).endsWith("expected a list of numbers, got [1,\"x\"]"));
    file = conf("reference { force = maybe }\n");
    assertEquals(file + ": reference.force (line 1): expected true or false, got \"maybe\"",
        error(new ReferenceCommand(), "--config", file.toString()));
    file = conf("spark { conf = 4 }\n");
    assertTrue(error(new ReferenceCommand(), "--config", file.toString()).startsWith(file + ": spark.conf (line 1): "
        + "expected a block"));

    Run r = run("ingest", "--config", conf("ingest { seed = 1.5 }\n").toString());
    assertEquals(2, r.code(), r.err());
    assertEquals(1, r.err().lines().count(), r.err());
  }

  // ------------------------------------------------------------------------------------------------ layers

  @Test
  void optionsGivenWinOverTheFileAndHelpDefaultsNeverHideIt() throws Exception {
    Path file = conf("train { data = r, model = m, output = o, beta = 0.3, seed = 7, loss = [ipo] }\n");
    // picocli puts the defaults file's values into the option fields too: only options given may override the file
    JobConfig fromFile = settings(new TrainCommand(), "--config", file.toString());
    assertEquals(0.3, fromFile.block().getDouble("beta"));
    assertEquals(List.of("ipo"), fromFile.block().getStringList("loss"));
    assertTrue(fromFile.isSet("beta"));
    assertFalse(fromFile.isSet("learning-rate"), "a default is not set by the user");
    JobConfig overridden = settings(new TrainCommand(), "--config", file.toString(), "--seed", "9");
    assertEquals(9, overridden.block().getLong("seed"));
    assertEquals(0.3, overridden.block().getDouble("beta"));
  }

  @Test
  void optionsOfMixinsAreNotKeys() {
    CommandSpec train = new CommandLine(new TrainCommand()).getCommandSpec();
    Set<String> keys = JobConfig.validKeys(train);
    for (String notAKey : List.of("config", "master", "conf", "help", "version")) {
      assertFalse(keys.contains(notAKey), notAKey);
    }
    assertTrue(keys.containsAll(List.of("learning-rate", "adam-beta1", "progress-seconds", "spark-conf")), keys::toString);
  }

  // ------------------------------------------------------------------------------------------------ drift

  /** Top-level blocks of the defaults file and the keys each holds, including keys shown commented out. */
  private static final Pattern BLOCK = Pattern.compile("^([a-z][a-z0-9-]*) \\{\\s*$");
  private static final Pattern COMMENTED_KEY = Pattern.compile("^\\s+#\\s*([a-z][a-z0-9-]*)\\s*=\\s*\\S.*");

  static String defaultsText() throws IOException {
    try (InputStream in = JobConfig.class.getResourceAsStream(JobConfig.DEFAULTS_RESOURCE)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** Keys shown commented out in each block: required or optional keys without a default. */
  static Map<String, Set<String>> commentedKeys() throws IOException {
    Map<String, Set<String>> keys = new LinkedHashMap<>();
    String block = null;
    for (String line : defaultsText().split("\n")) {
      Matcher m = BLOCK.matcher(line);
      if (m.matches()) block = m.group(1);
      else if (line.equals("}")) block = null;
      else if (block != null && (m = COMMENTED_KEY.matcher(line)).matches()) {
        keys.computeIfAbsent(block, b -> new TreeSet<>()).add(m.group(1));
      }
    }
    return keys;
  }

  /** The comment lines right above {@code key =} in {@code block}, joined. */
  static String commentAbove(String block, String key) throws IOException {
    List<String> lines = List.of(defaultsText().split("\n"));
    String current = null;
    for (int i = 0; i < lines.size(); i++) {
      Matcher m = BLOCK.matcher(lines.get(i));
      if (m.matches()) current = m.group(1);
      if (block.equals(current) && lines.get(i).matches("^\\s+" + Pattern.quote(key) + "\\s*(=|\\{).*")) {
        StringBuilder comment = new StringBuilder();
        for (int j = i - 1; j >= 0 && lines.get(j).strip().startsWith("#"); j--) {
          comment.insert(0, lines.get(j).strip().substring(1) + " ");
        }
        return comment.toString();
      }
    }
    throw new AssertionError(block + "." + key + " not in the defaults file");
  }

  @Test
  void theDefaultsFileHoldsExactlyTheOptionKeysAndConfigOnlyKeys() throws Exception {
    Config defaults = JobConfig.defaults();
    Map<String, CommandSpec> commands = JobConfig.commandSpecs();
    Set<String> blocks = new LinkedHashSet<>(List.of("spark"));
    blocks.addAll(commands.keySet());
    assertEquals(blocks, defaults.root().keySet(), "top-level blocks of the defaults file");
    assertEquals(Set.copyOf(JobConfig.SPARK_KEYS), defaults.getConfig("spark").root().keySet());

    Map<String, Set<String>> commented = commentedKeys();
    for (Map.Entry<String, CommandSpec> command : commands.entrySet()) {
      String block = command.getKey();
      Set<String> withDefault = new TreeSet<>(defaults.getConfig(block).root().keySet());
      Set<String> withoutDefault = commented.getOrDefault(block, Set.of());
      Set<String> inFile = new TreeSet<>(withDefault);
      inFile.addAll(withoutDefault);
      assertEquals(new TreeSet<>(JobConfig.validKeys(command.getValue())), inFile,
          block + ": keys of the defaults file (set or shown commented out) vs options + config-only keys");
      Set<String> both = new TreeSet<>(withDefault);
      both.retainAll(withoutDefault);
      assertEquals(Set.of(), both, block + ": a key is either set or shown commented out");

      String help = help(block);
      for (String configOnly : JobConfig.configOnlyKeys(command.getValue())) {
        assertTrue(help.contains(block + "." + configOnly), block + "." + configOnly + " missing from --help:\n" + help);
        assertTrue(commentAbove(block, configOnly).contains("config-only"), block + "." + configOnly);
      }
    }
    // the keys a run cannot do without have no default
    assertEquals(Set.of("data", "model", "output"), commented.get("reference"));
    assertEquals(Set.of("data", "model", "output", "tokenizer"), commented.get("train"));
    assertEquals(Set.of("output", "tokenizer"), commented.get("ingest"));
    assertEquals(Set.of("data", "model", "reference-model", "output", "label", "train-metrics"),
        commented.get("evaluate"));
    assertEquals(Set.of("train", "output"), commented.get("report"));
    assertEquals(Set.of("output", "tokenizer"), commented.get("init-model"));
    assertEquals(Set.of("output", "model", "from", "to"), commented.get("pipeline"));
  }

  @Test
  void enumeratedOptionsListTheirValuesFromTheEnumsInHelpAndTheDefaultsFile() throws Exception {
    Pattern oneOf = Pattern.compile("one (?:or more )?of: ([a-z_ |-]+)");
    int checked = 0;
    for (Map.Entry<String, CommandSpec> command : JobConfig.commandSpecs().entrySet()) {
      String help = help(command.getKey());
      for (OptionSpec option : JobConfig.configOptions(command.getValue())) {
        if (option.completionCandidates() == null) continue;
        List<String> values = StreamSupport.stream(option.completionCandidates().spliterator(), false).toList();
        String key = JobConfig.key(option);
        assertTrue(help.replaceAll("\\s+", " ").contains(String.join(", ", values)),
            key + ": --help should list " + values + ":\n" + help);
        Matcher m = oneOf.matcher(commentAbove(command.getKey(), key));
        assertTrue(m.find(), command.getKey() + "." + key + ": the defaults file should say 'one of: a | b'");
        assertEquals(values, List.of(m.group(1).strip().split("\\s*\\|\\s*")), command.getKey() + "." + key);
        checked++;
      }
    }
    assertEquals(8, checked, "format, truncation, ranked-pairs, pairing, objective, loss, optimizer, lr-decay");
    List<String> losses = StreamSupport.stream(new Choices.Losses().spliterator(), false).toList();
    assertEquals(List.of(LossType.values()).stream().map(LossType::trlName).toList(), losses);
    assertFalse(defaultsText().contains("discopop"), "a TRL loss spark-dpo rejects");
    assertEquals(TrainOptions.Optimizer.NAMES,
        StreamSupport.stream(new Choices.Optimizers().spliterator(), false).toList());
  }

  @Test
  void helpShowsTheDefaultsFilesValues() {
    String train = help("train");
    assertTrue(train.contains("DPO beta (default 0.1)"), train);
    assertTrue(train.contains("Peak learning rate (default 1e-6)"), train);
    assertTrue(train.contains("(default 1e-8)"), train);
    String ingest = help("ingest");
    assertTrue(ingest.contains("(default 0.05)"), ingest);
    assertFalse(ingest.contains("(default null)") || train.contains("(default null)"), "an option without a default");
  }

  // ------------------------------------------------------------------------------------------------ --help layout

  /** The parent's command list shows only the first description line: it must be a whole sentence that fits. */
  @Test
  void everyCommandSummaryIsOneCompleteLine() {
    List<CommandLine> commands = new ArrayList<>();
    collect(new CommandLine(new SparkDpo()), commands);
    for (CommandLine cli : commands) {
      String[] description = cli.getCommandSpec().usageMessage().description();
      assertTrue(description.length > 0, cli.getCommandName());
      String summary = description[0];
      assertTrue(summary.endsWith("."), cli.getCommandSpec().qualifiedName() + ": '" + summary + "'");
      assertTrue(summary.length() <= JobConfig.HELP_WIDTH - 16, cli.getCommandSpec().qualifiedName()
          + ": the summary wraps in the parent's command list: '" + summary + "'");
    }
    String top = help();
    String list = top.substring(top.indexOf("Commands:"));
    for (String line : list.split("\n")) {
      assertFalse(line.startsWith("         "), "a wrapped command summary:\n" + top);
    }
  }

  private static void collect(CommandLine cli, List<CommandLine> into) {
    into.add(cli);
    cli.getSubcommands().values().forEach(sub -> collect(sub, into));
  }
}
