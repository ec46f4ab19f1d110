package dev.sparkdpo.data.read;

import java.io.Serializable;
import java.util.Locale;

/** One input file and how its bytes are laid out. */
public record InputFile(String path, Container container, long size) implements Serializable {

  /** The file-level layout; the record layout ({@link dev.sparkdpo.data.formats.InputFormat}) is detected inside. */
  public enum Container {
    /** {@code .jsonl}, {@code .ndjson}, and {@code .json} files that do not start with {@code [}. */
    JSON_LINES,
    /** {@code .json} files: a JSON array of records when the first character is {@code [}, else JSON Lines. */
    JSON,
    CSV,
    PARQUET;

    /** By file name, ignoring a compression suffix ({@code .gz}, {@code .bz2}, {@code .zst}…); null if unsupported. */
    public static Container of(String fileName) {
      String n = fileName.toLowerCase(Locale.ROOT).replaceFirst("\\.(gz|bz2|zst|deflate|lz4|snappy)$", "");
      if (n.endsWith(".jsonl") || n.endsWith(".ndjson") || n.endsWith(".jsonlines")) return JSON_LINES;
      if (n.endsWith(".json")) return JSON;
      if (n.endsWith(".csv")) return CSV;
      if (n.endsWith(".parquet")) return PARQUET;
      return null;
    }
  }
}
