package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.report.ReportStage;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false, abbreviateSynopsis = true,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {
        "Draws the report of finished runs: curves, rewards, reward vs KL, samples.",
        "",
        "Writes <output>/report.html (plain HTML + CSS; open it in a browser) and <output>/plots/*.png. Several "
            + "--evaluate outputs (e.g. runs at different beta) are compared on one page: one row each in the summary,"
            + " one point each on the reward-vs-KL chart. The evaluate stage writes the same report into its own "
            + "output; this command rebuilds it or compares runs. No Spark.",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class ReportCommand implements Callable<Integer> {
  @Option(names = "--evaluate", paramLabel = "DIR", arity = "1..*", split = ",",
      description = "Evaluate outputs (eval.json + samples.jsonl), comma-separated or repeated.")
  List<String> evaluate;

  @Option(names = "--train", paramLabel = "DIR",
      description = "A train output: its metrics.jsonl gives the training curves (optional).")
  String train;

  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically).")
  String output;

  @Option(names = "--force", description = "Redraw even when a complete report of the same inputs exists.")
  Boolean force;

  @Mixin ConfigFileOption config;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    ReportStage.Result r = ReportStage.run(options(JobConfig.resolve(spec)), new Configuration());
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("skipped", r.skipped());
    out.put("fingerprint", r.fingerprint());
    out.put("report", r.output() + "/report.html");
    out.put("plots", r.plots());
    out.put("seconds", r.seconds());
    System.out.println(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(out));
    return 0;
  }

  /** The report block of resolved settings as the stage's options; a missing value names its key. */
  static ReportStage.Options options(JobConfig c) {
    Config r = c.block();
    String output = c.required("output");
    String train = r.hasPath("train") ? r.getString("train") : null;
    return new ReportStage.Options(r.getStringList("evaluate"), train, output, r.getBoolean("force"));
  }
}
