package dev.sparkdpo.report;

import dev.sparkdpo.report.Plots.Line;
import dev.sparkdpo.report.Plots.Style;
import java.awt.Color;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The report of a run: {@code report.html} (plain HTML + CSS, no script; the plots beside it in {@code plots/})
 * showing the training curves of {@code metrics.jsonl}, and for each evaluated run its headline numbers, its reward
 * distribution (policy vs reference samples), reward against KL across runs, and prompts with both models'
 * completions side by side.
 *
 * <p>Called by the evaluate stage at the end of its run (into its output) and by {@code spark-dpo report} (to
 * rebuild a report or compare runs). Drawing is cheap next to evaluating: 9 charts at 800x450 and the page took 4.2 s
 * (measured through bin/spark-dpo report on the shared 2-core dev box, AWT and font start-up included).
 */
public final class Report {
  private static final Logger LOG = LoggerFactory.getLogger(Report.class);
  public static final String HTML = "report.html";
  public static final String PLOTS = "plots";
  /** Prompts shown side by side per run. */
  static final int SAMPLE_ROWS = 10;
  /** Bins of the reward histograms (of the range of both models' rewards). */
  static final int BINS = 30;

  private Report() {}

  /** What was written: the HTML file and each plot (file name, caption), in page order. */
  public record Result(Path html, List<Path> plots) {}

  /** A plot placed in the page: its path relative to report.html, and its caption. */
  record Figure(String src, String caption) {}

  /**
   * Writes {@code outputDir/report.html} and {@code outputDir/plots/*.png}.
   *
   * @param trainMetricsJsonl the train stage's metrics.jsonl, or null when there is none (the curves section says so)
   * @param evaluateDirs directories holding eval.json and samples.jsonl (may be empty)
   */
  public static Result write(Path outputDir, Path trainMetricsJsonl, List<Path> evaluateDirs) {
    return write(outputDir, trainMetricsJsonl, evaluateDirs, new Shown(
        trainMetricsJsonl == null ? null : trainMetricsJsonl.toString(),
        evaluateDirs.stream().map(Path::toString).toList()));
  }

  /** The inputs as the page names them (spark-dpo report: as given, e.g. hdfs:/..., not the local copies read). */
  public record Shown(String metrics, List<String> evaluate) {}

