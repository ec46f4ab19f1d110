package dev.sparkdpo.jobs;

import java.io.File;
import picocli.CommandLine.Option;

/**
 * --config alone, for commands that run no Spark job (init-model, demo-data, report): {@link SparkOptions} would offer
 * --master and --conf that change nothing. Being a mixin's option, it is not a key of the command's block.
 */
public final class ConfigFileOption {
  @Option(names = "--config", paramLabel = "FILE",
      description = "HOCON file with settings for this command (its block; command-line options win). See conf/demo.conf.")
  File config;
}
