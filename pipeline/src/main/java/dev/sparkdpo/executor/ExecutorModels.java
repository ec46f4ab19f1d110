package dev.sparkdpo.executor;

import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.LanguageModel;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.io.HadoopFiles;
import dev.sparkdpo.io.ModelFingerprint;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.util.LongAccumulator;

/**
 * The one executor-side model cache of spark-dpo (reference scoring, training's eval, the evaluate stage): the models
 * of this JVM (a Spark executor, or the driver in local mode), loaded once each, on first use, under a key that names
 * exactly what was loaded. {@link #get(String, String, Configuration, LongAccumulator)} keeps a model directory's
 * model for the JVM's life; {@link #latest(String, String, Supplier)} keeps only the latest model of a slot (training's
 * eval builds a new model from each broadcast of the weights: keeping them all would grow by one model per eval).
 * Tasks share the models tasks share them (a LanguageModel's forward is thread-safe: its temporaries live in per-thread
 * workspaces). {@code modelDir} is a qualified path: {@code file:} is read in place, so on a cluster it must exist on
 * every worker (a shared file system); any other Hadoop file system (hdfs:, s3a:, ...) is read from this JVM's local
 * copy ({@link HadoopFiles#local}: one copy per path and file versions, kept until the JVM exits, so a model loaded
 * again, e.g. by the next stage of a pipeline, is not copied again). The loaded bytes must have the fingerprint the
 * driver computed.
 *
 * <p>Its own package, depending only on model and io: reference (scoring), dpo (the LoRA layer's frozen base), train,
 * eval and generate all use this one cache, and reference already depends on dpo, so the cache in reference made a
 * package cycle.
 */
public final class ExecutorModels {
  private static final Map<String, LanguageModel> MODELS = new ConcurrentHashMap<>();
  /** slot -> the key of its current model in MODELS. */
  private static final Map<String, String> SLOTS = new ConcurrentHashMap<>();
  private static final AtomicInteger LOADS = new AtomicInteger();

  private ExecutorModels() {}

  /**
   * The model in {@code modelDir} whose weights have this fingerprint (part of the key: a new model, a new load);
   * {@code loads} (a Spark accumulator, may be null) counts actual loads, so the driver can report them.
   */
  public static LanguageModel get(String modelDir, String modelFingerprint, Configuration conf, LongAccumulator loads) {
    return get(modelDir + "#" + modelFingerprint, () -> {
      LanguageModel model = load(modelDir, modelFingerprint, conf);
      if (loads != null) loads.add(1);
      return model;
    });
  }

  /** The model under {@code key}, built by {@code loader} on first use and kept for the JVM's life. */
  public static LanguageModel get(String key, Supplier<? extends LanguageModel> loader) {
    return MODELS.computeIfAbsent(key, k -> {
      LanguageModel model = loader.get();
      LOADS.incrementAndGet();
      return model;
    });
  }

  /**
   * The model under {@code key}, as the only model of {@code slot}: a new key drops the slot's previous model (its
   * off-heap weights are freed when the last task using it ends and it is garbage collected).
   */
  public static LanguageModel latest(String slot, String key, Supplier<? extends LanguageModel> loader) {
    synchronized (SLOTS) {
      String previous = SLOTS.put(slot, key);
      if (previous != null && !previous.equals(key)) MODELS.remove(previous);
      return get(key, loader);
    }
  }

  /** How many models this JVM has loaded (for tests and logs). */
  public static int loads() {
    return LOADS.get();
  }

  private static LanguageModel load(String modelDir, String expectedFingerprint, Configuration conf) {
    return checkedLoad(HadoopFiles.local(modelDir, List.of(GptCheckpoint.CONFIG, GptCheckpoint.WEIGHTS), conf),
        modelDir, expectedFingerprint);
  }

  private static LanguageModel checkedLoad(java.nio.file.Path local, String modelDir, String expectedFingerprint) {
    String actual = ModelFingerprint.ofModel(local.toUri().toString(), new Configuration(false));
    if (!actual.equals(expectedFingerprint)) {
      throw new IllegalStateException("model " + modelDir + " as this executor reads it (" + local + ") has"
          + " fingerprint " + actual + ", not the driver's " + expectedFingerprint + ": it differs between machines"
          + " or changed during the run; put it on a file system every executor reads the same way (hdfs:, s3a:)");
    }
    return Gpt.from(GptCheckpoint.load(local, "--model " + modelDir));
  }

}
