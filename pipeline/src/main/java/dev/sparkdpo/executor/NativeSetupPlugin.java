package dev.sparkdpo.executor;

import dev.sparkdpo.model.OpenBlasCore;
import java.util.Map;
import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.api.plugin.SparkPlugin;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Native set-up of every executor JVM before its first task: OpenBLAS's kernels for the executor's own CPU
 * ({@link OpenBlasCore#prepare}), which must be chosen before ND4J loads OpenBLAS and which the driver cannot choose
 * for a worker whose CPU it does not know. Registered by spark-dpo's defaults ({@code spark.plugins} in the
 * {@code spark.conf} block); a user who sets {@code spark.plugins} themselves adds this class to their list.
 */
public final class NativeSetupPlugin implements SparkPlugin {
  private static final Logger LOG = LoggerFactory.getLogger(NativeSetupPlugin.class);

  /** Starts the executor log line that says what was set up (SparkSubmitTest looks for it in every executor's). */
  public static final String LOG_PREFIX = "spark-dpo executor set-up: ";

  @Override
  public DriverPlugin driverPlugin() {
    return null; // the driver's JVM is set up by SparkDpo.main, before Spark starts
  }

  @Override
  public ExecutorPlugin executorPlugin() {
    return new ExecutorPlugin() {
      @Override
      public void init(PluginContext ctx, Map<String, String> extraConf) {
        LOG.info("{}OpenBLAS kernels: {}", LOG_PREFIX, OpenBlasCore.prepare());
      }
    };
  }
}
