package dev.sparkdpo.jobs;

import dev.sparkdpo.jobs.pipeline.Pipeline;
import dev.sparkdpo.jobs.pipeline.PipelineContext;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Every stage from one config file, in one SparkSession, under one run root. */
@Command(name = "pipeline", mixinStandardHelpOptions = true, sortOptions = false, abbreviateSynopsis = true,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {"Runs every stage from one config file, in one Spark session, under one run root.",
        "",
        "Stages: [demo] -> [tokenizer] -> [ingest] -> [init-model] -> [sft] -> [generate-pairs] -> reference -> train"
            + " -> evaluate -> [runs -> frontier].",
        "Config-only keys (no option): pipeline.runs = [ { name = ..., train { ... }, evaluate { ... } } | { name = "
            + "..., best-of = N } ], more policies from the same pairs under <output>/runs/<name>/ (a beta sweep, "
            + "Preferred-FT, Best-of-N), compared in <output>/frontier/ (results.json, frontier.png); "
            + "pipeline.checkpoint-evals = true evaluates every checkpoint too (a curve per run).",
        "Each stage reads its block (demo, tokenizer, ingest, init-model, sft: train's keys with objective sft, "
            + "generate-pairs, reference, train, "
            + "evaluate) and writes <output>/<stage>/; the pipeline wires the paths between them. A stage whose "
            + "complete output is up to date is skipped, so a rerun (or a run after a kill) does only what is left. "
            + "<output>/pipeline.json records each stage: status (ran, skipped, ...), seconds, output, fingerprint.",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class PipelineCommand implements Callable<Integer>, JobConfig.ConfigOnlyKeys {
  private static final Logger LOG = LoggerFactory.getLogger(PipelineCommand.class);

  @Option(names = "--output", paramLabel = "DIR", description = "Run root: every stage's output and pipeline.json.")
  String output;

  @Option(names = "--model", paramLabel = "DIR",
      description = "Hugging Face model to start from (default: init-model writes a new one into the run root).")
  String model;

  @Option(names = "--from", paramLabel = "STAGE",
      description = "First stage to run (default: the first); earlier ones are not run.")
  String from;

  @Option(names = "--to", paramLabel = "STAGE", description = "Last stage to run (default: the last).")
  String to;

  @Option(names = "--force", description = "Rerun the stages from --from on even when their outputs are up to date.")
  Boolean force;

  @Mixin SparkOptions spark;

  @Spec CommandSpec spec;

  /** Runs (a list of blocks) and checkpoint evaluation are set in the config file only. */
  @Override
  public List<String> configOnlyKeys() {
    return List.of("runs", "checkpoint-evals");
  }

  @Override
  public Integer call() {
    JobConfig c = JobConfig.resolve(spec);
    String root = c.required("output");
    Pipeline.Range range = new Pipeline.Range(c.block().hasPath("from") ? c.block().getString("from") : null,
        c.block().hasPath("to") ? c.block().getString("to") : null, c.block().getBoolean("force"));
    // one session for every stage: training's Spark settings (Kryo for ND4J arrays, large results) from the start
    SparkSession session = spark.session(c.config(), c.config().getConfig("train.spark-conf"));
    PipelineContext context = PipelineContext.of(session, c, root);
    Pipeline.run(context, range);
    String report = context.dir(Pipeline.EVALUATE, "report.html");
    LOG.info("pipeline: done; the run is in {} (pipeline.json); the report: {}", dev.sparkdpo.io.StageOutput.show(context.root()),
        report);
    System.out.println("report: " + report);
    return 0;
  }
}
