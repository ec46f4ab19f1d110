package dev.sparkdpo.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Shape;
import java.awt.geom.Ellipse2D;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.labels.ItemLabelAnchor;
import org.jfree.chart.labels.ItemLabelPosition;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.StandardXYBarPainter;
import org.jfree.chart.renderer.xy.XYBarRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.title.LegendTitle;
import org.jfree.chart.ui.RectangleEdge;
import org.jfree.chart.ui.RectangleInsets;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.statistics.HistogramDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The report's charts, drawn by JFreeChart into PNGs (headless AWT: no display needed). One look for all: white
 * background, light grid, DejaVu Sans (the font every JRE image here has), a color per role that stays the same
 * across charts (train blue, eval orange; chosen green, rejected red; policy blue, reference grey).
 */
final class Plots {
  static {
    // before any AWT class loads: a Spark driver or a CI box has no display
    System.setProperty("java.awt.headless", "true");
  }

  static final int WIDTH = 800;
  static final int HEIGHT = 450;

  static final Color BLUE = new Color(0x1f77b4);
  static final Color ORANGE = new Color(0xff7f0e);
  static final Color GREEN = new Color(0x2ca02c);
  static final Color RED = new Color(0xd62728);
  static final Color GREY = new Color(0x7f7f7f);
  static final Color GRID = new Color(0xdddddd);
  private static final String FONT = "DejaVu Sans";

  private Plots() {}

  /** How a series is drawn: a thin line, a line with markers (sparse points such as evals), or markers only. */
  enum Style { LINE, LINE_MARKERS, MARKERS, FAINT_LINE }

  /** A named series of (x, y) points with its color and style. */
  record Line(String name, List<double[]> points, Color color, Style style) {}

  /** A line chart of {@code lines} against a shared x axis; series with no points are left out (and their legend). */
  static JFreeChart lines(String title, String xLabel, String yLabel, List<Line> lines) {
    XYSeriesCollection data = new XYSeriesCollection();
    XYLineAndShapeRenderer r = new XYLineAndShapeRenderer();
    int i = 0;
    for (Line l : lines) {
      if (l.points().isEmpty()) continue;
      XYSeries s = new XYSeries(l.name(), false, true);
      for (double[] p : l.points()) s.add(p[0], p[1]);
      data.addSeries(s);
      boolean line = l.style() != Style.MARKERS;
      boolean markers = l.style() == Style.LINE_MARKERS || l.style() == Style.MARKERS
          || l.points().size() == 1; // one point draws no line: show it
      r.setSeriesLinesVisible(i, line);
      r.setSeriesShapesVisible(i, markers);
      r.setSeriesShape(i, circle(7));
      Color c = l.style() == Style.FAINT_LINE ? faint(l.color()) : l.color();
      r.setSeriesPaint(i, c);
      r.setSeriesStroke(i, new BasicStroke(l.style() == Style.FAINT_LINE ? 1.0f : 2.0f));
      // the raw per-step line sits under its smoothed twin: one legend entry for both (named by the caller)
      r.setSeriesVisibleInLegend(i, l.style() != Style.FAINT_LINE);
      i++;
    }
    NumberAxis x = new NumberAxis(xLabel);
    x.setAutoRangeIncludesZero(false);
    NumberAxis y = new NumberAxis(yLabel);
    y.setAutoRangeIncludesZero(false);
    if (small(lines)) y.setNumberFormatOverride(new Sci());
    flatRange(lines, y);
    XYPlot plot = new XYPlot(data, x, y, r);
    // a legend of one line says nothing the title does not
    return style(new JFreeChart(title, titleFont(), plot, data.getSeriesCount() > 1));
  }

  /**
   * A constant series (a constant learning rate, an accuracy stuck at 1) would get an auto range of width ~1e-8 and
   * ticks like 9.999999E-3: give it a readable range instead, from 0 when the values are positive.
   */
  private static void flatRange(List<Line> lines, NumberAxis y) {
    double lo = Double.POSITIVE_INFINITY;
    double hi = Double.NEGATIVE_INFINITY;
    for (Line l : lines) {
      for (double[] p : l.points()) {
        lo = Math.min(lo, p[1]);
        hi = Math.max(hi, p[1]);
      }
    }
    if (lo > hi) return; // no points
    double scale = Math.max(Math.abs(lo), Math.abs(hi));
    if (hi - lo > 1e-6 * scale) return;
    if (scale == 0) y.setRange(-1, 1);
    else if (lo > 0) y.setRange(0, 1.25 * hi);
    else if (hi < 0) y.setRange(1.25 * lo, 0);
    else y.setRange(lo - 0.5 * scale, hi + 0.5 * scale);
  }

  /** Whether every value is below 1e-3 in magnitude (learning rates): then the y axis reads 5e-7, not 0.0000005. */
  private static boolean small(List<Line> lines) {
    return lines.stream().flatMap(l -> l.points().stream()).allMatch(p -> Math.abs(p[1]) < 1e-3);
  }

