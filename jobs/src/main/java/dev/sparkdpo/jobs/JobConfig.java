package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigOrigin;
import com.typesafe.config.ConfigParseOptions;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValue;
import com.typesafe.config.ConfigValueType;
import com.typesafe.config.ConfigValueFactory;
import java.io.File;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A command's settings in three layers: the options given on the command line over a {@code --config} HOCON file over
 * the built-in {@code spark-dpo-defaults.conf}.
 *
 * <p>Each option is declared once, as a picocli {@code @Option}: its HOCON key is its long name without "--" under the
 * block named after the command ({@code train --learning-rate} is {@code train.learning-rate}). The options of a mixin
 * ({@link SparkOptions}: --master, --conf, --config; --help, --version) are not keys of the block. A command's block
 * may also hold config-only keys (structured values no option can carry, e.g. {@code train.spark-conf}), which the
 * command lists through {@link ConfigOnlyKeys} and documents in its --help footer.
 *
 * <p>A config file is checked whole before any work: one file may hold the blocks of every command (a future
 * {@code pipeline} command runs all stages from one file), so a typo in the train block fails the ingest run too,
 * rather than hours later. Unknown blocks, unknown keys in a command's block or in {@code spark}, and values of the
 * wrong type each fail with one line naming the file, line and key.
 */
public final class JobConfig {
  static final String DEFAULTS_RESOURCE = "/spark-dpo-defaults.conf";

  /** The commands whose options are the keys of a block named after them (in the order a pipeline runs them). */
  static final List<Supplier<Object>> COMMANDS = List.of(DemoDataCommand::new, TokenizerCommand::new,
      IngestCommand::new, InitModelCommand::new, GeneratePairsCommand::new, ReferenceCommand::new, TrainCommand::new,
      EvaluateCommand::new, ReportCommand::new,
      PipelineCommand::new);

  /**
   * Blocks that hold another command's keys: {@code sft} is a train block (objective sft) that the pipeline runs to
   * make the reference model; its keys and types are checked as train's, and its defaults are train's.
   */
  static final Map<String, String> BLOCKS_LIKE = Map.of("sft", "train");

  /** Keys of the {@code spark} block: --master's default, the application name, and free-form Spark settings. */
  static final List<String> SPARK_KEYS = List.of("master", "app-name", "conf");

  /** Blocks kept for commands to come; a file may hold them already, and their keys are not checked yet. */
  static final List<String> RESERVED_BLOCKS = List.of();

  /**
   * --help's width when the terminal's is unknown (usageHelpAutoWidth uses the terminal's): picocli's 80 columns wrap
   * most option descriptions onto three lines.
   */
  static final int HELP_WIDTH = 100;

  /** The --help footer of a command with a block: how options, the config file and the defaults relate. */
  static final String KEYS_FOOTER = "Every option --x is also the key ${COMMAND-NAME}.x of a --config file (HOCON): "
      + "options given here win over the file, the file over the defaults shown (spark-dpo-defaults.conf in the jar). "
      + "An unknown key in the file is an error. Other commands' blocks in the same file are checked too.";

  /** A command whose block holds keys no option sets (structured values); each must be in its --help footer. */
  public interface ConfigOnlyKeys {
    List<String> configOnlyKeys();
  }

  private final String block;
  private final Config config;
  private final Config given;
  /** The block as the user wrote it, for messages: "sft" when the pipeline reads the sft block as train's. */
  private final String shown;

  private JobConfig(String block, Config config, Config given) {
    this(block, config, given, block);
  }

  private JobConfig(String block, Config config, Config given, String shown) {
    this.block = block;
    this.config = config;
    this.given = given;
    this.shown = shown;
  }

  // ------------------------------------------------------------------------------------------------ resolving

