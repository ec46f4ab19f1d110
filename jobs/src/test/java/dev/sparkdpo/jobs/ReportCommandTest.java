package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.*;

import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.report.ReportStage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** report options → ReportStage.Options, and the command end to end on hand-made evaluate and train outputs. */
class ReportCommandTest {
  @TempDir Path dir;

  private ReportStage.Options parse(String... args) {
    return ReportCommand.options(JobConfigTest.settings(new ReportCommand(), args));
  }

  @Test
  void defaultsFileAndCommandLine() throws Exception {
    assertEquals(new ReportStage.Options(List.of("a", "b"), null, "o", false),
        parse("--evaluate", "a,b", "--output", "o"));
    assertEquals(new ReportStage.Options(List.of("a", "b"), "t", "o", true),
        parse("--evaluate", "a", "--evaluate", "b", "--train", "t", "--output", "o", "--force"));
    Path conf = dir.resolve("report.conf");
    Files.writeString(conf, "report { evaluate = [x, y], train = t, output = o }\n");
    assertEquals(new ReportStage.Options(List.of("x", "y"), "t", "o", false), parse("--config", conf.toString()));
    assertEquals(new ReportStage.Options(List.of("z"), "t", "o", false),
        parse("--config", conf.toString(), "--evaluate", "z"));
  }

