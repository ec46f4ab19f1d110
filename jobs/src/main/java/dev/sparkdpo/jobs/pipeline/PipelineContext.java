package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.data.tokenize.CorpusTokenizer;
import dev.sparkdpo.demo.DemoData;
import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.jobs.JobConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.Set;
import dev.sparkdpo.io.HadoopFiles;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.SparkSession;

/**
 * What every stage of one pipeline run shares: the one SparkSession, the resolved config file (every block), the run
 * root, which stages are forced, and the wiring between stages (where each output lives, which model is the model of
 * reference and train). The run root may be on any Hadoop file system (qualified against the default one); the
 * stages' paths are given to them as {@link StageOutput#show} spells them (local paths without {@code file:}).
 */
public final class PipelineContext {
  private final SparkSession spark;
  private final JobConfig config;
  private final Path root;
  private final Set<String> forced;
  /** Where this context's train and evaluate write: the run root, or {@code <root>/runs/<name>} for a run. */
  private final Path runDir;

  PipelineContext(SparkSession spark, JobConfig config, Path root, Set<String> forced) {
    this(spark, config, root, forced, root);
  }

  private PipelineContext(SparkSession spark, JobConfig config, Path root, Set<String> forced, Path runDir) {
    this.spark = spark;
    this.config = config;
    this.root = root;
    this.forced = forced;
    this.runDir = runDir;
  }

  /** Builds the context of a run: {@code root} the run root (pipeline.output). */
  public static PipelineContext of(SparkSession spark, JobConfig config, String root) {
    return new PipelineContext(spark, config, new Path(HadoopFiles.qualified(root,
        spark.sparkContext().hadoopConfiguration())), Set.of());
  }

  PipelineContext withForced(Set<String> stages) {
    return new PipelineContext(spark, config, root, Set.copyOf(stages), runDir);
  }

  /**
   * The context of one of pipeline.runs: {@code runConfig} (the run's blocks over the pipeline's), train and evaluate
   * writing under {@code <root>/runs/<name>}, every other stage's output the pipeline's own.
   */
  PipelineContext forRun(String name, JobConfig runConfig, boolean force) {
    Set<String> f = force ? Set.of(Pipeline.TRAIN, Pipeline.EVALUATE) : Set.of();
    return new PipelineContext(spark, runConfig, root, f, new Path(new Path(root, Pipeline.RUNS), name));
  }

  /** The directory train and evaluate of this context write under (the run root for the pipeline's own). */
  public Path runDir() {
    return runDir;
  }

  /** A path inside {@link #runDir()}, as the stages are given paths. */
  public String inRunDir(String... parts) {
    Path p = runDir;
    for (String part : parts) p = new Path(p, part);
    return StageOutput.show(p);
  }

  JobConfig config() {
    return config;
  }

  public SparkSession spark() {
    return spark;
  }

  /** The run root (qualified). */
  public Path root() {
    return root;
  }

  /**
   * The output directory of stage {@code name} under the run root, e.g. {@code <root>/ingest}, or a path inside it
   * ({@code dir("train", "model")}); train's and evaluate's under the run directory ({@link #runDir()}).
   */
  public String dir(String name, String... inside) {
    boolean ofRun = name.equals(Pipeline.TRAIN) || name.equals(Pipeline.EVALUATE);
    Path p = new Path(ofRun ? runDir : root, name);
    for (String part : inside) p = new Path(p, part);
    return StageOutput.show(p);
  }

  /** Whether --force asks to rerun this stage (it is at or after --from). */
  public boolean forced(String stage) {
    return forced.contains(stage);
  }

  /** Whether the config file (or command line) has this block or key, e.g. "demo", "sft", "pipeline.model". */
  public boolean given(String path) {
    return config.given(path);
  }

  /** A string of the pipeline block, or null when not given. */
  public String pipelineSetting(String key) {
    return config.block().hasPath(key) ? config.block().getString(key) : null;
  }

  /**
   * Block {@code from} read as command {@code block}'s settings (e.g. sft as train), with the pipeline's wiring:
   * {@code fill} keys only where the block leaves them out (e.g. the demo's tokenizer for ingest), {@code wired} keys
   * whatever the block says (outputs, inputs from earlier stages, force); a path key the pipeline wires must not be
   * set in the block.
   */
  public JobConfig settings(String block, String from, Map<String, Object> fill, Map<String, Object> wired) {
    for (String key : wired.keySet()) {
      if (PATH_KEYS.contains(key) && config.given(from + "." + key)) {
        throw new IllegalArgumentException(from + "." + key + " is set by the pipeline (" + wired.get(key)
            + "): remove it from the config (the pipeline wires the stages' paths under pipeline.output)");
      }
    }
    return config.forStage(block, from, fill, wired);
  }

  /** Keys that name a stage's input or output: a pipeline config must not set them where the pipeline wires them. */
  static final Set<String> PATH_KEYS = Set.of("data", "model", "reference-model", "output");

  // ------------------------------------------------------------------------------------------------ the wiring

  /** The demo's output, when the config has a demo block. */
  public boolean demo() {
    return given("demo");
  }

  public String demoDir() {
    return dir(Pipeline.DEMO);
  }

  public String demoTokenizer() {
    return dir(Pipeline.DEMO, DemoData.TOKENIZER);
  }

  /** The model training starts from: pipeline.model, else the one init-model writes. */
  public String startModel() {
    String given = pipelineSetting("model");
    return given != null ? given : dir(Pipeline.INIT_MODEL);
  }

  /** The model of reference and train: the SFT run's model when the config has an sft block, else the start model. */
  public String referenceModel() {
    return given("sft") ? dir(Pipeline.SFT, "model") : startModel();
  }

  /** The tokenizer ingest uses: ingest.tokenizer, else the tokenizer stage's, else the demo's, else null. */
  public String ingestTokenizer() {
    if (given("ingest.tokenizer")) return config.config().getString("ingest.tokenizer");
    if (given(Pipeline.TOKENIZER)) return dir(Pipeline.TOKENIZER, CorpusTokenizer.TOKENIZER);
    return demo() ? demoTokenizer() : null;
  }

  /** The fingerprint of {@code dir} when it is a complete output (its _SUCCESS written), else null. */
  public String completeFingerprintOf(String dir) {
    try {
      Path p = new Path(dir);
      FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
      return fs.exists(p) && StageOutput.isComplete(fs, p) ? fingerprintOf(dir) : null;
    } catch (IOException e) {
      throw new UncheckedIOException("checking " + dir + ": " + e.getMessage(), e);
    }
  }

  /** The fingerprint in the manifest of {@code dir}, or null. */
  public String fingerprintOf(String dir) {
    try {
      Path p = new Path(dir);
      FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
      if (!fs.exists(p)) return null;
      StageOutput.Manifest m = StageOutput.readManifest(fs, p);
      return m == null ? null : m.fingerprint();
    } catch (IOException e) {
      throw new UncheckedIOException("reading the manifest of " + dir + ": " + e.getMessage(), e);
    }
  }
}
