package dev.sparkdpo.jobs;

import dev.sparkdpo.model.OpenBlasCore;
import java.io.PrintWriter;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The spark-dpo command line: {@code bin/spark-dpo <command>} on this machine, or
 * {@code spark-submit --class dev.sparkdpo.jobs.SparkDpo spark-dpo-jobs-*-spark.jar <command>} on a cluster.
 */
@Command(name = "spark-dpo", mixinStandardHelpOptions = true, version = "spark-dpo 0.1.0",
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    description = "Direct Preference Optimization on Apache Spark.",
    footer = {"", "Run spark-dpo <command> --help for a command's options."},
    subcommands = {IngestCommand.class, ReferenceCommand.class, TrainCommand.class, BenchCommand.class,
        InitModelCommand.class, GeneratePairsCommand.class, EvaluateCommand.class, ReportCommand.class,
        PipelineCommand.class, DemoDataCommand.class, TokenizerCommand.class})
public final class SparkDpo {
  private static final Logger LOG = LoggerFactory.getLogger(SparkDpo.class);
  /** How to see what a one-line error leaves out (conf/log4j2.properties reads the variable). */
  static final String STACK_TRACE_HINT = "(stack trace: run with SPARK_DPO_LOG_LEVEL=debug)";
  /** A line longer than this is cut: an error line is read, not scrolled. */
  private static final int MAX_LINE = 2000;
  /**
   * A task's exception inside the text of Spark's "Job aborted due to stage failure" (the executor's exception is
   * only text there when it crossed the network): its class and the rest of its first line.
   */
  private static final Pattern TASK_EXCEPTION = Pattern.compile(
      "(?:^|: |Caused by: )((?:[a-z_$][\\w$]*\\.)+([A-Z][\\w$]*(?:Exception|Error)))(?:: ([^\\n]*))?",
      Pattern.MULTILINE);

  /** Runs a command line and returns its exit code: 0 ok, 2 bad usage or input, 1 failure; errors are one line. */
  public static int run(String... args) {
    CommandLine cli = new CommandLine(new SparkDpo());
    cli.setParameterExceptionHandler((e, ignoredArgs) -> {
      // picocli's default prints the whole usage after the message: here the message and where the usage is
      CommandLine cmd = e.getCommandLine();
      String suggestions = "";
      if (e instanceof CommandLine.UnmatchedArgumentException u && !u.getSuggestions().isEmpty()) {
        suggestions = " (did you mean " + String.join(" or ", u.getSuggestions()) + "?)";
      }
      cmd.getErr().println("error: " + oneLine(e.getMessage()) + suggestions + "; see "
          + cmd.getCommandSpec().qualifiedName() + " --help");
      cmd.getErr().flush();
      return 2;
    });
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> report(e, cmd.getErr()));
    try {
      return cli.execute(args);
    } catch (Throwable e) { // Errors (out of memory, a missing class) pass picocli's handler, which takes Exceptions
      return report(e, cli.getErr());
    }
  }

  /**
   * Prints {@code e} as one {@code error:} line and logs its stack trace at DEBUG; returns the exit code: 2 when an
   * IllegalArgumentException (the user's input or usage; its message names the input and the fix) is in the cause
   * chain or in a failed Spark task's text, else 1.
   */
  static int report(Throwable e, PrintWriter err) {
    LOG.debug("spark-dpo failed", e);
    String userError = userError(e);
    if (userError != null) {
      err.println("error: " + userError);
      err.flush();
      return 2;
    }
    err.println("error: " + internalError(e) + " " + STACK_TRACE_HINT);
    err.flush();
    return 1;
  }

  /** The first IllegalArgumentException's message in the chain or in a task failure's text, one line; else null. */
  static String userError(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof IllegalArgumentException) return oneLine(t.getMessage());
      Matcher m = TASK_EXCEPTION.matcher(String.valueOf(t.getMessage()));
      while (m.find()) {
        if (isIllegalArgument(m.group(1))) return oneLine(m.group(3));
      }
    }
    return null;
  }

  private static boolean isIllegalArgument(String className) {
    try {
      return IllegalArgumentException.class.isAssignableFrom(
          Class.forName(className, false, SparkDpo.class.getClassLoader()));
    } catch (ClassNotFoundException | LinkageError notHere) {
      return className.endsWith(".IllegalArgumentException");
    }
  }

  /**
   * The most useful line for an internal failure: a failed Spark task's exception (not Spark's wrapper), an out of
   * memory error with what to raise, else the outermost message with the root cause's if it adds something.
   */
  static String internalError(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      if (t instanceof OutOfMemoryError) {
        return "the driver ran out of memory (" + t.getMessage() + "): raise SPARK_DPO_HEAP (bin/spark-dpo) or"
            + " --driver-memory (spark-submit)";
      }
    }
    for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
      String text = String.valueOf(t.getMessage());
      if (!text.contains("Job aborted due to stage failure")) continue;
      Matcher m = TASK_EXCEPTION.matcher(text);
      String task = null;
      while (m.find()) task = m.group(2) + (m.group(3) == null ? "" : ": " + m.group(3)); // the innermost cause
      if (task != null) {
        return "a Spark task failed: " + firstLine(task) + (task.contains("OutOfMemoryError")
            ? " (raise --conf spark.executor.memory, or lower the batch size)" : "");
      }
    }
    Throwable root = e;
    while (root.getCause() != null && root.getCause() != root) root = root.getCause();
    String message = firstLine(describe(e));
    String cause = root == e || root.getMessage() == null ? null
        : root.getClass().getSimpleName() + ": " + firstLine(root.getMessage());
    return cause == null || message.contains(firstLine(root.getMessage())) ? message : message + " (" + cause + ")";
  }

  /** A throwable's message, or its class when the message says nothing by itself. */
  private static String describe(Throwable t) {
    String message = t.getMessage();
    if (message == null || message.isBlank()) return t.getClass().getName();
    String firstLine = message.strip().lines().findFirst().orElse("");
    // "null", "3", "/tmp/x": a bare message needs its class to be read
    return firstLine.contains(" ") ? message : t.getClass().getSimpleName() + ": " + message;
  }

  /**
   * A message as one line: its lines joined (the project's own messages may list problems on several lines), up to a
   * stack trace; cut at {@value #MAX_LINE} characters.
   */
  static String oneLine(String message) {
    if (message == null) return "(no message)";
    String s = message.strip();
    int frames = s.indexOf("\n\tat ");
    if (frames >= 0) s = s.substring(0, frames);
    s = s.lines().map(String::strip).filter(l -> !l.isEmpty()).reduce((a, b) -> a + " " + b).orElse("");
    return s.length() > MAX_LINE ? s.substring(0, MAX_LINE) + "…" : s;
  }

  /** The first non-blank line: other code's multi-line messages continue with dumps (call sites, plans, traces). */
  static String firstLine(String message) {
    return oneLine(message == null ? null : message.strip().lines().findFirst().orElse(""));
  }

  public static void main(String[] args) {
    OpenBlasCore.prepare(); // before anything loads ND4J: OpenBLAS reads its kernel choice when it loads
    System.exit(run(args));
  }
}