  @Test
  void badValuesNameTheOption() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse("--evaluate", "a"));
    assertEquals("give --output (or report.output in --config)", e.getMessage());
    // the report block is checked now that the command owns it (it was reserved, unchecked)
    Path conf = dir.resolve("typo.conf");
    try {
      Files.writeString(conf, "report { evalute = [a], output = o }\n");
    } catch (java.io.IOException io) {
      throw new java.io.UncheckedIOException(io);
    }
    e = assertThrows(IllegalArgumentException.class, () -> parse("--config", conf.toString()));
    assertTrue(e.getMessage().contains("unknown key report.evalute (line 1); did you mean report.evaluate?"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse("--output", "o"));
    assertTrue(e.getMessage().startsWith("give --evaluate DIR[,DIR...] (evaluate outputs) and/or --train DIR"),
        e.getMessage());
  }

  @Test
  void writesTheReportThroughStageOutputSkipsAnUnchangedRerunAndRefusesWhatItDidNotWrite() throws Exception {
    Path a = evaluateOutput("beta-0.1", 0.1, 1.0, 4.0);
    Path b = evaluateOutput("beta-0.5", 0.5, 0.3, 1.0);
    Path train = trainOutput();
    Path out = dir.resolve("report");

    Cli r = cli("report", "--evaluate", a + "," + b, "--train", train.toString(), "--output", out.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("\"skipped\":false"), r.out());
    assertEquals("report", StageOutput.readManifest(org.apache.hadoop.fs.FileSystem.getLocal(new Configuration()),
        new org.apache.hadoop.fs.Path(out.toUri())).stage());
    assertTrue(Files.exists(out.resolve(StageOutput.SUCCESS)));
    String html = Files.readString(out.resolve("report.html"));
    assertTrue(html.contains("<td>beta-0.1</td>") && html.contains("<td>beta-0.5</td>"));
    // the inputs named as given (not a local copy's path)
    assertTrue(html.contains("beta-0.1 (<code>" + a + "</code>)"), html);
    assertTrue(html.contains("training metrics: <code>" + train.resolve("metrics.jsonl") + "</code>"), html);
    for (String png : List.of("loss.png", "reward_vs_kl.png", "reward_distribution_1.png",
        "reward_distribution_2.png")) {
      assertNotNull(ImageIO.read(out.resolve("plots").resolve(png).toFile()), png);
      assertTrue(html.contains("src=\"plots/" + png + "\""), png);
    }

    r = cli("report", "--evaluate", a + "," + b, "--train", train.toString(), "--output", out.toString());
    assertEquals(0, r.code(), r.err());
    assertTrue(r.out().contains("\"skipped\":true"), r.out());

    // an evaluate output that is not complete, and an output directory that is not a report's
    Path half = dir.resolve("half");
    Files.createDirectories(half);
    Files.writeString(half.resolve("eval.json"), "{}");
    r = cli("report", "--evaluate", half.toString(), "--output", dir.resolve("r2").toString());
    assertEquals(2, r.code());
    assertEquals(List.of("error: --evaluate " + half + " is not a complete evaluate output (no _SUCCESS): run the "
        + "evaluate stage (again) first"), r.err().lines().toList());
    r = cli("report", "--evaluate", a.toString(), "--output", train.toString());
    assertEquals(2, r.code());
    assertTrue(r.err().startsWith("error: --output"), r.err());
    assertTrue(Files.exists(train.resolve("metrics.jsonl")), "the train output was touched");
  }

  // ------------------------------------------------------------------------------------------------ fixtures

  /** A complete evaluate output: eval.json with every contract field, 12 samples over 12 prompts. */
  private Path evaluateOutput(String label, double beta, double shift, double kl) throws Exception {
    Path d = dir.resolve(label);
    StringBuilder samples = new StringBuilder();
    for (int p = 0; p < 12; p++) {
      double pr = shift + (p % 5 - 2) * 0.5;
      double rr = (p % 3 - 1) * 0.5;
      samples.append(String.format(Locale.ROOT, "{\"prompt_id\":\"p%d\",\"prompt\":\"Prompt %d <i>\",\"sample\":0,"
          + "\"seed\":%d,\"policy\":{\"completion\":\"policy text %d\",\"tokens\":20,\"reward\":%s,\"logp_policy\":"
          + "%s,\"logp_reference\":-30.0},\"reference\":{\"completion\":\"<script>x</script> %d\",\"tokens\":18,"
          + "\"reward\":%s,\"logp_policy\":-31.0,\"logp_reference\":-29.0}}\n", p, p, 100 + p, p, pr, -30 + kl, p, rr));
    }
    String eval = String.format(Locale.ROOT, """
        {"preference": {"policy": {"pairs": 50, "accuracy": 0.7, "margin_mean": 0.4, "chosen_logp_mean": -50.0,
                                   "rejected_logp_mean": -55.0},
                        "reference": {"pairs": 50, "accuracy": 0.5, "margin_mean": 0.1, "chosen_logp_mean": -52.0,
                                      "rejected_logp_mean": -52.1}},
         "policy": {"reward_mean": %s, "reward_std": 0.7, "logp_mean": -26.0, "length_mean": 20.0},
         "reference": {"reward_mean": 0.0, "reward_std": 0.4, "logp_mean": -29.0, "length_mean": 18.0},
         "kl_mean": %s, "kl_std": 0.0, "win_rate": 0.8, "samples": 12, "prompts": 12, "beta": %s, "label": "%s",
         "settings": {"data": "d", "model": "m", "reference_model": "r", "reward": "lexicon:/x", "prompts": 12,
                      "samples_per_prompt": 1, "max_new_tokens": 24, "temperature": 1.0, "top_p": 1.0, "seed": 42}}
        """, shift, kl, beta, label);
    try (StageOutput o = StageOutput.open("evaluate", "--output", d.toString(), List.of(), new Configuration())) {
      o.begin(label);
      o.writeText("eval.json", eval);
      o.writeText("samples.jsonl", samples.toString());
      o.commit();
    }
    return d;
  }

  /** A complete train output holding a metrics.jsonl of 40 steps with an eval every 10. */
  private Path trainOutput() throws Exception {
    Path d = dir.resolve("run-1");
    StringBuilder m = new StringBuilder();
    for (int s = 0; s <= 40; s++) {
      double margin = 2 * (1 - Math.exp(-s / 15.0));
      double loss = Math.log1p(Math.exp(-margin));
      if (s % 10 == 0) {
        m.append(String.format(Locale.ROOT, "{\"step\":%d,\"epoch\":%s,\"eval_loss\":%s,\"eval_rewards/margins\":%s,"
            + "\"eval_rewards/accuracies\":%s}\n", s, s / 40.0, loss, margin, 0.5 + margin / 4));
      }
      if (s == 0) continue;
      m.append(String.format(Locale.ROOT, "{\"step\":%d,\"epoch\":%s,\"loss\":%s,\"rewards/chosen\":%s,"
          + "\"rewards/rejected\":%s,\"rewards/accuracies\":%s,\"rewards/margins\":%s,\"learning_rate\":1e-6}\n",
          s, s / 40.0, loss + 0.05 * Math.sin(s), 0.4 * margin, -0.6 * margin, 0.5 + margin / 4, margin));
    }
    try (StageOutput o = StageOutput.open("train", "--output", d.toString(), List.of(), new Configuration())) {
      o.begin("t");
      o.writeText("metrics.jsonl", m.toString());
      o.commit();
    }
    return d;
  }

  record Cli(int code, String out, String err) {}

  static Cli cli(String... args) {
    PrintStream oldOut = System.out;
    PrintStream oldErr = System.err;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
    try {
      int code = SparkDpo.run(args);
      return new Cli(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    } finally {
      System.setOut(oldOut);
      System.setErr(oldErr);
    }
  }
}
