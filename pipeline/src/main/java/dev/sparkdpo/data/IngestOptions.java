package dev.sparkdpo.data;

import dev.sparkdpo.data.formats.FormatOptions;
import dev.sparkdpo.data.formats.InputFormat;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import java.io.Serializable;
import java.util.List;

/**
 * Everything the ingest stage needs; the CLI and the HOCON {@code ingest} block both fill this.
 *
 * @param format null = detect per file
 * @param maxChars quarantine pairs whose prompt or a response is longer than this many characters (0 = no limit)
 * @param maxRecordBytes quarantine input lines/records larger than this without buffering them whole
 * @param nearDupThreshold Jaccard similarity of character shingles at or above which pairs are near-duplicates;
 *     0 = near-duplicate removal off
 * @param nearDupHashTables deprecated and ignored (the banded LSH derives its bands from the threshold); kept so
 *     existing command lines and config files still parse, with a warning when not 0
 * @param evalFraction the fraction of pairs (by id hash) that go to {@code split=eval}
 * @param tokenizer null = no token columns
 */
public record IngestOptions(
    List<String> inputs,
    String output,
    InputFormat format,
    FormatOptions formatOptions,
    int maxChars,
    int maxRecordBytes,
    double nearDupThreshold,
    int nearDupShingle,
    int nearDupHashTables,
    double evalFraction,
    long seed,
    TokenizerSpec tokenizer,
    boolean overwrite) implements Serializable {

  public IngestOptions {
    if (inputs == null || inputs.isEmpty()) throw new IllegalArgumentException("give at least one --input");
    if (output == null || output.isBlank()) throw new IllegalArgumentException("give --output");
    if (evalFraction < 0 || evalFraction >= 1) {
      throw new IllegalArgumentException("--eval-fraction must be in [0, 1), got " + evalFraction);
    }
    if (nearDupThreshold < 0 || nearDupThreshold > 1) {
      throw new IllegalArgumentException("--near-dup-threshold must be 0 (off) or a Jaccard similarity in (0, 1], got "
          + nearDupThreshold);
    }
    if (maxChars < 0) throw new IllegalArgumentException("--max-chars must be >= 0 (0 = no limit), got " + maxChars);
    if (nearDupShingle < 1) throw new IllegalArgumentException("--near-dup-shingle must be >= 1, got " + nearDupShingle);
    if (nearDupHashTables < 0) {
      throw new IllegalArgumentException("--near-dup-hash-tables (deprecated, ignored) must be >= 0, got "
          + nearDupHashTables);
    }
    if (maxRecordBytes < 1024) throw new IllegalArgumentException("max-record-bytes must be >= 1024");
    inputs = List.copyOf(inputs);
  }
}
