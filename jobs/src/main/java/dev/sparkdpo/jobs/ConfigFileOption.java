package dev.sparkdpo.jobs;

import java.io.File;
import picocli.CommandLine.Option;

/** --config for commands without Spark (init-model, demo-data): a mixin's option, so it is not a key of the block. */
public final class ConfigFileOption {
  @Option(names = "--config", paramLabel = "FILE",
      description = "HOCON file with settings for this command (its block; command-line options win).")
  File config;
}
