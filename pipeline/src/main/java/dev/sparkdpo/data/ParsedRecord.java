package dev.sparkdpo.data;


/**
 * What parsing makes of a record: a normalized pair ({@code reason == null}) or a quarantined record. Only its
 * {@link #marker} travels through the dedup shuffle; the text stays in the input files and is read again.
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
    String rawPair = "{\"prompt\": " + quote(prompt) + ", \"chosen\": " + quote(chosen) + ", \"rejected\": "
        + quote(rejected) + "}";
    return new ParsedRecord(id, pairKey, swapped, prompt, chosen, rejected, format, source, record, line, why.code(),
        detail, QuarantineReason.clip(rawPair));
  }

  /**
   * The dedup shuffle: the first 64 bits of the pair key are the shuffle key ({@link #shuffleKey}); the marker carries
   * the other 64 (so a 64-bit collision never merges two pairs), then the file index and record number in fixed-width
   * hex (markers sort in input order), the orientation and the id.
   */
  public long shuffleKey() {
    return Long.parseUnsignedLong(pairKey.substring(0, 16), 16);
  }

  public String marker(int fileIndex) {
    if (!isPair()) {                                     // a bad record: only where it is, for scan 3
      StringBuilder sb = new StringBuilder(25).append(BAD);
      hex(sb, fileIndex, 8);
      hex(sb, record, 16);
      return sb.toString();
    }
    StringBuilder sb = new StringBuilder(80).append(pairKey, 16, 32);
    hex(sb, fileIndex, 8);
    hex(sb, record, 16);
    return sb.append(swapped ? '1' : '0').append(id).toString();
  }

  /** Shuffle key of a bad record: spread by file and record (it is alone in its group). */
  public long badShuffleKey(int fileIndex) {
    long h = (fileIndex * 0x9E3779B97F4A7C15L) ^ record;
    return h ^ (h >>> 29) * 0xBF58476D1CE4E5B9L;
  }

  static final char BAD = '~';

  static boolean isBadMarker(String marker) {
    return marker.charAt(0) == BAD;
  }

  static int badMarkerFile(String marker) {
    return Integer.parseUnsignedInt(marker.substring(1, 9), 16);
  }

  static long badMarkerRecord(String marker) {
    return Long.parseUnsignedLong(marker.substring(9, 25), 16);
  }

  /** The key of this pair in a file's drop list: record number and id. */
  public String position() {
    return record + ":" + id;
  }

  static String markerKeyTail(String marker) {
    return marker.substring(0, 16);
  }

  static int markerFile(String marker) {
    return Integer.parseUnsignedInt(marker.substring(16, 24), 16);
  }

  static long markerRecord(String marker) {
    return Long.parseUnsignedLong(marker.substring(24, 40), 16);
  }

  static boolean markerSwapped(String marker) {
    return marker.charAt(40) == '1';
  }

  static String markerPosition(String marker) {
    return markerRecord(marker) + ":" + marker.substring(41);
  }

  private static void hex(StringBuilder sb, long v, int digits) {
    for (int shift = (digits - 1) * 4; shift >= 0; shift -= 4) sb.append(Character.forDigit((int) (v >>> shift) & 15, 16));
  }

  private static String quote(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\t' -> sb.append("\\t");
        default -> {
          if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
          else sb.append(c);
        }
      }
    }
    return sb.append('"').toString();
  }
}
