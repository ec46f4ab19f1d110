package dev.sparkdpo.reference;

import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.util.LongAccumulator;

/**
 * The models of this JVM (a Spark executor, or the driver in local mode), loaded once each, on first use, and kept
 * for the JVM's life: tasks share them (Gpt's forward is thread-safe: its temporaries live in per-thread
 * workspaces). A local path (or file:) is read in place, so on a cluster it must exist on every worker (a shared
 * file system); any other Hadoop file system (hdfs:, s3a:, ...) is copied to a local temporary directory first.
 */
public final class ExecutorModels {
  private static final Map<String, Gpt> MODELS = new ConcurrentHashMap<>();
  private static final AtomicInteger LOADS = new AtomicInteger();

  private ExecutorModels() {}

  /**
   * The model in {@code modelDir} whose weights have this fingerprint (part of the key: a new model, a new load);
   * {@code loads} (a Spark accumulator, may be null) counts actual loads, so the driver can report them.
   */
  public static Gpt get(String modelDir, String modelFingerprint, Configuration conf, LongAccumulator loads) {
    return MODELS.computeIfAbsent(modelDir + "#" + modelFingerprint, key -> {
      LOADS.incrementAndGet();
      if (loads != null) loads.add(1);
      return Gpt.from(GptCheckpoint.load(localCopy(modelDir, conf)));
    });
  }

  /** How many models this JVM has loaded (for tests and logs). */
  public static int loads() {
    return LOADS.get();
  }

  private static java.nio.file.Path localCopy(String modelDir, Configuration conf) {
    Path src = new Path(modelDir);
    String scheme = src.toUri().getScheme();
    if (scheme == null || scheme.equals("file")) return java.nio.file.Path.of(src.toUri().getPath());
    try {
      java.nio.file.Path dst = Files.createTempDirectory("spark-dpo-model-");
      FileSystem fs = src.getFileSystem(conf);
      for (String name : new String[] {GptCheckpoint.CONFIG, GptCheckpoint.WEIGHTS}) {
        fs.copyToLocalFile(false, new Path(src, name), new Path(dst.resolve(name).toUri()), true);
      }
      dst.toFile().deleteOnExit();
      return dst;
    } catch (IOException e) {
      throw new UncheckedIOException("copying model " + modelDir + " to local disk: " + e.getMessage(), e);
    }
  }
}
