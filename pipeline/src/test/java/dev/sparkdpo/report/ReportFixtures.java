package dev.sparkdpo.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Report inputs written by hand, shaped as the real ones: a metrics.jsonl as the trainer writes it (a line per step,
 * an eval line every eval-steps; keys from Trainer/PolicyEval) whose DPO numbers follow the loss's own algebra
 * (loss = −log σ(margin) per pair), and an evaluate output (eval.json + samples.jsonl) whose headline numbers are
 * computed from its samples exactly as the evaluate contract defines them.
 */
final class ReportFixtures {
  private static final ObjectMapper JSON = new ObjectMapper();

  private ReportFixtures() {}

  /** Writes a demo report to args[0] (to look at): 300 steps of training, three runs at β 0.5, 0.1, 0.05. */
  public static void main(String[] args) throws IOException {
    Path out = Path.of(args[0]);
    Path in = Files.createDirectories(out.resolveSibling(out.getFileName() + "-inputs"));
    writeMetrics(in.resolve("metrics.jsonl"), 300, 25, 1);
    List<Path> runs = List.of(writeEvaluate(in.resolve("beta-0.5"), "beta-0.5", 0.5, 0.3, 1.0, 40, 4, 4),
        writeEvaluate(in.resolve("beta-0.1"), "beta-0.1", 0.1, 1.0, 4.0, 40, 4, 5),
        writeEvaluate(in.resolve("beta-0.05"), "beta-0.05", 0.05, 1.4, 9.0, 40, 4, 6));
    System.out.println(Report.write(out, in.resolve("metrics.jsonl"), args.length > 1 ? runs.subList(1, 2) : runs));
  }

  /**
   * {@code steps} training steps of β = 0.1 DPO: the mean margin grows as 2·(1 − e^(−step/τ)), per-pair margins
   * scatter around it (8 pairs a step), so loss, accuracy and margins are computed from the same pairs; lr warms up
   * over 10 steps then decays by a cosine.
   */
  static void writeMetrics(Path file, int steps, int evalEvery, long seed) throws IOException {
    Random rnd = new Random(seed);
    List<String> lines = new ArrayList<>();
    double tau = steps / 3.0;
    for (int step = 0; step <= steps; step++) {
      double target = 2 * (1 - Math.exp(-step / tau));
      if (step % evalEvery == 0 || step == steps) lines.add(JSON.writeValueAsString(evalLine(step, steps, target)));
      if (step == 0) continue;
      Map<String, Object> r = new LinkedHashMap<>();
      r.put("step", step);
      r.put("epoch", step / (double) steps);
      Dpo d = dpo(rnd, target, 8, 1.0);
      r.put("loss", d.loss);
      r.put("rewards/chosen", d.chosen);
      r.put("rewards/rejected", d.rejected);
      r.put("rewards/accuracies", d.accuracy);
      r.put("rewards/margins", d.margin);
      r.put("logps/chosen", -120 + 10 * d.chosen);
      r.put("logps/rejected", -125 + 10 * d.rejected);
      double lr = step <= 10 ? 5e-7 * step / 10 : 5e-7 * 0.5 * (1 + Math.cos(Math.PI * (step - 10) / (steps - 10)));
      r.put("learning_rate", lr);
      r.put("grad_norm", 0.5 + rnd.nextDouble());
      r.put("pairs", 8);
      r.put("tokens", 2000 + rnd.nextInt(200));
      r.put("tokens_per_second", 900 + 50 * rnd.nextGaussian());
      r.put("workers", 2);
      r.put("worker_seconds", 2.1);
      r.put("round_seconds", 2.3);
      r.put("wall_time", 2.3 * step);
      lines.add(JSON.writeValueAsString(r));
    }
    Files.write(file, lines, StandardCharsets.UTF_8);
  }

  private static Map<String, Object> evalLine(int step, int steps, double target) {
    Dpo d = dpo(new Random(7), 0.8 * target, 64, 1.0); // held-out pairs: the same pairs each time, a smaller margin
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("step", step);
    r.put("epoch", step / (double) steps);
    r.put("eval_loss", d.loss);
    r.put("eval_rewards/chosen", d.chosen);
    r.put("eval_rewards/rejected", d.rejected);
    r.put("eval_rewards/accuracies", d.accuracy);
    r.put("eval_rewards/margins", d.margin);
    r.put("eval_logps/chosen", -120 + 10 * d.chosen);
    r.put("eval_logps/rejected", -125 + 10 * d.rejected);
    r.put("eval_pairs", 64.0);
    r.put("eval_seconds", 3.2);
    return r;
  }

  private record Dpo(double loss, double chosen, double rejected, double accuracy, double margin) {}

  /** Pairs with margins ~ N(mean, sd): chosen reward +40% of the margin, rejected −60%; loss = mean −log σ(m). */
  private static Dpo dpo(Random rnd, double mean, int pairs, double sd) {
    double loss = 0, chosen = 0, rejected = 0, acc = 0, margin = 0;
    for (int i = 0; i < pairs; i++) {
      double m = mean + sd * rnd.nextGaussian();
      loss += Math.log1p(Math.exp(-m));
      chosen += 0.4 * m;
      rejected -= 0.6 * m;
      acc += m > 0 ? 1 : 0;
      margin += m;
    }
    return new Dpo(loss / pairs, chosen / pairs, rejected / pairs, acc / pairs, margin / pairs);
  }