  /**
   * The settings of the command {@code spec} (parsed): defaults, then its {@code --config} file (checked whole), then
   * the options the user gave on the command line. Only matched options count: an option's field may hold a default
   * that must not hide the config file's value.
   */
  public static JobConfig resolve(CommandSpec spec) {
    File file = configFile(spec);
    Config fromFile = parseFile(file);
    Map<String, CommandSpec> commands = commandSpecs();
    checkKeys(fromFile, file, commands);
    Config given = ConfigFactory.parseMap(overrides(spec), "command line").withFallback(fromFile);
    Config config = resolveWithDefaults(given, file);
    checkTypes(config, commands);
    return new JobConfig(spec.name(), config, given.resolveWith(config));
  }

  /**
   * The settings of another command's block as the pipeline runs it: block {@code from} of what the user gave (file and
   * command line; e.g. the {@code sft} block) read as {@code block}'s keys (e.g. train's) over its defaults, with the
   * values the pipeline fills in where the user left them out ({@code fill}, e.g. the demo's tokenizer) and those it
   * sets whatever the block says ({@code wired}: key -> value, e.g. data = the run root's ingest/, force). The command's own {@code options(JobConfig)} then turns it into the stage's options, so a pipeline block
   * means exactly what the command's block means.
   */
  public JobConfig forStage(String block, String from, Map<String, Object> fill, Map<String, Object> wired) {
    Config stage = given.hasPath(from) ? given.getConfig(from) : ConfigFactory.empty();
    for (Map.Entry<String, Object> f : fill.entrySet()) {
      if (!stage.hasPath(f.getKey())) stage = stage.withValue(f.getKey(), ConfigValueFactory.fromAnyRef(f.getValue()));
    }
    for (Map.Entry<String, Object> w : wired.entrySet()) {
      stage = stage.withValue(w.getKey(), ConfigValueFactory.fromAnyRef(w.getValue()));
    }
    Config stageGiven = stage.atKey(block).withFallback(given.withoutPath(block));
    Config resolved = stageGiven.withFallback(defaults()).resolve();
    return new JobConfig(block, resolved, stageGiven, from);
  }

  /**
   * This config with {@code values} over block {@code block} as the user gave it: a pipeline run's train or evaluate
   * block over the pipeline's. Its keys and types are checked as that command's ({@code where} names it in messages,
   * e.g. pipeline.runs[2].train).
   */
  public JobConfig overriding(String block, ConfigObject values, String where) {
    return overriding(block, values, where, List.of());
  }

  /** As {@link #overriding(String, ConfigObject, String)}, the block's {@code notInherited} keys left to defaults. */
  public JobConfig overriding(String block, ConfigObject values, String where, Collection<String> notInherited) {
    String command = BLOCKS_LIKE.getOrDefault(block, block);
    checkBlock(null, where, values, validKeys(commandSpecs().get(command)), "Valid keys: spark-dpo " + command
        + " --help");
    Config inherited = given.hasPath(block) ? given.getConfig(block) : ConfigFactory.empty();
    for (String key : notInherited) inherited = inherited.withoutPath(key);
    Config merged = values.toConfig().withFallback(inherited);
    Config newGiven = merged.atKey(block).withFallback(given.withoutPath(block));
    Config resolved = newGiven.withFallback(defaults()).resolve();
    checkTypes(resolved, commandSpecs());
    return new JobConfig(this.block, resolved, newGiven, shown);
  }

  /** Whether the user gave {@code path} (a full path, e.g. "sft" or "ingest.input"), in the file or on the command line. */
  public boolean given(String path) {
    return given.hasPath(path);
  }

  /** A config file without a command's options (the benchmarks read only its {@code spark} block). */
  public static Config load(File file) {
    Config fromFile = parseFile(file);
    Map<String, CommandSpec> commands = commandSpecs();
    checkKeys(fromFile, file, commands);
    Config config = resolveWithDefaults(fromFile, file);
    checkTypes(config, commands);
    return config;
  }

  /** Everything: the {@code spark} block and every command's block. */
  public Config config() {
    return config;
  }

  /** This command's block. */
  public Config block() {
    return config.getConfig(block);
  }

  /** Whether the user set {@code key} of this command's block (in the file or on the command line), not a default. */
  public boolean isSet(String key) {
    return given.hasPath(block + "." + key);
  }

