package dev.sparkdpo.data;

/** Why a record or pair did not become an output pair; {@link #code()} is what {@code quarantine/} and stats.json show. */
public enum QuarantineReason {
  INVALID_UTF8("invalid_utf8"),
  INVALID_JSON("invalid_json"),
  INVALID_TEXT("invalid_text"),
  INVALID_CSV("invalid_csv"),
  UNREADABLE_FILE("unreadable_file"),
  NOT_AN_OBJECT("not_an_object"),
  UNKNOWN_FORMAT("unknown_format"),
  MISSING_FIELD("missing_field"),
  WRONG_TYPE("wrong_type"),
  RECORD_TOO_LARGE("record_too_large"),
  EMPTY_PROMPT("empty_prompt"),
  EMPTY_RESPONSE("empty_response"),
  IDENTICAL_RESPONSES("identical_responses"),
  TOO_LONG("too_long"),
  HH_PREFIX_MISMATCH("hh_prefix_mismatch"),
  HH_NO_ASSISTANT_TURN("hh_no_assistant_turn"),
  INVALID_MESSAGES("invalid_messages"),
  NO_PREFERENCE("no_preference"),
  CONFLICTING_PREFERENCE("conflicting_preference"),
  EXACT_DUPLICATE("exact_duplicate"),
  NEAR_DUPLICATE("near_duplicate");

  /** Longest raw text kept in a quarantine row (a clipped one ends with "…"). */
  public static final int RAW_LIMIT = 2000;

  private final String code;

  QuarantineReason(String code) { this.code = code; }

  public String code() { return code; }

  public static String clip(String raw) {
    return raw == null || raw.length() <= RAW_LIMIT ? raw : raw.substring(0, RAW_LIMIT - 1) + "…";
  }
}
