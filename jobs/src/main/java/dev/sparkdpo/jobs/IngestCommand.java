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
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "ingest", mixinStandardHelpOptions = true, sortOptions = false, abbreviateSynopsis = true,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {
        "Turns preference files into validated, deduplicated, split training pairs.",
        "",
        "Reads JSONL/JSON/CSV/Parquet records (flat, hh, messages or ranked layout). Writes <output>/pairs/ (Parquet, "
            + "split=train|eval; with --tokenizer also prompt_ids, chosen_ids, rejected_ids), <output>/quarantine/ "
            + "(Parquet: source, record, line, reason, detail, raw), <output>/stats.json and <output>/_SUCCESS "
            + "(written last).",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class IngestCommand implements Callable<Integer> {
  @Option(names = "--input", paramLabel = "PATH", arity = "1..*", split = ",",
      description = "Input files, directories or globs (repeatable; file:, hdfs:, s3a: ...).")
  List<String> input;

  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically).")
  String output;

  @Option(names = "--format", paramLabel = "FMT", completionCandidates = Choices.Formats.class,
      description = "Record layout: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}: detect per file).")
  String format;

  @Option(names = "--tokenizer", paramLabel = "PATH",
      description = "tokenizer.json or a Hugging Face model directory: adds prompt_ids/chosen_ids/rejected_ids.")
  String tokenizer;

  @Option(names = "--max-length", paramLabel = "N",
      description = "Max tokens of prompt + longer response; 0 = no limit (default ${DEFAULT-VALUE}). "
          + "Needs --tokenizer.")
  Integer maxLength;

  @Option(names = "--max-prompt-length", paramLabel = "N",
      description = "Max prompt tokens; 0 = max-length/2 when --max-length is set (default ${DEFAULT-VALUE}). "
          + "Needs --tokenizer.")
  Integer maxPromptLength;

  @Option(names = "--truncation", paramLabel = "MODE", completionCandidates = Choices.Truncations.class,
      description = "Which end of a long prompt survives: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}). "
          + "Needs --tokenizer.")
  String truncation;

  @Option(names = "--append-eos", paramLabel = "BOOL", arity = "1",
      description = "Append the tokenizer's EOS token to responses (default ${DEFAULT-VALUE}). Needs --tokenizer.")
  Boolean appendEos;

  @Option(names = "--near-dup-threshold", paramLabel = "J",
      description = "Drop near-duplicate pairs at Jaccard similarity >= J of character shingles (banded MinHash "
          + "LSH, candidates verified on exact Jaccard); "
          + "0 = off (default ${DEFAULT-VALUE}).")
  Double nearDupThreshold;

  @Option(names = "--near-dup-shingle", paramLabel = "N",
      description = "Characters per shingle of the near-duplicate check (default ${DEFAULT-VALUE}). "
          + "Needs --near-dup-threshold.")
  Integer nearDupShingle;

  @Option(names = "--near-dup-hash-tables", paramLabel = "N",
      description = "Deprecated and ignored (a warning is logged when not 0): the LSH bands follow from "
          + "--near-dup-threshold (default ${DEFAULT-VALUE}). Needs --near-dup-threshold.")
  Integer nearDupHashTables;

  @Option(names = "--eval-fraction", paramLabel = "F",
      description = "Fraction of pairs in split=eval, chosen by hash of the pair id (default ${DEFAULT-VALUE}).")
  Double evalFraction;

  @Option(names = "--seed", paramLabel = "S",
      description = "Seed of the split and of the MinHash family (default ${DEFAULT-VALUE}).")
  Long seed;

  @Option(names = "--max-chars", paramLabel = "N",
      description = "Quarantine pairs with a prompt or response longer than N characters; 0 = no limit "
          + "(default ${DEFAULT-VALUE}).")
  Integer maxChars;

  @Option(names = "--max-record-bytes", paramLabel = "N",
      description = "Quarantine an input line / record larger than N bytes without buffering it "
          + "(default ${DEFAULT-VALUE}; at least 1024).")
  Integer maxRecordBytes;

  @Option(names = "--ranked-pairs", paramLabel = "MODE", completionCandidates = Choices.RankedPairs.class,
      description = "Ranked records: ${COMPLETION-CANDIDATES} (default ${DEFAULT-VALUE}). best: the best completion "
          + "vs each worse one; all: every better/worse pair.")
  String rankedPairs;

  @Option(names = "--min-score-gap", paramLabel = "G",
      description = "Ranked records: minimum score difference of a pair (default ${DEFAULT-VALUE}).")
  Double minScoreGap;

  @Option(names = "--min-score-ratio", paramLabel = "R",
      description = "Ranked records: minimum score ratio better/worse when both are positive (SHP); 1 = off "
          + "(default ${DEFAULT-VALUE}).")
  Double minScoreRatio;

  @Option(names = "--overwrite",
      description = "Replace an existing output directory (only once the new one is complete).")
  Boolean overwrite;

  @Mixin SparkOptions spark;

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    JobConfig c = JobConfig.resolve(spec);
    IngestOptions opts = options(c);
    SparkSession session = spark.session(c.config());
    IngestStats stats = Ingest.run(session, opts);
    System.out.println(stats.toJson());
    return 0;
  }

  /** The ingest block of resolved settings as options; a bad value or a setting that does nothing names its key. */
  public static IngestOptions options(JobConfig c) {
    Config i = c.block();
    String output = c.required("output");
    InputFormat format = InputFormat.parseOrAuto(i.getString("format"));
    TokenizerSpec tok = tokenizer(c);
    String ranked = i.getString("ranked-pairs");
    if (!Choices.RankedPairs.VALUES.contains(ranked)) {
      throw new IllegalArgumentException(c.name("ranked-pairs") + ": use " + String.join(" or ",
          Choices.RankedPairs.VALUES) + ", got '" + ranked + "'");
    }
    // score filters only read ranked records: with another explicit format they would change nothing
    boolean mayBeRanked = format == null || format == InputFormat.RANKED;
    for (String key : List.of("ranked-pairs", "min-score-gap", "min-score-ratio")) {
      c.check(key, mayBeRanked, "--format ranked or auto (it applies to ranked records only)",
          "use --format ranked or auto, or drop it");
    }
    // the shingle size (and the deprecated hash tables) tune near-duplicate removal, which is off at threshold 0
    boolean nearDup = i.getDouble("near-dup-threshold") > 0;
    for (String key : List.of("near-dup-shingle", "near-dup-hash-tables")) {
      c.check(key, nearDup, "--near-dup-threshold > 0 (near-duplicate removal is off)",
          "add --near-dup-threshold J, e.g. 0.9 (or ingest.near-dup-threshold in --config)");
    }
    return new IngestOptions(
        i.getStringList("input"),
        output,
        format,
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

  /** The tokenizer settings, or null without --tokenizer: then a token setting the user gave would do nothing. */
  private static TokenizerSpec tokenizer(JobConfig c) {
    Config i = c.block();
    boolean hasTokenizer = i.hasPath("tokenizer");
    String fix = "add --tokenizer <tokenizer.json or model dir> (or ingest.tokenizer in --config)";
    c.check("max-length", hasTokenizer, "--tokenizer (token limits count tokens)", fix);
    c.check("max-prompt-length", hasTokenizer, "--tokenizer (token limits count tokens)", fix);
    c.check("truncation", hasTokenizer, "--tokenizer (truncation cuts tokens)", fix);
    c.check("append-eos", hasTokenizer, "--tokenizer (the EOS token is the tokenizer's)", fix);
    if (!hasTokenizer) return null;
    int maxLen = i.getInt("max-length");
    int maxPrompt = i.getInt("max-prompt-length");
    if (maxPrompt == 0 && maxLen > 0) maxPrompt = maxLen / 2;
    return new TokenizerSpec(i.getString("tokenizer"), maxLen, maxPrompt, Truncation.parse(i.getString("truncation")),
        i.getBoolean("append-eos"));
  }
}
