package dev.sparkdpo.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.jfree.chart.JFreeChart;
import org.jfree.data.xy.XYDataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReportTest {
  @TempDir Path tmp;

  @Test
  void oneRunWithTrainingWritesEveryPlotAndAPageThatShowsThem() throws Exception {
    Path metrics = tmp.resolve("metrics.jsonl");
    ReportFixtures.writeMetrics(metrics, 200, 25, 1);
    Path eval = ReportFixtures.writeEvaluate(tmp.resolve("eval"), "beta-0.1", 0.1, 1.0, 4.0, 40, 4, 2);
    Path out = tmp.resolve("out");

    Report.Result r = Report.write(out, metrics, List.of(eval));

    List<String> names = r.plots().stream().map(p -> p.getFileName().toString()).toList();
    assertEquals(List.of("loss.png", "reward_accuracy.png", "reward_margins.png", "rewards_chosen_rejected.png",
        "learning_rate.png", "reward_vs_kl.png", "reward_distribution.png"), names);
    for (Path png : r.plots()) assertRealChart(png);
    String html = Files.readString(r.html());
    assertBalanced(html);
    for (String name : names) assertTrue(html.contains("src=\"plots/" + name + "\""), name + " is not in the page");
    // every image the page names exists beside it
    Matcher img = Pattern.compile("<img src=\"([^\"]+)\"").matcher(html);
    int images = 0;
    while (img.find()) {
      assertTrue(Files.isRegularFile(out.resolve(img.group(1))), img.group(1));
      images++;
    }
    assertEquals(names.size(), images);
    // 10 prompts side by side (+ the header row), one sample each
    String samples = html.substring(html.indexOf("<table class=\"samples\">"));
    samples = samples.substring(0, samples.indexOf("</table>"));
    assertEquals(11, count(samples, "<tr>"));
    for (int p = 0; p < 10; p++) assertTrue(samples.contains("(policy " + p + "/0)"), "prompt " + p);
    assertFalse(samples.contains("p10"), "more than 10 prompts shown");
    // model output and prompts are text, never markup
    assertFalse(html.contains("<script"), "a completion's <script> reached the page unescaped");
    assertTrue(html.contains("&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
    assertTrue(html.contains("&lt;b&gt;members&lt;/b&gt;"));
    assertTrue(html.contains("burden &amp; a warning"));
    // the headline numbers as eval.json has them
    EvalRun run = EvalRun.read(eval);
    assertTrue(html.contains(ReportHtml.pct(run.winRate())));
    assertTrue(html.contains(ReportHtml.fmt(run.klMean(), 3) + " ± " + ReportHtml.fmt(run.klStd(), 3)));
    assertTrue(html.contains(ReportHtml.pct(run.policyPreference().accuracy())));
  }

  @Test
  void withoutMetricsTheCurvesSectionSaysSo() throws Exception {
    Path eval = ReportFixtures.writeEvaluate(tmp.resolve("eval"), "run", 0.1, 0.5, 2.0, 12, 2, 3);

    Report.Result none = Report.write(tmp.resolve("a"), null, List.of(eval));
    String html = Files.readString(none.html());
    assertTrue(html.contains("No training metrics given"), html);
    assertFalse(Files.exists(tmp.resolve("a/plots/loss.png")));
    assertEquals(List.of("reward_vs_kl.png", "reward_distribution.png"),
        none.plots().stream().map(p -> p.getFileName().toString()).toList());
    assertBalanced(html);

    Path missing = tmp.resolve("train/metrics.jsonl");
    html = Files.readString(Report.write(tmp.resolve("b"), missing, List.of(eval)).html());
    assertTrue(html.contains("<code>" + missing + "</code> does not exist"), html);

    Path empty = tmp.resolve("metrics.jsonl");
    Files.writeString(empty, "{\"step\":0,\"epoch\":0.0,\"eval_loss\":0.693}\n{\"step\":1,\"lo"); // killed in round 1
    Report.Result r = Report.write(tmp.resolve("c"), empty, List.of(eval));
    html = Files.readString(r.html());
    assertTrue(html.contains("holds no step's metrics yet"), html);
    assertFalse(Files.exists(tmp.resolve("c/plots/loss.png")));
  }

  @Test
  void sftMetricsDrawOnlyTheirCurvesAndADivergedStepIsLeftOut() throws Exception {
    // train --objective sft logs loss (+ eval_loss, eval_perplexity); Jackson writes a NaN loss as "NaN", Python as NaN
    Path metrics = tmp.resolve("metrics.jsonl");
    StringBuilder b = new StringBuilder("{\"step\":0,\"epoch\":0.0,\"eval_loss\":5.5,\"eval_perplexity\":244.7}\n");
    for (int s = 1; s <= 20; s++) {
      String loss = s == 7 ? "\"NaN\"" : s == 8 ? "NaN" : Double.toString(5.5 - 0.1 * s);
      b.append("{\"step\":").append(s).append(",\"epoch\":0.1,\"loss\":").append(loss)
          .append(",\"learning_rate\":1e-4,\"grad_norm\":1.0}\n");
    }
    Files.writeString(metrics, b);
    TrainingCurves c = TrainingCurves.read(metrics);
    assertEquals(18, c.train("loss").size());
    assertEquals(0, c.train("rewards/accuracies").size());
    Report.Result r = Report.write(tmp.resolve("out"), metrics, List.of());
    assertEquals(List.of("loss.png", "learning_rate.png"),
        r.plots().stream().map(p -> p.getFileName().toString()).toList());
    for (Path png : r.plots()) assertRealChart(png);
    String html = Files.readString(r.html());
    assertBalanced(html);
    assertTrue(html.contains("No evaluate output given"), html);
  }

  @Test
  void severalRunsAreComparedOnOnePage() throws Exception {
    Path a = ReportFixtures.writeEvaluate(tmp.resolve("b0.5"), "beta-0.5", 0.5, 0.3, 1.0, 10, 2, 4);
    Path b = ReportFixtures.writeEvaluate(tmp.resolve("b0.1"), "beta-0.1", 0.1, 1.0, 4.0, 10, 2, 5);
    Path c = ReportFixtures.writeEvaluate(tmp.resolve("b0.05"), "beta-0.05", 0.05, 1.4, 9.0, 10, 2, 6);

    Report.Result r = Report.write(tmp.resolve("out"), null, List.of(a, b, c));

    assertEquals(List.of("reward_vs_kl.png", "reward_distribution_1.png", "reward_distribution_2.png",
        "reward_distribution_3.png"), r.plots().stream().map(p -> p.getFileName().toString()).toList());
    for (Path png : r.plots()) assertRealChart(png);
    String html = Files.readString(r.html());
    assertBalanced(html);
    String summary = html.substring(html.indexOf("<table class=\"summary\">"));
    summary = summary.substring(0, summary.indexOf("</table>"));
    assertEquals(4, count(summary, "<tr>"));
    for (String label : List.of("beta-0.5", "beta-0.1", "beta-0.05")) {
      assertTrue(summary.contains("<td>" + label + "</td>"), label);
      assertTrue(html.contains("<h2>Samples: " + label + "</h2>"), label);
    }
  }

  @Test
  void aConstantSeriesGetsARangeFromZero() {
    // a real run's constant learning rate: JFreeChart's own auto range would be ~1e-8 wide
    JFreeChart chart = Plots.lines("Learning rate", "step", "lr", List.of(new Plots.Line("lr",
        List.of(new double[] {1, 1e-2}, new double[] {2, 1e-2}, new double[] {3, 1e-2}), Plots.BLUE,
        Plots.Style.LINE)));
    var y = chart.getXYPlot().getRangeAxis().getRange();
    assertEquals(0.0, y.getLowerBound());
    assertEquals(1.25e-2, y.getUpperBound(), 1e-12);
    // a varying series keeps the auto range
    chart = Plots.lines("Loss", "step", "loss", List.of(new Plots.Line("loss",
        List.of(new double[] {1, 0.7}, new double[] {2, 0.5}), Plots.BLUE, Plots.Style.LINE)));
    y = chart.getXYPlot().getRangeAxis().getRange();
    assertTrue(y.getLowerBound() > 0.4 && y.getUpperBound() < 0.8, y.toString());
  }

  @Test
  void rewardVsKlPutsTheReferenceAtZeroAndJoinsRunsInKlOrder() {
    JFreeChart chart = Plots.rewardVsKl(new Plots.Point("reference", 0, 0.1), List.of(
        new Plots.Point("b", 9, 1.4), new Plots.Point("a", 1, 0.3), new Plots.Point("c", 4, 1.0)));
    XYDataset d = chart.getXYPlot().getDataset();
    assertEquals(2, d.getSeriesCount());
    // the frontier: from the reference, then the runs by KL
    assertEquals(4, d.getItemCount(0));
    assertEquals(List.of(0.0, 1.0, 4.0, 9.0), List.of(d.getXValue(0, 0), d.getXValue(0, 1), d.getXValue(0, 2),
        d.getXValue(0, 3)));
    assertEquals(List.of(0.1, 0.3, 1.0, 1.4), List.of(d.getYValue(0, 0), d.getYValue(0, 1), d.getYValue(0, 2),
        d.getYValue(0, 3)));
    assertEquals(0.0, d.getXValue(1, 0));
    assertEquals(0.1, d.getYValue(1, 0));
    // labels follow the sorted points
    var gen = chart.getXYPlot().getRenderer().getDefaultItemLabelGenerator();
    assertEquals(null, gen.generateLabel(d, 0, 0));
    assertEquals("a", gen.generateLabel(d, 0, 1));
    assertEquals("b", gen.generateLabel(d, 0, 3));
    // the reference and every run inside the x range, the reference off the axis line
    var x = chart.getXYPlot().getDomainAxis().getRange();
    assertTrue(x.getLowerBound() < 0 && x.getUpperBound() > 9, x.toString());
    assertEquals("reference", gen.generateLabel(d, 1, 0));
  }

  @Test
  void curvesSplitTrainFromEvalAndSmoothWithATrailingMean() throws Exception {
    Path metrics = tmp.resolve("metrics.jsonl");
    ReportFixtures.writeMetrics(metrics, 40, 10, 9);
    TrainingCurves c = TrainingCurves.read(metrics);
    assertEquals(40, c.train("loss").size());
    assertEquals(5, c.eval("loss").size()); // steps 0, 10, 20, 30, 40
    assertEquals(0.0, c.eval("loss").points().get(0)[0]);
    assertEquals(0, c.train("eval_loss").size());
    assertTrue(c.hasSteps());
    // the mean margin at step 0 is 0: the first eval's loss is log 2 up to the pairs' scatter
    List<double[]> ma = Report.movingAverage(List.of(new double[] {1, 2}, new double[] {2, 4}, new double[] {3, 9},
        new double[] {4, 1}), 3);
    assertEquals(List.of(2.0, 3.0, 5.0, 14.0 / 3), ma.stream().map(p -> p[1]).toList());
    assertEquals(List.of(1.0, 2.0, 3.0, 4.0), ma.stream().map(p -> p[0]).toList());
    assertEquals(1, Report.smoothingWindow(29));
    assertEquals(5, Report.smoothingWindow(30));
    assertEquals(40, Report.smoothingWindow(1000));
    Plots.Sci sci = new Plots.Sci();
    assertEquals(List.of("5e-7", "2.5e-7", "0", "1e-3"),
        List.of(sci.format(5e-7), sci.format(2.5e-7), sci.format(0.0), sci.format(0.001)));
  }

  @Test
  void aMissingFieldNamesTheFileAndTheField() throws Exception {
    Path eval = ReportFixtures.writeEvaluate(tmp.resolve("eval"), "run", 0.1, 0.5, 2.0, 3, 1, 3);
    Path file = eval.resolve("eval.json");
    Files.writeString(file, Files.readString(file).replace("\"kl_mean\"", "\"kl\""));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Report.write(tmp.resolve("out"), null, List.of(eval)));
    assertTrue(e.getMessage().startsWith(file + ": field kl_mean is missing"), e.getMessage());

    IllegalArgumentException none = assertThrows(IllegalArgumentException.class,
        () -> Report.write(tmp.resolve("out"), null, List.of(tmp.resolve("nowhere"))));
    assertTrue(none.getMessage().contains("eval.json does not exist"), none.getMessage());
  }

  // ------------------------------------------------------------------------------------------------ checks

  /** Decodes, has the chart size, and is a drawing: many colors, and a real share of non-white pixels. */
  static void assertRealChart(Path png) throws Exception {
    BufferedImage img = ImageIO.read(png.toFile());
    assertTrue(img != null, png + " does not decode as an image");
    assertEquals(Plots.WIDTH, img.getWidth(), png.toString());
    assertEquals(Plots.HEIGHT, img.getHeight(), png.toString());
    Set<Integer> colors = new HashSet<>();
    long inked = 0;
    for (int y = 0; y < img.getHeight(); y++) {
      for (int x = 0; x < img.getWidth(); x++) {
        int rgb = img.getRGB(x, y) & 0xffffff;
        colors.add(rgb);
        if (rgb != 0xffffff) inked++;
      }
    }
    double share = inked / (double) (img.getWidth() * img.getHeight());
    assertTrue(colors.size() > 20, png + ": only " + colors.size() + " colors");
    assertTrue(share > 0.02 && share < 0.9, png + ": " + share + " of the pixels are not white");
  }

  private static final Set<String> VOID = Set.of("meta", "img", "br", "col", "link", "hr", "input");

  /** Every opened tag is closed in order (void elements excepted), and there is one html element. */
  static void assertBalanced(String html) {
    Matcher m = Pattern.compile("<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*>").matcher(html);
    Deque<String> open = new ArrayDeque<>();
    while (m.find()) {
      String tag = m.group(2).toLowerCase();
      if (VOID.contains(tag)) continue;
      if (m.group(1).isEmpty()) open.push(tag);
      else {
        assertFalse(open.isEmpty(), "</" + tag + "> closes nothing");
        assertEquals(open.pop(), tag, "tags out of order near offset " + m.start());
      }
    }
    assertTrue(open.isEmpty(), "unclosed: " + open);
    assertEquals(1, count(html, "<html"));
    assertTrue(html.startsWith("<!DOCTYPE html>"));
  }

  static int count(String s, String sub) {
    int n = 0;
    for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) n++;
    return n;
  }
}
