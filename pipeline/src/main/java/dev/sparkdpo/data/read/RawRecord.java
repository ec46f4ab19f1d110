package dev.sparkdpo.data.read;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.RecordException;

/**
 * One record as read from a file: either a parsed JSON value or the error that kept it from being one.
 *
 * @param record 1-based record number in its file (the line number for JSONL)
 * @param line 1-based line where the record starts, or -1 when the file has no lines (Parquet)
 * @param node the parsed record, null when {@code error} is set
 * @param raw the raw text when it is at hand without extra work (null for parsed JSON: re-serialize on demand)
 */
public record RawRecord(long record, long line, JsonNode node, String raw, RecordException error) {
  /** A record the reader counted but did not parse, because the scan does not want it (see JsonLinesReader). */
  public static final RawRecord SKIPPED = new RawRecord(-1, -1, null, null, null);

  public static RawRecord ok(long record, long line, JsonNode node) {
    return new RawRecord(record, line, node, null, null);
  }

  public static RawRecord bad(long record, long line, String raw, RecordException error) {
    return new RawRecord(record, line, null, raw, error);
  }

  public String rawText() {
    return raw != null ? raw : node != null ? node.toString() : null;
  }
}
