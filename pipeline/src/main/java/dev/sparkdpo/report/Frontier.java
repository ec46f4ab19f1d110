package dev.sparkdpo.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Color;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.jfree.chart.JFreeChart;

/**
 * The reward/KL frontier of several policies aligned from one reference (the DPO paper's Figure 2): one point per
 * evaluated policy (a run's checkpoints and final model trace its curve), Best-of-N sampling from the reference, and
 * the reference itself at KL 0. Beside each point's reward, the diversity of its samples (distinct-n, repetition), so
 * a reward won by repeating positive words shows.
 *
 * <p>Best-of-N: an evaluate output whose policy is the reference, with K = N x G samples per prompt; each prompt's
 * samples, in sample order, form G groups of N and each group's highest-reward sample is the Best-of-N sample (ties:
 * the first). Its KL is the analytic value log N - (N-1)/N, which is exact for the KL of the best-of-N policy from
 * the reference when rewards have no ties and an upper bound otherwise (Beirami et al., 2024); it is not estimated
 * from the samples.
 */
public final class Frontier {
  private static final ObjectMapper JSON = new ObjectMapper();

  private Frontier() {}

  /** A trained policy evaluated by {@code evaluate}: its run, kind (dpo, sft), beta (dpo), step (null: final). */
  public record Policy(String run, String kind, Double beta, Long step, Path evaluate) {}

  /** Best-of-{@code n} from an evaluate output whose policy is the reference. */
  public record BestOf(String run, int n, Path evaluate) {}

  /** One point: where it came from, KL and how it was had, reward, and the samples' diversity. */
  public record Point(String run, String kind, Double beta, Integer n, Long step, double kl, String klMethod,
      double reward, double rewardStd, double distinct1, double distinct2, double repetition, long samples) {}

  /** The points: the reference (from the first policy's evaluate output), every policy, every Best-of-N. */
  public static List<Point> points(List<Policy> policies, List<BestOf> bestOfs) {
    List<Point> points = new ArrayList<>();
    EvalRun first = policies.isEmpty() ? bestOfs.isEmpty() ? null : EvalRun.read(bestOfs.get(0).evaluate())
        : EvalRun.read(policies.get(0).evaluate());
    if (first != null) {
      List<String> ref = first.sampleRows().stream().map(s -> s.reference().text()).toList();
      points.add(new Point("reference", "reference", null, null, null, 0, "exact", first.reference().rewardMean(),
          first.reference().rewardStd(), distinct(ref, 1), distinct(ref, 2), repetition(ref), ref.size()));
    }
    for (Policy p : policies) {
      EvalRun e = EvalRun.read(p.evaluate());
      List<String> texts = e.sampleRows().stream().map(s -> s.policy().text()).toList();
      points.add(new Point(p.run(), p.kind(), p.beta(), null, p.step(), e.klMean(),
          "sampled: mean of log pi(y|x) - log pi_ref(y|x)", e.policy().rewardMean(), e.policy().rewardStd(),
          distinct(texts, 1), distinct(texts, 2), repetition(texts), texts.size()));
    }
    for (BestOf b : bestOfs) points.add(bestOf(b));
    return points;
  }

  /** Best-of-N from the samples of an evaluate output (see the class comment). */
  static Point bestOf(BestOf b) {
    EvalRun e = EvalRun.read(b.evaluate());
    Map<String, List<EvalRun.Sample>> byPrompt = new LinkedHashMap<>();
    for (EvalRun.Sample s : e.sampleRows()) byPrompt.computeIfAbsent(s.promptId(), k -> new ArrayList<>()).add(s);
    List<String> chosen = new ArrayList<>();
    List<Double> rewards = new ArrayList<>();
    for (List<EvalRun.Sample> samples : byPrompt.values()) {
      samples.sort(Comparator.comparingInt(EvalRun.Sample::sample));
      for (int g = 0; g + b.n() <= samples.size(); g += b.n()) {
        EvalRun.Completion best = samples.get(g).policy();
        for (int i = g + 1; i < g + b.n(); i++) {
          if (samples.get(i).policy().reward() > best.reward()) best = samples.get(i).policy();
        }
        chosen.add(best.text());
        rewards.add(best.reward());
      }
    }
    if (rewards.isEmpty()) {
      throw new IllegalArgumentException(b.evaluate() + ": fewer than " + b.n() + " samples per prompt; a best-of-"
          + b.n() + " run needs samples-per-prompt >= " + b.n());
    }
    double mean = rewards.stream().mapToDouble(Double::doubleValue).average().orElse(0);
    double var = rewards.stream().mapToDouble(r -> (r - mean) * (r - mean)).sum() / rewards.size();
    return new Point(b.run(), "best-of-n", null, b.n(), null, bestOfNKl(b.n()), "analytic: log N - (N-1)/N", mean,
        Math.sqrt(var), distinct(chosen, 1), distinct(chosen, 2), repetition(chosen), chosen.size());
  }