  /**
   * Refuses {@code key} when the user set it but {@code holds} is false: a setting that would silently change nothing
   * (e.g. --max-length without --tokenizer). The message names both spellings of the key, what it needs and the fix.
   */
  public void check(String key, boolean holds, String needs, String fix) {
    if (isSet(key) && !holds) throw new IllegalArgumentException(name(key) + " needs " + needs + ": " + fix);
  }

  /** "--max-length / ingest.max-length": how the user may have set a key. */
  public String name(String key) {
    return "--" + key + " / " + shown + "." + key;
  }

  /** A required key without a default: its value, or a one-line error saying how to give it. */
  public String required(String key) {
    if (!block().hasPath(key)) {
      throw new IllegalArgumentException("give --" + key + " (or " + shown + "." + key + " in --config)");
    }
    return block().getString(key);
  }

  // ------------------------------------------------------------------------------------------------ layers

  static Config defaults() {
    return ConfigFactory.parseResources(JobConfig.class, DEFAULTS_RESOURCE,
        ConfigParseOptions.defaults().setAllowMissing(false));
  }

  /** The --config option's value when given (commands take it through the {@link SparkOptions} mixin). */
  private static File configFile(CommandSpec spec) {
    OptionSpec option = spec.findOption("--config");
    return option == null ? null : option.getValue();
  }

  private static Config parseFile(File file) {
    if (file == null) return ConfigFactory.empty();
    if (!file.isFile()) throw new IllegalArgumentException("--config " + file + ": no such file");
    try {
      return ConfigFactory.parseFile(file, ConfigParseOptions.defaults().setAllowMissing(false));
    } catch (ConfigException e) {
      throw new IllegalArgumentException("--config " + file + ": " + e.getMessage(), e);
    }
  }

  private static Config resolveWithDefaults(Config given, File file) {
    try {
      return given.withFallback(defaults()).resolve();
    } catch (ConfigException e) {
      throw new IllegalArgumentException("--config " + file + ": " + e.getMessage(), e);
    }
  }

  /** The options given on the command line, each under its key: {@code --learning-rate 1e-5} is train.learning-rate. */
  private static Map<String, Object> overrides(CommandSpec spec) {
    Map<String, Object> overrides = new LinkedHashMap<>();
    CommandLine.ParseResult parsed = spec.commandLine() == null ? null : spec.commandLine().getParseResult();
    if (parsed == null) return overrides;
    for (OptionSpec option : configOptions(spec)) {
      if (!parsed.hasMatchedOption(option)) continue;
      Object value = option.getValue();
      if (value != null) overrides.put(spec.name() + "." + key(option), value);
    }
    return overrides;
  }

  // ------------------------------------------------------------------------------------------------ the option model

  /** The options of {@code spec} that are keys of its block: its own options, not those of a mixin. */
  static List<OptionSpec> configOptions(CommandSpec spec) {
    Set<String> mixedIn = spec.mixins().values().stream().flatMap(m -> m.options().stream())
        .map(OptionSpec::longestName).collect(Collectors.toSet());
    List<OptionSpec> options = new ArrayList<>();
    for (OptionSpec option : spec.options()) {
      if (option.usageHelp() || option.versionHelp() || mixedIn.contains(option.longestName())) continue;
      if (!option.longestName().startsWith("--")) {
        throw new IllegalStateException(spec.qualifiedName() + " " + option.longestName() + ": a config option needs a"
            + " long name (its HOCON key)");
      }
      options.add(option);
    }
    return options;
  }

  /** The HOCON key of an option within its command's block: its long name without "--". */
  static String key(OptionSpec option) {
    return option.longestName().substring(2);
  }

  /** Keys the block of {@code spec} may hold: one per option, plus its config-only keys. */
  static Set<String> validKeys(CommandSpec spec) {
    Set<String> keys = new LinkedHashSet<>();
    for (OptionSpec option : configOptions(spec)) keys.add(key(option));
    keys.addAll(configOnlyKeys(spec));
    return keys;
  }

  static List<String> configOnlyKeys(CommandSpec spec) {
    return spec.userObject() instanceof ConfigOnlyKeys c ? c.configOnlyKeys() : List.of();
  }

