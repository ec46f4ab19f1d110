package dev.sparkdpo.jobs;

import java.io.File;
import picocli.CommandLine.Option;

/**
 * --config alone, for a command that runs no Spark job (report): {@link SparkOptions} would offer --master and --conf
 * that change nothing. Being a mixin's, it is not a key of the command's block.
 */
public final class ConfigFileOption {
  @Option(names = "--config", paramLabel = "FILE",
      description = "HOCON file with settings for this command (command-line options win). See conf/demo.conf.")
  File config;
}
