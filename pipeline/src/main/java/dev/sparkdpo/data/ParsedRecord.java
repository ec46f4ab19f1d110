package dev.sparkdpo.data;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * What parsing makes of a record: a normalized pair ({@code reason == null}) or a quarantined record. Travels through
 * the dedup shuffle as compact bytes ({@link #encode}), keyed by {@link #shuffleKey}.
 *
 * @param id pair id (hash of the normalized texts)
 * @param pairKey the id with chosen/rejected in sorted order: equal for a pair and its swapped twin
 * @param line 1-based line where the record starts, or -1
 */
public record ParsedRecord(String id, String pairKey, boolean swapped, String prompt, String chosen, String rejected,
    String format, String source, long record, long line, String reason, String detail, String raw) {

  public static ParsedRecord pair(PreferencePair p, String format, String source, long record, long line) {
    boolean swapped = p.chosen().compareTo(p.rejected()) > 0;
    String id = PairNormalizer.pairId(p.prompt(), p.chosen(), p.rejected());
    String key = swapped ? PairNormalizer.pairId(p.prompt(), p.rejected(), p.chosen()) : id;
    return new ParsedRecord(id, key, swapped, p.prompt(), p.chosen(), p.rejected(), format, source, record, line,
        null, null, null);
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
   * Sort key of the dedup shuffle: pairs group by {@code pairKey} and sort by where they were read (so the first copy
   * in file order is the one kept); bad records sort after all pairs, each on its own.
   */
  public String shuffleKey() {
    String where = source + '\u0000' + String.format("%019d", record);
    return isPair() ? pairKey + '\u0000' + where + '\u0000' + id : "~" + where + '\u0000' + reason;
  }

  /** The part of a {@link #shuffleKey} that decides the partition: the pair key, or the whole key. */
  public static String groupOf(String shuffleKey) {
    return shuffleKey.charAt(0) == '~' ? shuffleKey : shuffleKey.substring(0, shuffleKey.indexOf('\u0000'));
  }

  public byte[] encode() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream(64 + (isPair() ? prompt.length() + chosen.length()
        + rejected.length() : 256));
    try (DataOutputStream out = new DataOutputStream(bytes)) {
      for (String s : new String[] {id, pairKey, prompt, chosen, rejected, format, source, reason, detail, raw}) {
        writeString(out, s);
      }
      out.writeBoolean(swapped);
      out.writeLong(record);
      out.writeLong(line);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return bytes.toByteArray();
  }

  public static ParsedRecord decode(byte[] b) {
    try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(b))) {
      String[] s = new String[10];
      for (int i = 0; i < s.length; i++) s[i] = readString(in);
      boolean swapped = in.readBoolean();
      long record = in.readLong();
      long line = in.readLong();
      return new ParsedRecord(s[0], s[1], swapped, s[2], s[3], s[4], s[5], s[6], record, line, s[7], s[8], s[9]);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void writeString(DataOutputStream out, String s) throws IOException {
    if (s == null) {
      out.writeInt(-1);
      return;
    }
    byte[] b = s.getBytes(StandardCharsets.UTF_8);
    out.writeInt(b.length);
    out.write(b);
  }

  private static String readString(DataInputStream in) throws IOException {
    int n = in.readInt();
    if (n < 0) return null;
    byte[] b = new byte[n];
    in.readFully(b);
    return new String(b, StandardCharsets.UTF_8);
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