  /** Tick labels as 5e-7, 2.5e-7, 0 (Java's "5E-7" and "0E0" read badly). */
  static final class Sci extends java.text.NumberFormat {
    @Override
    public StringBuffer format(double v, StringBuffer to, java.text.FieldPosition pos) {
      if (v == 0) return to.append('0');
      String s = String.format(java.util.Locale.ROOT, "%.2e", v); // e.g. 5.00e-07
      int e = s.indexOf('e');
      String mantissa = s.substring(0, e).replaceAll("\\.?0+$", "");
      return to.append(mantissa).append('e').append(Integer.parseInt(s.substring(e + 1)));
    }

    @Override
    public StringBuffer format(long v, StringBuffer to, java.text.FieldPosition pos) {
      return format((double) v, to, pos);
    }

    @Override
    public Number parse(String source, java.text.ParsePosition pos) {
      throw new UnsupportedOperationException();
    }
  }

  /**
   * Overlaid histograms of two samples on the same bins (so the bars line up): {@code bins} equal bins over the range
   * of both. Translucent bars, so the overlap shows.
   */
  static JFreeChart histogram(String title, String xLabel, String aName, double[] a, Color aColor, String bName,
      double[] b, Color bColor, int bins) {
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;
    for (double[] xs : new double[][] {a, b}) {
      for (double v : xs) {
        min = Math.min(min, v);
        max = Math.max(max, v);
      }
    }
    if (min == max) { // all rewards equal (e.g. all 0): one visible bin around the value
      min -= 0.5;
      max += 0.5;
    }
    HistogramDataset data = new HistogramDataset();
    if (a.length > 0) data.addSeries(aName, a, bins, min, max);
    if (b.length > 0) data.addSeries(bName, b, bins, min, max);
    XYBarRenderer r = new XYBarRenderer(0.05);
    r.setBarPainter(new StandardXYBarPainter()); // flat bars, no gradient
    r.setShadowVisible(false);
    r.setDrawBarOutline(false);
    int i = 0;
    if (a.length > 0) r.setSeriesPaint(i++, translucent(aColor));
    if (b.length > 0) r.setSeriesPaint(i, translucent(bColor));
    NumberAxis x = new NumberAxis(xLabel);
    x.setAutoRangeIncludesZero(false);
    NumberAxis y = new NumberAxis("samples");
    y.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
    y.setUpperMargin(0.12); // room for the mean markers' labels
    XYPlot plot = new XYPlot(data, x, y, r);
    // each model's mean as a dashed vertical line: the shift the histograms show, as one number
    // labels on the outer sides (the higher mean's to the right of its line) so the two never overlap
    double aMean = java.util.Arrays.stream(a).average().orElse(0);
    double bMean = java.util.Arrays.stream(b).average().orElse(0);
    if (a.length > 0) plot.addDomainMarker(meanMarker(aName, aMean, aColor, aMean >= bMean));
    if (b.length > 0) plot.addDomainMarker(meanMarker(bName, bMean, bColor, bMean > aMean));
    return style(new JFreeChart(title, titleFont(), plot, true));
  }

