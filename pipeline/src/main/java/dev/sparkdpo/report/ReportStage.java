package dev.sparkdpo.report;

import dev.sparkdpo.io.HadoopFiles;
import dev.sparkdpo.io.StageOutput;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code spark-dpo report}: a report rebuilt from finished outputs, or several evaluated runs compared on one page,
 * written through {@link StageOutput} (stage {@value #STAGE}): {@code <output>/report.html} and
 * {@code <output>/plots/}. Inputs on a remote file system (hdfs:, s3a:) are read from local copies
 * ({@link HadoopFiles#local}: a few small files, eval.json, samples.jsonl, metrics.jsonl); a remote output is drawn in
 * the output's local staging directory and uploaded at commit ({@link StageOutput#localDir}).
 */
public final class ReportStage {
  private static final Logger LOG = LoggerFactory.getLogger(ReportStage.class);
  public static final String STAGE = "report";
  /** Bump when the page or plots change, so a rerun with the same inputs redraws. */
  static final String VERSION = "report-1";

  private ReportStage() {}

  /** {@code evaluate}: evaluate outputs (may be empty when {@code train} is given); {@code train}: a train output. */
  public record Options(List<String> evaluate, String train, String output, boolean force) {
    public Options {
      evaluate = List.copyOf(evaluate);
      if (evaluate.isEmpty() && train == null) {
        throw new IllegalArgumentException("give --evaluate DIR[,DIR...] (evaluate outputs) and/or --train DIR (a "
            + "train output): a report needs something to show");
      }
      if (output == null || output.isBlank()) throw new IllegalArgumentException("give --output DIR");
    }
  }

  public record Result(boolean skipped, String fingerprint, String output, List<String> plots, double seconds) {}

  public static Result run(Options o, Configuration conf) {
    long t0 = System.nanoTime();
    for (String e : o.evaluate()) StageOutput.requireComplete("--evaluate", e, conf, "evaluate");
    if (o.train() != null) StageOutput.requireComplete("--train", o.train(), conf, "train");
    List<StageOutput.Input> inputs = new ArrayList<>();
    for (String e : o.evaluate()) inputs.add(new StageOutput.Input("--evaluate", e));
    if (o.train() != null) inputs.add(new StageOutput.Input("--train", o.train()));
    try (StageOutput out = StageOutput.open(STAGE, "--output", o.output(), inputs, conf)) {
      List<Path> evalDirs = new ArrayList<>();
      for (String e : o.evaluate()) {
        evalDirs.add(HadoopFiles.local(e, List.of(EvalRun.EVAL_JSON, EvalRun.SAMPLES_JSONL), conf));
      }
      Path metrics = o.train() == null ? null : HadoopFiles.local(o.train(), List.of(METRICS), conf).resolve(METRICS);
      String fingerprint = fingerprint(o, evalDirs, metrics);
      if (!o.force() && fingerprint.equals(out.completeFingerprint())) {
        LOG.info("report: {} is complete with the same inputs; nothing to do (--force redraws)", out.target());
        return new Result(true, fingerprint, out.target().toString(), List.of(), seconds(t0));
      }
      out.begin(fingerprint);
      Report.Result r = Report.write(out.localDir(), metrics, evalDirs, new Report.Shown(
          o.train() == null ? null : new org.apache.hadoop.fs.Path(o.train(), METRICS).toString(), o.evaluate()));
      out.commit();
      List<String> plots = r.plots().stream().map(p -> Report.PLOTS + "/" + p.getFileName()).toList();
      return new Result(false, fingerprint, out.target().toString(), plots, seconds(t0));
    } catch (IOException e) {
      throw new UncheckedIOException("writing the report to --output " + o.output() + ": " + e.getMessage(), e);
    }
  }

  /** The train stage's metrics file (TrainOptions' output layout). */
  static final String METRICS = "metrics.jsonl";

  /**
   * The inputs as given (the page names them), their bytes (a few MB at most: hashing costs milliseconds) in their
   * order, and the report's version.
   */
  private static String fingerprint(Options o, List<Path> evalDirs, Path metrics) throws IOException {
    StringBuilder b = new StringBuilder(VERSION).append('\n').append(o.evaluate()).append(' ').append(o.train())
        .append('\n');
    for (Path d : evalDirs) {
      for (String f : List.of(EvalRun.EVAL_JSON, EvalRun.SAMPLES_JSONL)) b.append(f).append(' ')
          .append(hash(d.resolve(f))).append('\n');
    }
    if (metrics != null) b.append("metrics ").append(hash(metrics)).append('\n');
    return StageOutput.sha256(b.toString());
  }

  private static String hash(Path file) throws IOException {
    if (!Files.isRegularFile(file)) return "absent";
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
          .digest(Files.readAllBytes(file)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static double seconds(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }
}