  /** Every command with a block, by block name (fresh, unparsed: for their option model only). */
  static Map<String, CommandSpec> commandSpecs() {
    Map<String, CommandSpec> specs = new LinkedHashMap<>();
    for (Supplier<Object> command : COMMANDS) {
      CommandSpec spec = new CommandLine(command.get()).getCommandSpec();
      specs.put(spec.name(), spec);
    }
    return specs;
  }

  // ------------------------------------------------------------------------------------------------ unknown keys

  /** Fails on the first unknown block or key of the file (in file order), naming the nearest valid one. */
  private static void checkKeys(Config fromFile, File file, Map<String, CommandSpec> commands) {
    Set<String> blocks = new LinkedHashSet<>();
    blocks.add("spark");
    blocks.addAll(commands.keySet());
    blocks.addAll(BLOCKS_LIKE.keySet());
    for (Map.Entry<String, ConfigValue> top : inFileOrder(fromFile.root())) {
      String name = top.getKey();
      ConfigValue value = top.getValue();
      if (RESERVED_BLOCKS.contains(name)) continue;
      if (name.equals("spark")) {
        checkBlock(file, name, value, SPARK_KEYS,
            "Valid keys: " + String.join(", ", SPARK_KEYS) + " (Spark settings go in spark.conf { ... })");
      } else if (commands.containsKey(name)) {
        checkBlock(file, name, value, validKeys(commands.get(name)), "Valid keys: spark-dpo " + name + " --help");
      } else if (BLOCKS_LIKE.containsKey(name)) {
        String like = BLOCKS_LIKE.get(name);
        checkBlock(file, name, value, validKeys(commands.get(like)), "Valid keys: those of spark-dpo " + like
            + " --help");
      } else {
        throw unknownTopLevel(file, name, value, blocks, commands);
      }
    }
  }

  private static void checkBlock(File file, String block, ConfigValue value, Collection<String> valid, String hint) {
    if (!(value instanceof ConfigObject object)) {
      throw new IllegalArgumentException(where(file, value) + block + " must be a block, e.g. " + block
          + " { ... }" + line(value) + ", got " + render(value));
    }
    for (Map.Entry<String, ConfigValue> entry : inFileOrder(object)) {
      String key = entry.getKey();
      if (valid.contains(key)) continue;
      String nearest = nearest(key, valid);
      throw new IllegalArgumentException(where(file, entry.getValue()) + "unknown key " + block + "." + key
          + line(entry.getValue()) + (nearest == null ? "" : "; did you mean " + block + "." + nearest + "?") + " "
          + hint);
    }
  }

  /** A top-level name that is no block: a misspelt block, or a command's key written outside its block. */
  private static IllegalArgumentException unknownTopLevel(File file, String name, ConfigValue value,
      Set<String> blocks, Map<String, CommandSpec> commands) {
    String validBlocks = "Valid blocks: " + String.join(", ", blocks) + (RESERVED_BLOCKS.isEmpty() ? ""
        : " (reserved: " + String.join(", ", RESERVED_BLOCKS) + ")");
    if (!(value instanceof ConfigObject)) {
      for (Map.Entry<String, CommandSpec> command : commands.entrySet()) {
        if (validKeys(command.getValue()).contains(name)) {
          return new IllegalArgumentException(where(file, value) + "unknown key " + name + line(value)
              + "; did you mean " + command.getKey() + "." + name + "? Keys go in their command's block, e.g. "
              + command.getKey() + " { " + name + " = ... }");
        }
      }
    }
    List<String> candidates = new ArrayList<>(blocks);
    candidates.addAll(RESERVED_BLOCKS);
    String nearest = nearest(name, candidates);
    return new IllegalArgumentException(where(file, value) + "unknown block " + name + line(value)
        + (nearest == null ? "" : "; did you mean " + nearest + "?") + " " + validBlocks);
  }

  private static List<Map.Entry<String, ConfigValue>> inFileOrder(ConfigObject object) {
    List<Map.Entry<String, ConfigValue>> entries = new ArrayList<>(object.entrySet());
    entries.sort(Comparator.comparingInt((Map.Entry<String, ConfigValue> e) -> e.getValue().origin().lineNumber())
        .thenComparing(Map.Entry::getKey));
    return entries;
  }

