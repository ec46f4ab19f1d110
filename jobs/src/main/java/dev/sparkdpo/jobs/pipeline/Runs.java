package dev.sparkdpo.jobs.pipeline;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigObject;
import com.typesafe.config.ConfigValueFactory;
import dev.sparkdpo.jobs.JobConfig;
import dev.sparkdpo.jobs.TrainCommand;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.train.Checkpoints;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * pipeline.runs: more policies from the pipeline's pairs and reference model, each a block list entry
 * {@code { name = ..., train { ... }, evaluate { ... } }} (train's and evaluate's keys over the pipeline's blocks) or
 * {@code { name = ..., best-of = N }} (no training: N reference samples per draw, the best by reward). A run writes
 * under {@code <root>/runs/<name>/}; with pipeline.checkpoint-evals, every checkpoint of a trained run (and of the
 * pipeline's own train) is evaluated too, into {@code <run dir>/evaluate-steps/step-K}.
 */
record Runs(List<Run> runs, boolean checkpointEvals) {
  static final String EVALUATE_STEPS = "evaluate-steps";
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9_-]*");
  private static final Pattern STEP = Pattern.compile("step-(\\d+)");
  private static final Set<String> KEYS = Set.of("name", "train", "evaluate", "best-of");

  /** One run: its name, its train and evaluate blocks (null: the pipeline's), or best-of N (0: a trained run). */
  record Run(String name, ConfigObject train, ConfigObject evaluate, int bestOf, String where) {}

  static Runs of(PipelineContext c) {
    Config pipeline = c.config().config().getConfig("pipeline");
    List<Run> runs = new ArrayList<>();
    Set<String> names = new LinkedHashSet<>();
    List<? extends ConfigObject> list = pipeline.getObjectList("runs");
    for (int i = 0; i < list.size(); i++) {
      String where = "pipeline.runs[" + i + "]";
      Config r = list.get(i).toConfig();
      for (String key : list.get(i).keySet()) {
        if (!KEYS.contains(key)) {
          throw new IllegalArgumentException(where + ": unknown key " + key + "; a run has " + String.join(", ",
              KEYS.stream().sorted().toList()) + ", e.g. { name = dpo-beta-0-5, train { beta = 0.5 } }");
        }
      }
      if (!r.hasPath("name") || !NAME.matcher(r.getString("name")).matches()) {
        throw new IllegalArgumentException(where + ".name: give each run a name of letters, digits, - and _ (its"
            + " directory under <pipeline.output>/runs/), e.g. name = dpo-beta-0-5");
      }
      String name = r.getString("name");
      if (!names.add(name)) throw new IllegalArgumentException(where + ".name: " + name + " is used twice");
      int bestOf = r.hasPath("best-of") ? r.getInt("best-of") : 0;
      if (r.hasPath("best-of") && (bestOf < 1 || r.hasPath("train"))) {
        throw new IllegalArgumentException(where + ".best-of: a Best-of-N run is N >= 1 reference samples per draw,"
            + " without a train block; got best-of = " + r.getValue("best-of").render());
      }
      Run run = new Run(name, r.hasPath("train") ? r.getObject("train") : null,
          r.hasPath("evaluate") ? r.getObject("evaluate") : null, bestOf, where);
      config(c, run); // its blocks' keys and types are checked now, before the pipeline's first stage runs
      runs.add(run);
    }
    return new Runs(List.copyOf(runs), pipeline.getBoolean("checkpoint-evals"));
  }

  boolean any() {
    return !runs.isEmpty() || checkpointEvals;
  }

  /** The run's settings: its blocks over the pipeline's (a Best-of-N run: evaluate's samples-per-prompt x N). */
  static JobConfig config(PipelineContext c, Run run) {
    JobConfig config = c.config();
    if (run.train() != null) {
      // a Preferred-FT run (objective sft) under a DPO pipeline: the pipeline's DPO loss settings are not its own
      boolean sft = run.train().toConfig().hasPath("objective")
          && run.train().toConfig().getString("objective").strip().equalsIgnoreCase("sft");
      config = config.overriding("train", run.train(), run.where() + ".train",
          sft ? TrainCommand.DPO_ONLY_KEYS : List.of());
    }
    if (run.evaluate() != null) config = config.overriding("evaluate", run.evaluate(), run.where() + ".evaluate");
    if (run.bestOf() > 0) {
      int k = config.config().getInt("evaluate.samples-per-prompt");
      config = config.overriding("evaluate", ConfigFactory.empty()
          .withValue("samples-per-prompt", ConfigValueFactory.fromAnyRef(k * run.bestOf())).root(),
          run.where() + ".evaluate");
    }
    return config;
  }

  /**
   * {@code dir} (as the stages are given paths) as a local path: the frontier and the checkpoint listing read local
   * outputs only (a run root on HDFS has no frontier yet: say so rather than fail obscurely).
   */
  static Path local(String dir) {
    java.net.URI uri = new org.apache.hadoop.fs.Path(dir).toUri();
    if (uri.getScheme() != null && !uri.getScheme().equals("file")) {
      throw new IllegalArgumentException("pipeline.runs and checkpoint-evals need a local pipeline.output for now ("
          + dir + " is on " + uri.getScheme() + ":); run the sweep with a local run root");
    }
    return Path.of(uri.getPath());
  }

  /**
   * A train output's checkpoints by step (none: empty): full ones (model files) and LoRA ones (adapter/, evaluated
   * as their base with the adapters merged, see RunsStage#evaluateCheckpoints).
   */
  static Map<Long, Path> checkpoints(String train) {
    Map<Long, Path> steps = new TreeMap<>();
    Path dir = local(train).resolve("checkpoints");
    if (!Files.isDirectory(dir)) return steps;
    try (Stream<Path> s = Files.list(dir)) {
      s.forEach(p -> {
        Matcher m = STEP.matcher(p.getFileName().toString());
        if (m.matches() && (Files.isRegularFile(p.resolve(GptCheckpoint.WEIGHTS)) || Checkpoints.holdsAdapters(p))) {
          steps.put(Long.parseLong(m.group(1)), p);
        }
      });
    } catch (IOException e) {
      throw new UncheckedIOException("listing " + dir + ": " + e.getMessage(), e);
    }
    return steps;
  }
}
