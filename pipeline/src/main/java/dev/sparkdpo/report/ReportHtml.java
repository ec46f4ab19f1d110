package dev.sparkdpo.report;

import dev.sparkdpo.report.Report.Figure;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * report.html: one page, plain HTML + CSS (no script, no external resource: it opens from a file, an artifact store
 * or an e-mail attachment beside its plots/). Every text that came from data (labels, prompts, completions, paths)
 * goes through {@link #esc}: a completion is model output and may hold markup.
 */
final class ReportHtml {
  private static final String CSS = """
      body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #222; margin: 24px auto;
             max-width: 1240px; padding: 0 16px; line-height: 1.4; }
      h1 { font-size: 26px; margin-bottom: 4px; }
      h2 { font-size: 20px; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 32px; }
      h3 { font-size: 16px; margin-top: 20px; }
      .meta { color: #666; font-size: 13px; }
      .note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 8px 12px; }
      .grid { display: flex; flex-wrap: wrap; gap: 16px; }
      figure { margin: 0; flex: 0 1 600px; }
      figure img { width: 100%; height: auto; border: 1px solid #eee; }
      figcaption { font-size: 13px; color: #555; }
      table { border-collapse: collapse; font-size: 14px; margin: 8px 0; }
      th, td { border: 1px solid #ddd; padding: 5px 8px; vertical-align: top; text-align: left; }
      th { background: #f4f6f8; }
      td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
      table.samples { table-layout: fixed; width: 100%; }
      table.samples td { white-space: pre-wrap; word-wrap: break-word; font-size: 13px; }
      table.samples col.prompt { width: 24%; }
      td .reward { display: block; font-weight: bold; margin-bottom: 4px; white-space: normal; }
      td.win { background: #eaf5ea; }
      td.lose { background: #fbecec; }
      """;

  /** The training metrics file as the page names it, or null when none was given. */
  private final String metrics;
  private final List<String> evaluateShown;
  private final TrainingCurves curves;
  private final List<EvalRun> runs;
  private final List<Figure> curveFigures;
  private final List<Figure> frontier;
  private final List<Figure> distributions;
  private final StringBuilder out = new StringBuilder();

  ReportHtml(Report.Shown shown, TrainingCurves curves, List<EvalRun> runs, List<Figure> curveFigures,
      List<Figure> frontier, List<Figure> distributions) {
    this.metrics = shown.metrics();
    this.evaluateShown = shown.evaluate();
    this.curves = curves;
    this.runs = runs;
    this.curveFigures = curveFigures;
    this.frontier = frontier;
    this.distributions = distributions;
  }

  String render() {
    out.append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .append("<title>spark-dpo report</title>\n<style>\n").append(CSS).append("</style>\n</head>\n<body>\n");
    out.append("<h1>spark-dpo report</h1>\n<p class=\"meta\">written ")
        .append(esc(ZonedDateTime.now().format(DateTimeFormatter.ISO_OFFSET_DATE_TIME.withLocale(Locale.ROOT))));
    if (!runs.isEmpty()) {
      out.append(" · evaluated runs: ");
      List<String> dirs = new ArrayList<>();
      for (int i = 0; i < runs.size(); i++) {
        dirs.add(esc(runs.get(i).label()) + " (<code>" + esc(evaluateShown.get(i)) + "</code>)");
      }
      out.append(String.join(", ", dirs));
    }
    if (metrics != null) out.append(" · training metrics: <code>").append(esc(metrics)).append("</code>");
    out.append("</p>\n");
    evaluation();
    trainingCurves();
    samples();
    out.append("</body>\n</html>\n");
    return out.toString();
  }

  // ------------------------------------------------------------------------------------------------ sections

  private void evaluation() {
    out.append("<h2>Evaluation</h2>\n");
    if (runs.isEmpty()) {
      out.append("<p class=\"note\">No evaluate output given: no evaluation numbers, reward distributions or samples."
          + "</p>\n");
      return;
    }
    out.append("<table class=\"summary\">\n<tr><th>run</th><th>β</th>"
        + "<th>preference accuracy<br>policy</th><th>preference accuracy<br>reference</th><th>eval pairs</th>"
        + "<th>reward<br>policy (mean ± sd)</th><th>reward<br>reference (mean ± sd)</th>"
        + "<th>KL(policy ‖ ref)<br>mean ± sd</th><th>win rate<br>policy vs ref</th>"
        + "<th>length (tokens)<br>policy / ref</th><th>samples / prompts</th></tr>\n");
    for (EvalRun r : runs) {
      out.append("<tr><td>").append(esc(r.label())).append("</td>")
          .append(num(fmt(r.beta(), 3)))
          .append(num(pct(r.policyPreference().accuracy())))
          .append(num(pct(r.referencePreference().accuracy())))
          .append(num(Long.toString(r.policyPreference().pairs())))
          .append(num(fmt(r.policy().rewardMean(), 3) + " ± " + fmt(r.policy().rewardStd(), 3)))
          .append(num(fmt(r.reference().rewardMean(), 3) + " ± " + fmt(r.reference().rewardStd(), 3)))
          .append(num(fmt(r.klMean(), 3) + " ± " + fmt(r.klStd(), 3)))
          .append(num(pct(r.winRate())))
          .append(num(fmt(r.policy().lengthMean(), 1) + " / " + fmt(r.reference().lengthMean(), 1)))
          .append(num(r.samples() + " / " + r.prompts()))
          .append("</tr>\n");
    }
    out.append("</table>\n<p class=\"meta\">Preference accuracy: share of held-out pairs the model ranks right — the "
        + "policy by its implicit reward margin β·((log π(c) − log π<sub>ref</sub>(c)) − (log π(r) − log "
        + "π<sub>ref</sub>(r))) &gt; 0, the reference by its own log-prob margin log π<sub>ref</sub>(c) − log "
        + "π<sub>ref</sub>(r) &gt; 0. Win rate: share of (prompt, sample) where the policy's completion has the "
        + "higher reward, ties counting half.</p>\n");
    out.append("<h3>Rewards</h3>\n");
    List<Figure> rewards = new ArrayList<>(frontier);
    rewards.addAll(distributions);
    figures(rewards);
  }

  private void trainingCurves() {
    out.append("<h2>Training curves</h2>\n");
    if (metrics == null) {
      out.append("<p class=\"note\">No training metrics given (no train run's metrics.jsonl): no training curves."
          + "</p>\n");
    } else if (curves == null) {
      out.append("<p class=\"note\">No training metrics: <code>").append(esc(metrics))
          .append("</code> does not exist.</p>\n");
    } else if (curveFigures.isEmpty()) {
      out.append("<p class=\"note\">No training metrics: <code>").append(esc(metrics))
          .append("</code> holds no step's metrics yet.</p>\n");
    } else {
      figures(curveFigures);
    }
  }

  private void samples() {
    for (EvalRun r : runs) {
      List<EvalRun.Sample> rows = firstPrompts(r.sampleRows(), Report.SAMPLE_ROWS);
      out.append("<h2>Samples: ").append(esc(r.label())).append("</h2>\n");
      if (rows.isEmpty()) {
        out.append("<p class=\"note\">No samples (").append(esc(EvalRun.SAMPLES_JSONL))
            .append(" is missing or empty).</p>\n");
        continue;
      }
      out.append("<p class=\"meta\">The first sample of ").append(rows.size())
          .append(" prompts: the reference's and the policy's completion with their rewards (green: the higher).")
          .append("</p>\n");
      out.append("<table class=\"samples\">\n<colgroup><col class=\"prompt\"><col><col></colgroup>\n")
          .append("<tr><th>prompt</th><th>reference</th><th>policy</th></tr>\n");
      for (EvalRun.Sample s : rows) {
        int cmp = Double.compare(s.policy().reward(), s.reference().reward());
        out.append("<tr><td>").append(esc(s.prompt())).append("</td>")
            .append(completion(s.reference(), cmp < 0 ? "win" : cmp > 0 ? "lose" : ""))
            .append(completion(s.policy(), cmp > 0 ? "win" : cmp < 0 ? "lose" : ""))
            .append("</tr>\n");
      }
      out.append("</table>\n");
    }
  }

  /** One sample per prompt (the lowest sample index seen first), for the first {@code n} prompts in file order. */
  static List<EvalRun.Sample> firstPrompts(List<EvalRun.Sample> samples, int n) {
    List<EvalRun.Sample> rows = new ArrayList<>();
    Set<String> seen = new LinkedHashSet<>();
    for (EvalRun.Sample s : samples) {
      if (rows.size() == n) break;
      if (seen.add(s.promptId())) rows.add(s);
    }
    return rows;
  }

  private String completion(EvalRun.Completion c, String cls) {
    return "<td" + (cls.isEmpty() ? "" : " class=\"" + cls + "\"") + "><span class=\"reward\">reward "
        + fmt(c.reward(), 3) + " · " + c.tokens() + " tokens</span>" + esc(c.text()) + "</td>";
  }

  private void figures(List<Figure> figures) {
    out.append("<div class=\"grid\">\n");
    for (Figure f : figures) {
      out.append("<figure><img src=\"").append(esc(f.src())).append("\" alt=\"").append(esc(f.caption()))
          .append("\"><figcaption>").append(esc(f.caption())).append("</figcaption></figure>\n");
    }
    out.append("</div>\n");
  }

  // ------------------------------------------------------------------------------------------------ text

  /** HTML-escapes text for element content and quoted attribute values. */
  static String esc(String s) {
    StringBuilder b = new StringBuilder(s.length() + 16);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '&' -> b.append("&amp;");
        case '<' -> b.append("&lt;");
        case '>' -> b.append("&gt;");
        case '"' -> b.append("&quot;");
        case '\'' -> b.append("&#39;");
        default -> b.append(c);
      }
    }
    return b.toString();
  }

  private static String num(String text) {
    return "<td class=\"num\">" + text + "</td>";
  }

  static String fmt(double v, int digits) {
    if (!Double.isFinite(v)) return Double.isNaN(v) ? "–" : v > 0 ? "∞" : "−∞";
    return String.format(Locale.ROOT, "%." + digits + "f", v);
  }

  static String pct(double share) {
    return Double.isFinite(share) ? String.format(Locale.ROOT, "%.1f%%", 100 * share) : "–";
  }
}
