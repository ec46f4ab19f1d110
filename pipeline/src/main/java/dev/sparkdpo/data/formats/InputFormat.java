package dev.sparkdpo.data.formats;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PreferencePair;
import java.util.List;
import java.util.Locale;

/** The record layouts ingest understands. README's "Formats" section has one example of each. */
public enum InputFormat {
  /** {@code prompt}, {@code chosen}, {@code rejected} strings (TRL "standard, explicit prompt"). */
  FLAT,
  /** Anthropic HH-RLHF: {@code chosen} and {@code rejected} are whole transcripts sharing the prompt. */
  HH,
  /** Chat lists of {@code {role, content}}: explicit {@code prompt} list, or the shared leading messages. */
  MESSAGES,
  /** One prompt with scored completions ({@code completions: [{text, score}]}, or SHP's A/B columns). */
  RANKED;

  private final String code = name().toLowerCase(Locale.ROOT);

  public String code() { return code; }

  /** Parses a {@code --format} value; {@code auto} gives null (detect per file). */
  public static InputFormat parseOrAuto(String value) {
    String v = value.trim().toLowerCase(Locale.ROOT);
    if (v.equals("auto")) return null;
    for (InputFormat f : values()) if (f.code().equals(v)) return f;
    throw new IllegalArgumentException("unknown format '" + value + "': use auto, flat, hh, messages or ranked");
  }

  /**
   * Detects the layout from one record's fields, or returns null when they match none.
   * Order matters: ranked and messages records may also carry a string {@code prompt}.
   */
  public static InputFormat detect(JsonNode record) {
    if (!record.isObject()) return null;
    if (record.has("completions") || (record.has("human_ref_A") && record.has("human_ref_B"))) return RANKED;
    JsonNode chosen = record.get("chosen");
    JsonNode rejected = record.get("rejected");
    JsonNode prompt = record.get("prompt");
    if ((chosen != null && chosen.isArray()) || (prompt != null && prompt.isArray())) return MESSAGES;
    if (chosen == null || rejected == null) return null;
    return prompt == null ? HH : FLAT;
  }

  /** The pairs one record yields; throws {@link dev.sparkdpo.data.RecordException} with the reason otherwise. */
  public List<PreferencePair> pairs(JsonNode record, FormatOptions options) {
    return switch (this) {
      case FLAT -> FlatFormat.pairs(record);
      case HH -> HhFormat.pairs(record);
      case MESSAGES -> MessagesFormat.pairs(record);
      case RANKED -> RankedFormat.pairs(record, options);
    };
  }
}
