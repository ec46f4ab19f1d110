package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.reference.ReferenceStage;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "reference", mixinStandardHelpOptions = true, sortOptions = false, abbreviateSynopsis = true,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {
        "Scores every ingested pair with the frozen reference model, across executors.",
        "",
        "Writes <output>/pairs/ (the ingest columns + ref_chosen_logp, ref_rejected_logp: summed response log-probs), "
            + "<output>/reference.json (fingerprints of model, tokenizer and data; counts; padding; tokens/s) and "
            + "<output>/_SUCCESS, written last. Re-running with the same inputs does nothing unless --force.",
        "Each executor loads the model once: a local --model path must exist on every worker (shared file system); "
            + "hdfs:/s3a:/... paths are copied to each executor's local disk.",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class ReferenceCommand implements Callable<Integer> {
  @Option(names = "--data", paramLabel = "DIR", description = "Ingest output (tokenized).")
  String data;

  @Option(names = "--model", paramLabel = "DIR",
      description = "Hugging Face model directory (config.json, model.safetensors).")
  String model;

  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically).")
  String output;

  @Option(names = "--batch-tokens", paramLabel = "N",
      description = "Max padded tokens per forward batch; pairs are sorted by length, chosen and rejected together "
          + "(default ${DEFAULT-VALUE}).")
  Long batchTokens;

  @Option(names = "--partitions", paramLabel = "N",
      description = "Repartition the pairs into N tasks first; 0 = as read (default ${DEFAULT-VALUE}).")
  Integer partitions;

  @Option(names = "--progress-seconds", paramLabel = "S",
      description = "Seconds between progress lines (pairs done, tokens/s, ETA) in the driver log "
          + "(default ${DEFAULT-VALUE}).")
  Long progressSeconds;

  @Option(names = "--force", description = "Recompute even when a complete output with the same fingerprint exists.")
  Boolean force;

  @Mixin SparkOptions spark;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    JobConfig c = JobConfig.resolve(spec);
    ReferenceStage.Options opts = options(c);
    SparkSession session = spark.session(c.config());
    ReferenceStage.Result r = ReferenceStage.run(session, opts);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("skipped", r.skipped());
    out.put("fingerprint", r.fingerprint());
    out.put("pairs", r.pairs());
    out.put("real_tokens", r.realTokens());
    out.put("padding_fraction", r.paddingFraction());
    out.put("model_loads", r.modelLoads());
    out.put("seconds", r.seconds());
    out.put("tokens_per_second", r.tokensPerSecond());
    System.out.println(new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsString(out));
    return 0;
  }

  /** The reference block of resolved settings as the stage's options; a bad value names its key. */
  public static ReferenceStage.Options options(JobConfig c) {
    Config r = c.block();
    String data = c.required("data");
    String model = c.required("model");
    String output = c.required("output");
    long batchTokens = r.getLong("batch-tokens");
    if (batchTokens < 1) throw new IllegalArgumentException(c.name("batch-tokens") + " must be >= 1");
    int partitions = r.getInt("partitions");
    if (partitions < 0) throw new IllegalArgumentException(c.name("partitions") + " must be >= 0");
    long progressSeconds = r.getLong("progress-seconds");
    if (progressSeconds < 1) throw new IllegalArgumentException(c.name("progress-seconds") + " must be >= 1");
    return new ReferenceStage.Options(data, model, output, batchTokens, partitions, r.getBoolean("force"),
        progressSeconds);
  }
}