  public static Result write(Path outputDir, Path trainMetricsJsonl, List<Path> evaluateDirs, Shown shown) {
    long t0 = System.nanoTime();
    List<EvalRun> runs = new ArrayList<>();
    for (Path dir : evaluateDirs) runs.add(EvalRun.read(dir));
    TrainingCurves curves = trainMetricsJsonl != null && Files.isRegularFile(trainMetricsJsonl)
        ? TrainingCurves.read(trainMetricsJsonl) : null;
    Path plotsDir = outputDir.resolve(PLOTS);
    try {
      Files.createDirectories(plotsDir);
    } catch (IOException e) {
      throw new UncheckedIOException("creating " + plotsDir + ": " + e.getMessage(), e);
    }
    List<Path> written = new ArrayList<>();
    Map<String, List<Figure>> figures = new LinkedHashMap<>();
    // an eval-only file (a run killed in its first round) has no curve to draw: the page says so
    figures.put("curves", curves == null || !curves.hasSteps() ? List.of() : trainingPlots(curves, plotsDir, written));
    figures.put("frontier", runs.isEmpty() ? List.of() : List.of(rewardVsKlPlot(runs, plotsDir, written)));
    figures.put("distributions", distributionPlots(runs, plotsDir, written));
    String html = new ReportHtml(shown, curves, runs, figures.get("curves"), figures.get("frontier"),
        figures.get("distributions")).render();
    Path htmlFile = outputDir.resolve(HTML);
    try {
      Files.writeString(htmlFile, html, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + htmlFile + ": " + e.getMessage(), e);
    }
    LOG.info("report: {} plots and {} drawn in {} s", written.size(), HTML,
        String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9));
    return new Result(htmlFile, List.copyOf(written));
  }

  // ------------------------------------------------------------------------------------------------ training curves

  private static List<Figure> trainingPlots(TrainingCurves c, Path dir, List<Path> written) {
    List<Figure> out = new ArrayList<>();
    plot(out, dir, written, "loss.png", "Loss per step (train) and on the held-out pairs (eval)",
        Plots.lines("Loss", "step", "loss", trainAndEval(c, "loss", "", Plots.BLUE, Plots.ORANGE)), false);
    plot(out, dir, written, "reward_accuracy.png",
        "Reward accuracy: share of pairs whose implicit reward ranks chosen above rejected",
        Plots.lines("Reward accuracy", "step", "accuracy",
            trainAndEval(c, "rewards/accuracies", "", Plots.BLUE, Plots.ORANGE)), true);
    plot(out, dir, written, "reward_margins.png",
        "Reward margin: β·(log-ratio of chosen − log-ratio of rejected), mean over pairs",
        Plots.lines("Reward margin", "step", "margin (chosen − rejected)",
            trainAndEval(c, "rewards/margins", "", Plots.BLUE, Plots.ORANGE)), false);
    List<Line> cr = new ArrayList<>();
    cr.addAll(trainAndEval(c, "rewards/chosen", "chosen, ", Plots.GREEN, Plots.GREEN.darker()));
    cr.addAll(trainAndEval(c, "rewards/rejected", "rejected, ", Plots.RED, Plots.RED.darker()));
    plot(out, dir, written, "rewards_chosen_rejected.png",
        "Implicit rewards β·log(π/π_ref) of the chosen and the rejected responses",
        Plots.lines("Chosen and rejected rewards", "step", "reward", cr), false);
    plot(out, dir, written, "learning_rate.png", "Learning rate (warmup and decay schedule)",
        Plots.lines("Learning rate", "step", "learning rate",
            List.of(new Line("learning rate", c.train("learning_rate").points(), Plots.BLUE, Style.LINE))), false);
    return out;
  }

  /**
   * A metric's train series (noisy, one minibatch a step: drawn faint under its moving average once there are
   * enough steps to smooth) and its eval series (a point every eval-steps, with markers).
   */
  static List<Line> trainAndEval(TrainingCurves c, String key, String name, Color train, Color eval) {
    List<Line> lines = new ArrayList<>();
    List<double[]> t = c.train(key).points();
    int window = smoothingWindow(t.size());
    if (window > 1) {
      lines.add(new Line(name + "train (per step)", t, train, Style.FAINT_LINE));
      lines.add(new Line(name + "train (mean of " + window + " steps)", movingAverage(t, window), train, Style.LINE));
    } else {
      lines.add(new Line(name + "train", t, train, Style.LINE));
    }
    lines.add(new Line(name + "eval", c.eval(key).points(), eval, Style.LINE_MARKERS));
    return lines;
  }

  /** No smoothing below 30 steps; then a window of ~1/25 of the run (5 at least): curves keep their shape. */
  static int smoothingWindow(int n) {
    return n < 30 ? 1 : Math.max(5, n / 25);
  }

  /** Trailing mean of the last {@code window} points (fewer at the start), at each point's x. */
  static List<double[]> movingAverage(List<double[]> points, int window) {
    List<double[]> out = new ArrayList<>(points.size());
    double sum = 0;
    for (int i = 0; i < points.size(); i++) {
      sum += points.get(i)[1];
      if (i >= window) sum -= points.get(i - window)[1];
      out.add(new double[] {points.get(i)[0], sum / Math.min(i + 1, window)});
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------ evaluation

  private static Figure rewardVsKlPlot(List<EvalRun> runs, Path dir, List<Path> written) {
    // the reference's mean reward: the same model on the same prompts in every run, so the runs' values agree up to
    // sampling noise (different seeds): their mean
    double ref = runs.stream().mapToDouble(r -> r.reference().rewardMean()).average().orElse(0);
    List<Plots.Point> points = runs.stream()
        .map(r -> new Plots.Point(r.label(), r.klMean(), r.policy().rewardMean())).toList();
    List<Figure> out = new ArrayList<>();
    plot(out, dir, written, "reward_vs_kl.png",
        "Mean sample reward against KL(policy ‖ reference) = mean of log π(y) − log π_ref(y) over policy samples; "
            + "the reference is at KL 0",
        Plots.rewardVsKl(new Plots.Point("reference", 0, ref), points), false);
    return out.get(0);
  }

  private static List<Figure> distributionPlots(List<EvalRun> runs, Path dir, List<Path> written) {
    List<Figure> out = new ArrayList<>();
    for (int i = 0; i < runs.size(); i++) {
      EvalRun r = runs.get(i);
      double[] policy = r.sampleRows().stream().mapToDouble(s -> s.policy().reward()).filter(Double::isFinite)
          .toArray();
      double[] reference = r.sampleRows().stream().mapToDouble(s -> s.reference().reward())
          .filter(Double::isFinite).toArray();
      if (policy.length + reference.length == 0) continue;
      String file = runs.size() == 1 ? "reward_distribution.png" : "reward_distribution_" + (i + 1) + ".png";
      plot(out, dir, written, file, "Rewards of " + policy.length + " policy and " + reference.length
          + " reference samples (" + r.label() + ")",
          Plots.histogram("Reward distribution: " + r.label(), "reward", "policy", policy, Plots.BLUE, "reference",
              reference, Plots.GREY, BINS), false);
    }
    return out;
  }

  private static void plot(List<Figure> out, Path dir, List<Path> written, String file, String caption,
      JFreeChart chart, boolean unitRange) {
    if (chart.getXYPlot().getDataset().getSeriesCount() == 0) return; // nothing logged under these keys
    if (unitRange) ((NumberAxis) chart.getXYPlot().getRangeAxis()).setRange(-0.02, 1.02);
    Path png = dir.resolve(file);
    Plots.writePng(chart, png);
    written.add(png);
    out.add(new Figure(PLOTS + "/" + file, caption));
  }
}