  private static org.jfree.chart.plot.ValueMarker meanMarker(String name, double mean, Color c, boolean right) {
    org.jfree.chart.plot.ValueMarker m = new org.jfree.chart.plot.ValueMarker(mean, c.darker(),
        new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 1f, new float[] {6, 4}, 0));
    m.setLabel(name + " mean " + String.format(java.util.Locale.ROOT, "%.2f", mean));
    m.setLabelFont(new Font(FONT, Font.PLAIN, 12));
    m.setLabelPaint(c.darker());
    m.setLabelBackgroundColor(new Color(255, 255, 255, 210));
    m.setLabelAnchor(right ? org.jfree.chart.ui.RectangleAnchor.TOP_RIGHT : org.jfree.chart.ui.RectangleAnchor.TOP_LEFT);
    m.setLabelTextAnchor(right ? TextAnchor.TOP_LEFT : TextAnchor.TOP_RIGHT);
    m.setLabelOffset(new RectangleInsets(4, 4, 4, 4));
    return m;
  }

  /** A labelled point of the reward-vs-KL chart. */
  record Point(String label, double kl, double reward) {}

  /**
   * Mean reward against KL(policy || reference): the reference at KL 0, one point per run, joined in KL order (runs
   * at several β trace the reward/KL frontier). Each point carries its run's label.
   */
  static JFreeChart rewardVsKl(Point reference, List<Point> runs) {
    XYSeriesCollection data = new XYSeriesCollection();
    XYSeries frontier = new XYSeries("runs, joined in KL order from the reference", true, true);
    List<Point> sorted = new ArrayList<>(runs);
    sorted.sort(Comparator.comparingDouble(Point::kl));
    frontier.add(reference.kl(), reference.reward()); // the frontier starts at the reference
    for (Point p : sorted) frontier.add(p.kl(), p.reward());
    XYSeries ref = new XYSeries("reference (KL 0)");
    ref.add(reference.kl(), reference.reward());
    data.addSeries(frontier);
    data.addSeries(ref);
    XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, true);
    r.setSeriesPaint(0, BLUE);
    r.setSeriesStroke(0, new BasicStroke(2.0f, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND, 1f, new float[] {6, 4},
        0));
    r.setSeriesShape(0, circle(10));
    r.setSeriesPaint(1, GREY);
    r.setSeriesLinesVisible(1, false);
    r.setSeriesShape(1, circle(12));
    // each point's label: the run's name (the frontier series is sorted, so look the label up by position)
    // item 0 of the frontier is the reference, labelled by its own series
    r.setDefaultItemLabelGenerator((dataset, series, item) -> series == 1 ? "reference"
        : item == 0 ? null : sorted.get(item - 1).label());
    r.setDefaultItemLabelsVisible(true);
    r.setDefaultItemLabelFont(new Font(FONT, Font.PLAIN, 13));
    r.setDefaultPositiveItemLabelPosition(new ItemLabelPosition(ItemLabelAnchor.OUTSIDE12, TextAnchor.BOTTOM_CENTER));
    NumberAxis x = new NumberAxis("KL(policy ‖ reference), nats per sample");
    x.setAutoRangeIncludesZero(true);
    NumberAxis y = new NumberAxis("mean reward of samples");
    y.setAutoRangeIncludesZero(false);
    XYPlot plot = new XYPlot(data, x, y, r);
    // the reference series last, so its grey point covers the frontier's first (the same point)
    plot.setSeriesRenderingOrder(org.jfree.chart.plot.SeriesRenderingOrder.FORWARD);
    // room for the labels above the highest point and right of the last
    x.setUpperMargin(0.15);
    y.setUpperMargin(0.15);
    y.setLowerMargin(0.1);
    // the reference sits at KL 0: keep it (and its label) off the axis line
    // (a sampled KL estimate can come out below 0 for a policy that barely moved)
    double lo = Math.min(reference.kl(), sorted.isEmpty() ? 0 : sorted.get(0).kl());
    double hi = Math.max(reference.kl(), sorted.isEmpty() ? 0 : sorted.get(sorted.size() - 1).kl());
    double span = Math.max(hi - lo, 1e-3);
    x.setRange(lo - 0.08 * span, hi + 0.15 * span);
    return style(new JFreeChart("Reward vs KL", titleFont(), plot, true));
  }

  static void writePng(JFreeChart chart, Path file) {
    try {
      ChartUtils.saveChartAsPNG(file.toFile(), chart, WIDTH, HEIGHT);
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + file + ": " + e.getMessage(), e);
    }
  }

  // ------------------------------------------------------------------------------------------------ the look

  private static JFreeChart style(JFreeChart chart) {
    chart.setBackgroundPaint(Color.WHITE);
    chart.setPadding(new RectangleInsets(6, 6, 6, 12));
    XYPlot plot = chart.getXYPlot();
    plot.setBackgroundPaint(Color.WHITE);
    plot.setDomainGridlinePaint(GRID);
    plot.setRangeGridlinePaint(GRID);
    plot.setDomainGridlineStroke(new BasicStroke(1f));
    plot.setRangeGridlineStroke(new BasicStroke(1f));
    plot.setOutlineVisible(false);
    plot.setAxisOffset(RectangleInsets.ZERO_INSETS);
    for (NumberAxis axis : new NumberAxis[] {(NumberAxis) plot.getDomainAxis(), (NumberAxis) plot.getRangeAxis()}) {
      axis.setLabelFont(new Font(FONT, Font.PLAIN, 15));
      axis.setTickLabelFont(new Font(FONT, Font.PLAIN, 13));
      axis.setAxisLinePaint(GREY);
      axis.setTickMarkPaint(GREY);
    }
    LegendTitle legend = chart.getLegend();
    if (legend != null) {
      legend.setItemFont(new Font(FONT, Font.PLAIN, 14));
      legend.setFrame(org.jfree.chart.block.BlockBorder.NONE);
      legend.setPosition(RectangleEdge.BOTTOM);
    }
    return chart;
  }

  private static Font titleFont() {
    return new Font(FONT, Font.BOLD, 18);
  }

  private static Shape circle(double d) {
    return new Ellipse2D.Double(-d / 2, -d / 2, d, d);
  }

  private static Color faint(Color c) {
    return new Color(c.getRed(), c.getGreen(), c.getBlue(), 90);
  }

  private static Color translucent(Color c) {
    return new Color(c.getRed(), c.getGreen(), c.getBlue(), 150);
  }
}
