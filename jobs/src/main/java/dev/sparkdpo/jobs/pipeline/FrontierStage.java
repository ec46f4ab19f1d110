package dev.sparkdpo.jobs.pipeline;

import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.report.Frontier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The reward/KL frontier of the pipeline's policy, its runs and their checkpoints into {@code <root>/frontier}:
 * results.json (every point: run, beta or N, step, KL, reward, distinct-n, repetition) and frontier.png. See
 * {@link Frontier}.
 */
final class FrontierStage implements PipelineStage {
  private static final Logger LOG = LoggerFactory.getLogger(FrontierStage.class);
  static final String RESULTS = "results.json";
  static final String PNG = "frontier.png";

  @Override
  public String name() {
    return Pipeline.FRONTIER;
  }

  @Override
  public boolean enabled(PipelineContext c) {
    return Runs.of(c).any();
  }

  @Override
  public StageResult run(PipelineContext c) throws Exception {
    Runs runs = Runs.of(c);
    List<Frontier.Policy> policies = new ArrayList<>(policies(c, c.runDir().getName(),
        runs.checkpointEvals()));
    List<Frontier.BestOf> bestOfs = new ArrayList<>();
    for (Runs.Run run : runs.runs()) {
      PipelineContext rc = c.forRun(run.name(), Runs.config(c, run), false);
      if (run.bestOf() > 0) {
        bestOfs.add(new Frontier.BestOf(run.name(), run.bestOf(), Runs.local(rc.dir(Pipeline.EVALUATE))));
      } else {
        policies.addAll(policies(rc, run.name(), runs.checkpointEvals()));
      }
    }
    Configuration conf = c.spark().sparkContext().hadoopConfiguration();
    List<StageOutput.Input> inputs = new ArrayList<>();
    StringBuilder fp = new StringBuilder("frontier/1");
    for (Frontier.Policy p : policies) {
      inputs.add(new StageOutput.Input("evaluate", p.evaluate().toString()));
      fp.append(' ').append(p.run()).append('@').append(p.step()).append('=').append(c.fingerprintOf(p.evaluate().toString()));
    }
    for (Frontier.BestOf b : bestOfs) {
      fp.append(' ').append(b.run()).append('=').append(c.fingerprintOf(b.evaluate().toString()));
    }
    String fingerprint = StageOutput.sha256(fp.toString());
    try (StageOutput out = StageOutput.open(Pipeline.FRONTIER, "pipeline.output", c.dir(name()), inputs, conf)) {
      if (!c.forced(name()) && fingerprint.equals(out.completeFingerprint())) {
        LOG.info("pipeline: frontier {} is up to date", out.target());
        return StageResult.of(true, c.dir(name()), fingerprint);
      }
      List<Frontier.Point> points = Frontier.points(policies, bestOfs);
      out.begin(fingerprint);
      out.writeText(RESULTS, Frontier.resultsJson(points));
      Path png = Files.createTempFile("frontier-", ".png");
      try {
        Frontier.writePng(points, png);
        out.fileSystem().copyFromLocalFile(true, true, new org.apache.hadoop.fs.Path(png.toUri()),
            new org.apache.hadoop.fs.Path(out.path(PNG)));
      } finally {
        Files.deleteIfExists(png);
      }
      out.commit();
      for (Frontier.Point p : points) {
        LOG.info("frontier: {}{} KL {} reward {} distinct-2 {}", p.run(), p.step() == null ? "" : "@" + p.step(),
            String.format("%.3f", p.kl()), String.format("%.3f", p.reward()), String.format("%.3f", p.distinct2()));
      }
      return StageResult.of(false, c.dir(name()), fingerprint);
    }
  }

  /** A trained run's evaluated policies: its checkpoints (with checkpoint-evals) and its final model. */
  private static List<Frontier.Policy> policies(PipelineContext rc, String run, boolean checkpoints) {
    var train = rc.settings("train", "train", Map.of(), Map.of()).block();
    String kind = train.getString("objective").toLowerCase(java.util.Locale.ROOT);
    Double beta = kind.equals("dpo") ? train.getDouble("beta") : null;
    List<Frontier.Policy> out = new ArrayList<>();
    long last = RunsStage.finalStep(rc.dir(Pipeline.TRAIN));
    if (checkpoints) {
      for (Long step : Runs.checkpoints(rc.dir(Pipeline.TRAIN)).keySet()) {
        if (step == last) continue;
        out.add(new Frontier.Policy(run, kind, beta, step,
            Runs.local(rc.inRunDir(Runs.EVALUATE_STEPS, "step-" + step))));
      }
    }
    out.add(new Frontier.Policy(run, kind, beta, last < 0 ? null : last, Runs.local(rc.dir(Pipeline.EVALUATE))));
    return out;
  }
}
