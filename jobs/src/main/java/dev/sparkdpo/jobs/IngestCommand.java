package dev.sparkdpo.jobs;

import com.typesafe.config.Config;
import dev.sparkdpo.data.Ingest;
import dev.sparkdpo.data.IngestOptions;
import dev.sparkdpo.data.IngestStats;
import dev.sparkdpo.data.formats.FormatOptions;
import dev.sparkdpo.data.formats.InputFormat;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

@Command(name = "ingest", mixinStandardHelpOptions = true, sortOptions = false,
    description = {
        "Preference files (JSONL/JSON/CSV/Parquet; flat, hh, messages, ranked) -> normalized, validated, deduplicated,",
        "split and optionally tokenized pairs: <output>/pairs/ (Parquet, split=train|eval), <output>/quarantine/",
        "(Parquet: source, record, line, reason, detail, raw), <output>/stats.json and <output>/_SUCCESS (written last).",
        "Every option is also a key of the HOCON 'ingest' block (e.g. ingest.near-dup-threshold)."})
public final class IngestCommand implements Callable<Integer> {
  @Option(names = "--input", paramLabel = "PATH", arity = "1..*", split = ",",
      description = "Input files, directories or globs (repeatable; file:, hdfs:, s3a: …). Key: ingest.input")
  List<String> input;

  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically). Key: ingest.output")
  String output;

  @Option(names = "--format", paramLabel = "FMT",
      description = "auto (detect per file, default) | flat | hh | messages | ranked. Key: ingest.format")
  String format;

  @Option(names = "--tokenizer", paramLabel = "PATH",
      description = "tokenizer.json or a Hugging Face model directory: adds prompt_ids/chosen_ids/rejected_ids. Key: ingest.tokenizer")
  String tokenizer;

  @Option(names = "--max-length", paramLabel = "N",
      description = "Max tokens of prompt + longer response; 0 = no limit (default). Key: ingest.max-length")
  Integer maxLength;

  @Option(names = "--max-prompt-length", paramLabel = "N",
      description = "Max prompt tokens; default max-length/2 when --max-length is set. Key: ingest.max-prompt-length")
  Integer maxPromptLength;

  @Option(names = "--truncation", paramLabel = "MODE",
      description = "keep_end (default: keep the end of a long prompt) | keep_start. Key: ingest.truncation")
  String truncation;

  @Option(names = "--append-eos", paramLabel = "BOOL", arity = "1",
      description = "Append the tokenizer's EOS token to responses (default true). Key: ingest.append-eos")
  Boolean appendEos;

  @Option(names = "--near-dup-threshold", paramLabel = "J",
      description = "Drop near-duplicate pairs at Jaccard similarity >= J of character shingles (MinHash LSH); "
          + "0 = off (default). Key: ingest.near-dup-threshold")
  Double nearDupThreshold;

  @Option(names = "--eval-fraction", paramLabel = "F",
      description = "Fraction of pairs in split=eval, chosen by hash of the pair id (default 0.05). Key: ingest.eval-fraction")
  Double evalFraction;

  @Option(names = "--seed", paramLabel = "S", description = "Seed of the split and of MinHash (default 42). Key: ingest.seed")
  Long seed;

  @Option(names = "--max-chars", paramLabel = "N",
      description = "Quarantine pairs with a prompt or response longer than N characters (default 100000; 0 = no limit). Key: ingest.max-chars")
  Integer maxChars;

  @Option(names = "--ranked-pairs", paramLabel = "MODE",
      description = "Ranked records: best (best vs each worse, default) | all (every better/worse pair). Key: ingest.ranked-pairs")
  String rankedPairs;

  @Option(names = "--min-score-gap", paramLabel = "G",
      description = "Ranked records: minimum score difference of a pair (default 0). Key: ingest.min-score-gap")
  Double minScoreGap;

  @Option(names = "--min-score-ratio", paramLabel = "R",
      description = "Ranked records: minimum score ratio better/worse when both are positive (SHP; default 1 = off). Key: ingest.min-score-ratio")
  Double minScoreRatio;

  @Option(names = "--overwrite", description = "Replace an existing output directory (only once the new one is complete).")
  Boolean overwrite;

  @Mixin SparkOptions spark;

  @Override
  public Integer call() {
    Config c = config();
    IngestOptions opts = options(c);
    SparkSession session = spark.session(c);
    IngestStats stats = Ingest.run(session, opts);
    System.out.println(stats.toJson());
    return 0;
  }

  /** Defaults, then --config, then the options given on the command line. */
  Config config() {
    return new JobConfig(spark.config)
        .set("ingest.input", input)
        .set("ingest.output", output)
        .set("ingest.format", format)
        .set("ingest.tokenizer", tokenizer)
        .set("ingest.max-length", maxLength)
        .set("ingest.max-prompt-length", maxPromptLength)
        .set("ingest.truncation", truncation)
        .set("ingest.append-eos", appendEos)
        .set("ingest.near-dup-threshold", nearDupThreshold)
        .set("ingest.eval-fraction", evalFraction)
        .set("ingest.seed", seed)
        .set("ingest.max-chars", maxChars)
        .set("ingest.ranked-pairs", rankedPairs)
        .set("ingest.min-score-gap", minScoreGap)
        .set("ingest.min-score-ratio", minScoreRatio)
        .set("ingest.overwrite", overwrite)
        .resolve();
  }

  /** The ingest block of a resolved config as options; a bad value names its key. */
  static IngestOptions options(Config c) {
    Config i = c.getConfig("ingest");
    if (!i.hasPath("output")) throw new IllegalArgumentException("give --output (or ingest.output in --config)");
    TokenizerSpec tok = null;
    if (i.hasPath("tokenizer")) {
      int maxLen = i.getInt("max-length");
      int maxPrompt = i.getInt("max-prompt-length");
      if (maxPrompt == 0 && maxLen > 0) maxPrompt = maxLen / 2;
      tok = new TokenizerSpec(i.getString("tokenizer"), maxLen, maxPrompt, Truncation.parse(i.getString("truncation")),
          i.getBoolean("append-eos"));
    }
    String ranked = i.getString("ranked-pairs");
    if (!ranked.equals("best") && !ranked.equals("all")) {
      throw new IllegalArgumentException("--ranked-pairs / ingest.ranked-pairs: use best or all, got '" + ranked + "'");
    }
    return new IngestOptions(
        i.getStringList("input"),
        i.getString("output"),
        InputFormat.parseOrAuto(i.getString("format")),
        new FormatOptions(ranked.equals("all"), i.getDouble("min-score-gap"), i.getDouble("min-score-ratio")),
        i.getInt("max-chars"),
        i.getInt("max-record-bytes"),
        i.getDouble("near-dup-threshold"),
        i.getInt("near-dup-shingle"),
        i.getInt("near-dup-hash-tables"),
        i.getDouble("eval-fraction"),
        i.getLong("seed"),
        tok,
        i.getBoolean("overwrite"));
  }
}
