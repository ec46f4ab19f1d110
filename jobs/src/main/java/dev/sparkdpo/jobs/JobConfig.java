package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigParseOptions;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Settings in three layers: command-line options over a {@code --config} HOCON file over the built-in
 * {@code spark-dpo-defaults.conf}. Every option of a command is a key in that command's block.
 */
public final class JobConfig {
  private final Map<String, Object> overrides = new LinkedHashMap<>();
  private final File file;

  public JobConfig(File file) {
    this.file = file;
  }

  /** Sets {@code path} from a command-line option when the option was given (non-null). */
  public JobConfig set(String path, Object value) {
    if (value != null) overrides.put(path, value);
    return this;
  }

  public Config resolve() {
    Config defaults = ConfigFactory.parseResources(JobConfig.class, "/spark-dpo-defaults.conf",
        ConfigParseOptions.defaults().setAllowMissing(false));
    Config fromFile = ConfigFactory.empty();
    if (file != null) {
      if (!file.isFile()) throw new IllegalArgumentException("--config " + file + ": no such file");
      try {
        fromFile = ConfigFactory.parseFile(file, ConfigParseOptions.defaults().setAllowMissing(false));
      } catch (ConfigException e) {
        throw new IllegalArgumentException("--config " + file + ": " + e.getMessage(), e);
      }
    }
    return ConfigFactory.parseMap(overrides, "command line").withFallback(fromFile).withFallback(defaults).resolve();
  }
}
