package dev.sparkdpo.data;

import dev.sparkdpo.data.read.Json;


/**
 * What parsing makes of a record: a normalized pair ({@code reason == null}) or a quarantined record. Only its
 * {@link Markers marker} travels through the dedup shuffle; the text stays in the input files and is read again.
 *
 * @param id pair id (hash of the normalized texts)
 * @param pairKey the id with chosen/rejected in sorted order: equal for a pair and its swapped twin
 * @param line 1-based line where the record starts, or -1
 */
public record ParsedRecord(String id, String pairKey, boolean swapped, String prompt, String chosen, String rejected,
    String format, String source, long record, long line, String reason, String detail, String raw) {

  public static ParsedRecord pair(PreferencePair p, String format, String source, long record, long line) {
    boolean swapped = p.chosen().compareTo(p.rejected()) > 0;
    String key = swapped ? PairNormalizer.pairId(p.prompt(), p.rejected(), p.chosen())
        : PairNormalizer.pairId(p.prompt(), p.chosen(), p.rejected());
    return new ParsedRecord(PairNormalizer.orientedId(key, swapped), key, swapped, p.prompt(), p.chosen(), p.rejected(),
        format, source, record, line, null, null, null);
  }

  public static ParsedRecord bad(String source, long record, long line, RecordException e, String raw) {
    return new ParsedRecord(null, null, false, null, null, null, null, source, record, line, e.reason().code(),
        e.getMessage(), QuarantineReason.clip(raw));
  }

  public boolean isPair() {
    return reason == null;
  }

  /** The same pair (or record) quarantined for {@code why}. */
  public ParsedRecord quarantined(QuarantineReason why, String detail) {
    String rawPair = Json.MAPPER.createObjectNode().put("prompt", prompt).put("chosen", chosen)
        .put("rejected", rejected).toString();
    return new ParsedRecord(id, pairKey, swapped, prompt, chosen, rejected, format, source, record, line, why.code(),
        detail, QuarantineReason.clip(rawPair));
  }
}
