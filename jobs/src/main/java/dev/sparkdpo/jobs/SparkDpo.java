package dev.sparkdpo.jobs;

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
        InitModelCommand.class})
public final class SparkDpo {

  /** Runs a command line and returns its exit code: 0 ok, 2 bad usage or input (message, no stack trace), 1 failure. */
  public static int run(String... args) {
    CommandLine cli = new CommandLine(new SparkDpo());
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      Throwable cause = e;
      while (cause.getCause() != null && !(cause instanceof IllegalArgumentException)) cause = cause.getCause();
      if (cause instanceof IllegalArgumentException) {
        cmd.getErr().println("error: " + cause.getMessage());
        return 2;
      }
      e.printStackTrace(cmd.getErr());
      return 1;
    });
    return cli.execute(args);
  }

  public static void main(String[] args) {
    System.exit(run(args));
  }
}
