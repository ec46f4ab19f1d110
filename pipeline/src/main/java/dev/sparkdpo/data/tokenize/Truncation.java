package dev.sparkdpo.data.tokenize;

/** Which end of an over-long prompt survives truncation (TRL's {@code truncation_mode}). */
public enum Truncation {
  /** Keep the last tokens of the prompt (the part right before the response). */
  KEEP_END,
  /** Keep the first tokens of the prompt. */
  KEEP_START;

  /** Parses {@code keep_end} / {@code keep_start}, case-insensitively. */
  public static Truncation parse(String s) {
    if (s != null) {
      for (Truncation t : values()) {
        if (t.name().equalsIgnoreCase(s.trim())) {
          return t;
        }
      }
    }
    throw new IllegalArgumentException(
        "unknown truncation mode '" + s + "': expected keep_end or keep_start");
  }
}
