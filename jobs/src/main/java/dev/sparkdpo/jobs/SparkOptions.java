package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigValue;
import java.io.File;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Option;

/**
 * Options every Spark command takes; Spark settings pass straight through. Being a mixin's, these options are not keys
 * of the command's HOCON block ({@link JobConfig#configOptions}): --master's default is {@code spark.master}.
 */
public final class SparkOptions {
  @Option(names = "--master", paramLabel = "URL",
      description = "Spark master: local[*] (default when not under spark-submit), local[N], spark://host:7077, yarn, k8s://…")
  String master;

  @Option(names = "--conf", paramLabel = "KEY=VALUE",
      description = "A Spark setting, e.g. --conf spark.executor.memory=4g (repeatable).")
  Map<String, String> conf = new LinkedHashMap<>();

  @Option(names = "--config", paramLabel = "FILE",
      description = "HOCON file with settings for this command (command-line options win). See conf/demo.conf.")
  File config;

  /**
   * The session: spark-submit's master when run under it, else --master, else {@code spark.master} of the config.
   * Settings: --conf first, then what spark-submit (or spark-defaults.conf) set, then the config's {@code spark.conf}
   * block, then {@code commandDefaults} (what a command needs, e.g. the training's Kryo settings).
   */
  public SparkSession session(Config config, Config commandDefaults) {
    SparkConf sc = new SparkConf();
    boolean submitted = sc.contains("spark.master");
    if (master != null) sc.setMaster(master);
    else if (!submitted) sc.setMaster(config.getString("spark.master"));
    if (sc.get("spark.master").startsWith("local")) {
      // a local master never needs the machine's other interfaces (Spark would pick eth0's address for the driver)
      sc.setIfMissing("spark.driver.host", "127.0.0.1");
      sc.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
    }
    if (!sc.contains("spark.app.name")) sc.setAppName(config.getString("spark.app-name"));
    conf.forEach(sc::set);
    for (Config block : new Config[] {config.getConfig("spark.conf"), commandDefaults}) {
      for (Map.Entry<String, ConfigValue> e : block.entrySet()) {
        sc.setIfMissing(e.getKey().replace("\"", ""), String.valueOf(e.getValue().unwrapped()));
      }
    }
    String url = sc.get("spark.master");
    checkMasterAnswers(url);
    try {
      return SparkSession.builder().config(sc).getOrCreate();
    } catch (RuntimeException e) {
      throw e;
    } catch (Exception e) { // SparkException (checked; Scala throws it undeclared): a master or setting Spark refuses
      if (!(e instanceof org.apache.spark.SparkException)) throw new IllegalStateException(e);
      throw new IllegalArgumentException("cannot start Spark with master " + url + " ("
          + String.valueOf(e.getMessage()).strip().lines().findFirst().orElse("") + "): give --master local[*],"
          + " local[N] (N >= 1), spark://HOST:PORT, yarn or k8s://https://HOST:PORT", e);
    }
  }

  /**
   * A standalone master nobody answers at would cost a minute of Spark's registration retries and end in a "stopped
   * SparkContext" error: one TCP connection per listed master tells it in seconds.
   */
  static void checkMasterAnswers(String url) {
    if (url == null || !url.startsWith("spark://")) return;
    String reason = null;
    for (String hostPort : url.substring("spark://".length()).split(",")) {
      int colon = hostPort.lastIndexOf(':');
      if (colon < 0) return; // Spark's own message is clear for a malformed URL
      int port;
      try {
        port = Integer.parseInt(hostPort.substring(colon + 1));
      } catch (NumberFormatException e) {
        return;
      }
      try (java.net.Socket socket = new java.net.Socket()) {
        socket.connect(new java.net.InetSocketAddress(hostPort.substring(0, colon), port), 5_000);
        return; // one live master is enough (the others are standbys)
      } catch (java.io.IOException | IllegalArgumentException e) {
        reason = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
      }
    }
    throw new IllegalArgumentException("--master " + url + ": no Spark master answers there (" + reason + "); start"
        + " it (sbin/start-master.sh) or fix the host and port");
  }

  /** These options with another master and, if not null, spark.cores.max (benchmarks run one session per master). */
  public SparkOptions withMaster(String otherMaster, Integer coresMax) {
    SparkOptions o = new SparkOptions();
    o.master = otherMaster;
    o.conf = new LinkedHashMap<>(conf);
    o.config = config;
    if (coresMax != null) o.conf.put("spark.cores.max", String.valueOf(coresMax));
    return o;
  }

  public SparkSession session(Config config) {
    return session(config, com.typesafe.config.ConfigFactory.empty());
  }
}