  /** The completions: ordinary text, plus markup that must be shown, not run. */
  static final String[] TEXTS = {
      "The nation is strong, and our future is bright with hope for every family.",
      "We face hard choices; the deficit is a burden & a warning.",
      "<script>alert('pwned')</script> is not a speech.",
      "Tonight I ask Congress to act — \"now\", not later.",
      "Our schools, our roads, our jobs: these are the work of a generation.\nA new line, kept.",
  };

  /**
   * An evaluate output: {@code prompts} × {@code k} samples; policy rewards ~ N(shift, 1), reference rewards ~ N(0,
   * 1); the policy's log-ratio to the reference ~ N(kl, 0.5·kl). eval.json is computed from the rows.
   */
  static Path writeEvaluate(Path dir, String label, double beta, double shift, double kl, int prompts, int k,
      long seed) throws IOException {
    Files.createDirectories(dir);
    Random rnd = new Random(seed);
    List<String> lines = new ArrayList<>();
    double[] pr = new double[prompts * k];
    double[] rr = new double[prompts * k];
    double[] klv = new double[prompts * k];
    double[] pl = new double[prompts * k];
    double[] rl = new double[prompts * k];
    double[] plogp = new double[prompts * k];
    double[] rlogp = new double[prompts * k];
    double wins = 0;
    int n = 0;
    for (int p = 0; p < prompts; p++) {
      for (int s = 0; s < k; s++, n++) {
        pr[n] = Math.round((shift + rnd.nextGaussian()) * 2) / 2.0; // lexicon rewards: often equal (ties)
        rr[n] = Math.round(rnd.nextGaussian() * 2) / 2.0;
        double lpRef = -40 + 5 * rnd.nextGaussian();
        klv[n] = kl + 0.5 * kl * rnd.nextGaussian();
        double lpPol = lpRef + klv[n];
        pl[n] = 15 + rnd.nextInt(20);
        rl[n] = 15 + rnd.nextInt(20);
        plogp[n] = lpPol;
        double refOnRefSample = -38 + 5 * rnd.nextGaussian();
        rlogp[n] = refOnRefSample;
        wins += pr[n] > rr[n] ? 1 : pr[n] == rr[n] ? 0.5 : 0;
        ObjectNode j = JSON.createObjectNode();
        j.put("prompt_id", "p" + p);
        j.put("prompt", "State of the Union, paragraph " + p + ": Mr. Speaker, <b>members</b> of Congress,");
        j.put("sample", s);
        j.put("seed", seed * 1000 + n);
        ObjectNode pol = j.putObject("policy");
        pol.put("completion", TEXTS[(p + s) % TEXTS.length] + " (policy " + p + "/" + s + ")");
        pol.put("tokens", (long) pl[n]);
        pol.put("reward", pr[n]);
        pol.put("logp_policy", lpPol);
        pol.put("logp_reference", lpRef);
        ObjectNode ref = j.putObject("reference");
        ref.put("completion", TEXTS[(p + s + 2) % TEXTS.length] + " (reference " + p + "/" + s + ")");
        ref.put("tokens", (long) rl[n]);
        ref.put("reward", rr[n]);
        ref.put("logp_policy", refOnRefSample - 0.5 * kl);
        ref.put("logp_reference", refOnRefSample);
        lines.add(JSON.writeValueAsString(j));
      }
    }
    Files.write(dir.resolve(EvalRun.SAMPLES_JSONL), lines, StandardCharsets.UTF_8);
    ObjectNode e = JSON.createObjectNode();
    ObjectNode pref = e.putObject("preference");
    ObjectNode pp = pref.putObject("policy");
    pp.put("pairs", 200);
    pp.put("accuracy", Math.min(0.95, 0.55 + shift / 4));
    pp.put("margin_mean", beta * 4 * shift);
    pp.put("chosen_logp_mean", -118.0);
    pp.put("rejected_logp_mean", -131.0);
    ObjectNode rp = pref.putObject("reference");
    rp.put("pairs", 200);
    rp.put("accuracy", 0.52);
    rp.put("margin_mean", 0.3);
    rp.put("chosen_logp_mean", -120.0);
    rp.put("rejected_logp_mean", -120.3);
    generation(e.putObject("policy"), pr, plogp, pl);
    generation(e.putObject("reference"), rr, rlogp, rl);
    e.put("kl_mean", mean(klv));
    e.put("kl_std", sd(klv));
    e.put("win_rate", wins / n);
    e.put("samples", n);
    e.put("prompts", prompts);
    e.put("beta", beta);
    e.put("label", label);
    ObjectNode st = e.putObject("settings");
    st.put("data", "/data/dpo/ingest");
    st.put("model", "/data/dpo/" + label + "/model");
    st.put("reference_model", "/models/sft");
    st.put("reward", "lexicon:/data/afinn-165.json");
    st.put("prompts", prompts);
    st.put("samples_per_prompt", k);
    st.put("max_new_tokens", 48);
    st.put("temperature", 1.0);
    st.put("top_p", 1.0);
    st.put("seed", 42);
    Files.writeString(dir.resolve(EvalRun.EVAL_JSON), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(e));
    return dir;
  }

  private static void generation(ObjectNode g, double[] reward, double[] logp, double[] length) {
    g.put("reward_mean", mean(reward));
    g.put("reward_std", sd(reward));
    g.put("logp_mean", mean(logp));
    g.put("length_mean", mean(length));
  }

  static double mean(double[] v) {
    double s = 0;
    for (double x : v) s += x;
    return s / v.length;
  }

  static double sd(double[] v) {
    double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return Math.sqrt(s / v.length);
  }
}