  /**
   * The valid key closest to {@code key} by edit distance (underscores read as dashes: TRL's learning_rate is
   * learning-rate), or null when none is close enough to be a plausible typo: at most a third of the longer name
   * edited, or {@code key} a prefix of it (batch-size for batch-size-per-worker).
   */
  static String nearest(String key, Collection<String> valid) {
    String k = key.replace('_', '-');
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String candidate : valid) {
      int d = editDistance(k, candidate);
      boolean plausible = d <= Math.max(2, Math.max(k.length(), candidate.length()) / 3)
          || (k.length() >= 3 && candidate.startsWith(k));
      if (plausible && d < bestDistance) {
        best = candidate;
        bestDistance = d;
      }
    }
    return best;
  }

  /** Levenshtein distance: insertions, deletions and substitutions. */
  static int editDistance(String a, String b) {
    int[] prev = new int[b.length() + 1];
    int[] cur = new int[b.length() + 1];
    for (int j = 0; j <= b.length(); j++) prev[j] = j;
    for (int i = 1; i <= a.length(); i++) {
      cur[0] = i;
      for (int j = 1; j <= b.length(); j++) {
        int substitute = prev[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
        cur[j] = Math.min(substitute, Math.min(prev[j], cur[j - 1]) + 1);
      }
      int[] t = prev;
      prev = cur;
      cur = t;
    }
    return prev[b.length()];
  }

  // ------------------------------------------------------------------------------------------------ value types

  /**
   * Checks every key of every command block (and {@code spark}) against its option's type. Typesafe Config converts
   * lazily and {@code getLong} truncates 1.5 to 1, so a wrong value would otherwise surface mid-run or not at all.
   */
  private static void checkTypes(Config config, Map<String, CommandSpec> commands) {
    for (String key : List.of("spark.master", "spark.app-name")) expect(config, key, String.class, null);
    expect(config, "spark.conf", Map.class, null);
    Map<String, CommandSpec> blocks = new LinkedHashMap<>(commands);
    BLOCKS_LIKE.forEach((block, like) -> blocks.put(block, commands.get(like)));
    for (Map.Entry<String, CommandSpec> command : blocks.entrySet()) {
      for (OptionSpec option : configOptions(command.getValue())) {
        Class<?>[] aux = option.auxiliaryTypes();
        expect(config, command.getKey() + "." + key(option), option.type(), aux.length > 0 ? aux[0] : null);
      }
    }
  }

  private static void expect(Config config, String path, Class<?> type, Class<?> element) {
    if (!config.hasPath(path)) return;
    ConfigValue value = config.getValue(path);
    String expected = describe(type, element);
    boolean list = List.class.isAssignableFrom(type);
    if (list && value.valueType() != ConfigValueType.LIST) {
      // a single value where a list belongs: the one-element list is the likeliest intent
      String hint = value.valueType() == ConfigValueType.OBJECT ? "" : "; write [" + render(value) + "]";
      throw wrongType(value, path, expected, hint);
    }
    List<ConfigValue> values = list ? List.copyOf(config.getList(path)) : List.of(value);
    for (ConfigValue v : values) {
      boolean ok;
      try {
        ok = convertsTo(v.atKey("v"), "v", list ? element : type);
      } catch (ConfigException.WrongType e) {
        ok = false;
      }
      if (!ok) throw wrongType(value, path, expected, "");
    }
  }

  /** Whether the value at {@code path} converts to {@code type} (WrongType when Typesafe Config cannot convert it). */
  private static boolean convertsTo(Config config, String path, Class<?> type) {
    if (type == Integer.class || type == int.class) {
      return whole(config.getNumber(path), Integer.MIN_VALUE, Integer.MAX_VALUE);
    }
    if (type == Long.class || type == long.class) return whole(config.getNumber(path), Long.MIN_VALUE, Long.MAX_VALUE);
    if (type == Double.class || type == double.class) {
      config.getDouble(path);
    } else if (type == Boolean.class || type == boolean.class) {
      config.getBoolean(path);
    } else if (Map.class.isAssignableFrom(type)) {
      config.getObject(path);
    } else {
      config.getString(path);
    }
    return true;
  }

  private static boolean whole(Number n, long min, long max) {
    if (n instanceof Integer || n instanceof Long) return n.longValue() >= min && n.longValue() <= max;
    double d = n.doubleValue();
    return d == Math.rint(d) && d >= min && d <= max;
  }

  private static String describe(Class<?> type, Class<?> element) {
    if (List.class.isAssignableFrom(type)) {
      return "a list of " + describe(element == null ? String.class : element, null).replaceFirst("^an? ", "") + "s";
    }
    if (type == Integer.class || type == int.class) return "a whole number";
    if (type == Long.class || type == long.class) return "a whole number";
    if (type == Double.class || type == double.class) return "a number";
    if (type == Boolean.class || type == boolean.class) return "true or false";
    if (Map.class.isAssignableFrom(type)) return "a block { key = value ... }";
    return "a string";
  }

  /** "conf/x.conf: train.beta (line 3): expected a number, got "abc"". */
  private static IllegalArgumentException wrongType(ConfigValue value, String path, String expected, String hint) {
    return new IllegalArgumentException(where(null, value) + path + line(value) + ": expected " + expected + ", got "
        + render(value) + hint);
  }

  // ------------------------------------------------------------------------------------------------ messages

  /** "conf/x.conf: ": the file a value came from (an included file's own name), else the --config file. */
  private static String where(File file, ConfigValue value) {
    ConfigOrigin origin = value.origin();
    if (origin.filename() != null) return origin.filename() + ": ";
    if (file != null) return file.getPath() + ": ";
    return origin.description() + ": ";
  }

  private static String line(ConfigValue value) {
    int line = value.origin().lineNumber();
    return line > 0 ? " (line " + line + ")" : "";
  }

  private static String render(ConfigValue value) {
    String text = value.render(ConfigRenderOptions.concise());
    return text.length() > 60 ? text.substring(0, 57) + "..." : text;
  }

  // ------------------------------------------------------------------------------------------------ --help defaults

  /**
   * Gives --help's {@code ${DEFAULT-VALUE}} from spark-dpo-defaults.conf, the one place defaults are written. Only
   * for display: picocli also puts these into the option fields, but {@link #resolve} reads matched options only, so a
   * config file's value is never hidden by them.
   */
  public static final class DefaultsFile implements IDefaultValueProvider {
    private static final Config DEFAULTS = defaults();

    @Override
    public String defaultValue(ArgSpec arg) {
      if (!(arg instanceof OptionSpec option) || arg.command() == null) return null;
      CommandSpec command = arg.command();
      if (!configOptions(command).contains(option)) return null;
      String path = command.name() + "." + key(option);
      if (!DEFAULTS.hasPath(path)) return null;
      ConfigValue value = DEFAULTS.getValue(path);
      return display(value);
    }

    /** As it would be typed on the command line: lists comma-separated, numbers as written in the file. */
    static String display(ConfigValue value) {
      return switch (value.valueType()) {
        case STRING -> (String) value.unwrapped();
        case LIST -> {
          List<String> items = new ArrayList<>();
          for (ConfigValue item : (Iterable<ConfigValue>) value) items.add(display(item));
          yield items.isEmpty() ? null : String.join(",", items);
        }
        case NUMBER -> number((Number) value.unwrapped());
        case BOOLEAN -> String.valueOf(value.unwrapped());
        default -> null;
      };
    }

    /** 1e-6 rather than Java's 1.0E-6 (Typesafe Config keeps no number's original text): 0.05, 1e-8, 16384. */
    static String number(Number n) {
      if (n instanceof Integer || n instanceof Long) return n.toString();
      double d = n.doubleValue();
      if (d != 0 && Math.abs(d) < 1e-3) return Double.toString(d).replace(".0E", "E").replace("E", "e");
      return java.math.BigDecimal.valueOf(d).stripTrailingZeros().toPlainString();
    }
  }
}
