package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.reference.ReferenceStage;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "reference", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Scores every pair of a tokenized ingest output with the frozen reference model, across executors:",
        "<output>/pairs/ (the ingest columns + ref_chosen_logp, ref_rejected_logp: summed response log-probs),",
        "<output>/reference.json (fingerprints of model, tokenizer and data; counts; padding; tokens/s) and",
        "<output>/_SUCCESS, written last. Re-running with the same inputs does nothing unless --force.",
        "Each executor loads the model once: a local --model path must exist on every worker (shared file system);",
        "hdfs:/s3a:/... paths are copied to each executor's local disk. Every option is also a key of the HOCON",
        "'reference' block."})
public final class ReferenceCommand implements Callable<Integer> {
  @Option(names = "--data", paramLabel = "DIR", description = "Ingest output (tokenized). Key: reference.data")
  String data;

  @Option(names = "--model", paramLabel = "DIR",
      description = "Hugging Face model directory (config.json, model.safetensors). Key: reference.model")
  String model;

  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically). Key: reference.output")
  String output;

  @Option(names = "--batch-tokens", paramLabel = "N",
      description = "Max padded tokens per forward batch (default 16384). Key: reference.batch-tokens")
  Long batchTokens;

  @Option(names = "--partitions", paramLabel = "N",
      description = "Repartition the pairs into N tasks first; 0 = as read (default). Key: reference.partitions")
  Integer partitions;

  @Option(names = "--force", description = "Recompute even when a complete output with the same fingerprint exists.")
  Boolean force;

  @Mixin SparkOptions spark;

  @Override
  public Integer call() throws Exception {
    Config c = config();
    ReferenceStage.Options opts = options(c);
    SparkSession session = spark.session(c);
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

  Config config() {
    return new JobConfig(spark.config)
        .set("reference.data", data)
        .set("reference.model", model)
        .set("reference.output", output)
        .set("reference.batch-tokens", batchTokens)
        .set("reference.partitions", partitions)
        .set("reference.force", force)
        .resolve();
  }

  static ReferenceStage.Options options(Config c) {
    Config r = c.getConfig("reference");
    for (String key : new String[] {"data", "model", "output"}) {
      if (!r.hasPath(key)) throw new IllegalArgumentException("give --" + key + " (or reference." + key + " in --config)");
    }
    long batchTokens = r.getLong("batch-tokens");
    if (batchTokens < 1) throw new IllegalArgumentException("--batch-tokens / reference.batch-tokens must be >= 1");
    int partitions = r.getInt("partitions");
    if (partitions < 0) throw new IllegalArgumentException("--partitions / reference.partitions must be >= 0");
    return new ReferenceStage.Options(r.getString("data"), r.getString("model"), r.getString("output"), batchTokens,
        partitions, r.getBoolean("force"), r.getLong("progress-seconds"));
  }
}