  /** KL(best-of-N || reference) = log N - (N-1)/N (exact without reward ties, an upper bound with them). */
  public static double bestOfNKl(int n) {
    return Math.log(n) - (n - 1.0) / n;
  }

  /** Corpus distinct-n (Li et al., 2016): distinct word n-grams over all n-grams of {@code texts}. */
  public static double distinct(List<String> texts, int n) {
    Set<String> seen = new HashSet<>();
    long all = 0;
    for (String t : texts) {
      String[] w = t.strip().isEmpty() ? new String[0] : t.strip().split("\\s+");
      for (int i = 0; i + n <= w.length; i++) {
        seen.add(String.join(" ", java.util.Arrays.copyOfRange(w, i, i + n)));
        all++;
      }
    }
    return all == 0 ? 0 : (double) seen.size() / all;
  }

  /** Mean over texts of the share of words that repeat an earlier word of the same text (0: no word repeats). */
  public static double repetition(List<String> texts) {
    double sum = 0;
    int counted = 0;
    for (String t : texts) {
      String[] w = t.strip().isEmpty() ? new String[0] : t.strip().split("\\s+");
      if (w.length == 0) continue;
      sum += 1.0 - (double) new HashSet<>(List.of(w)).size() / w.length;
      counted++;
    }
    return counted == 0 ? 0 : sum / counted;
  }

  /** results.json: every point. */
  public static String resultsJson(List<Point> points) {
    ObjectNode root = JSON.createObjectNode();
    ArrayNode arr = root.putArray("points");
    for (Point p : points) {
      ObjectNode o = arr.addObject();
      o.put("run", p.run());
      o.put("kind", p.kind());
      if (p.beta() != null) o.put("beta", p.beta());
      if (p.n() != null) o.put("n", p.n());
      if (p.step() != null) o.put("step", p.step());
      o.put("kl", p.kl());
      o.put("kl_method", p.klMethod());
      o.put("reward", p.reward());
      o.put("reward_std", p.rewardStd());
      o.put("distinct_1", p.distinct1());
      o.put("distinct_2", p.distinct2());
      o.put("repetition", p.repetition());
      o.put("samples", p.samples());
    }
    return root.toPrettyString();
  }

  private static final Color[] PALETTE = {Plots.BLUE, Plots.ORANGE, Plots.GREEN, Plots.RED, new Color(0x9467bd),
      new Color(0x8c564b), new Color(0xe377c2), new Color(0x17becf)};

  /** Reward against KL: a line per trained run (its checkpoints in step order), Best-of-N and the reference as points. */
  public static JFreeChart chart(List<Point> points) {
    Map<String, List<Point>> runs = new LinkedHashMap<>();
    for (Point p : points) runs.computeIfAbsent(p.run(), k -> new ArrayList<>()).add(p);
    List<Plots.Line> lines = new ArrayList<>();
    List<double[]> bestOf = new ArrayList<>();
    List<double[]> reference = new ArrayList<>();
    int color = 0;
    for (Map.Entry<String, List<Point>> run : runs.entrySet()) {
      Point any = run.getValue().get(0);
      if (any.kind().equals("reference")) {
        reference.add(new double[] {any.kl(), any.reward()});
      } else if (any.kind().equals("best-of-n")) {
        for (Point p : run.getValue()) bestOf.add(new double[] {p.kl(), p.reward()});
      } else {
        List<Point> byStep = new ArrayList<>(run.getValue());
        byStep.sort(Comparator.comparingLong(p -> p.step() == null ? Long.MAX_VALUE : p.step()));
        List<double[]> xy = new ArrayList<>();
        for (Point p : byStep) xy.add(new double[] {p.kl(), p.reward()});
        String name = any.kind().equals("dpo") && any.beta() != null ? "DPO β=" + trim(any.beta())
            : any.kind().equals("sft") ? "Preferred-FT" : run.getKey();
        lines.add(new Plots.Line(name, xy, PALETTE[color++ % PALETTE.length], Plots.Style.LINE_MARKERS));
      }
    }
    bestOf.sort(Comparator.comparingDouble(p -> p[0]));
    lines.add(new Plots.Line("Best-of-N (N = " + String.join(", ", runs.values().stream()
        .filter(l -> l.get(0).kind().equals("best-of-n")).map(l -> String.valueOf(l.get(0).n())).toList()) + ")",
        bestOf, Color.BLACK, Plots.Style.LINE_MARKERS));
    lines.add(new Plots.Line("reference", reference, Plots.GREY, Plots.Style.MARKERS));
    return Plots.lines("Reward vs KL: the frontier", "KL(policy ‖ reference), nats per sample",
        "mean reward of samples", lines);
  }

  /** frontier.png: {@link #chart} as a PNG. */
  public static void writePng(List<Point> points, Path file) {
    Plots.writePng(chart(points), file);
  }

  private static String trim(double d) {
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }
}
