package dev.sparkdpo.data.read;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Streams JSON Lines: one record per line, read as bytes. A UTF-8 byte-order mark at the start of a line and a CR
 * before the LF are removed (and counted); blank lines are counted, not records. A line that is not valid UTF-8, not
 * one valid JSON value (a second value or other characters after it included), or longer than {@code maxRecordBytes}
 * becomes a bad {@link RawRecord}; when the bytes stop being readable (a truncated .gz) the unread rest is one
 * {@code unreadable_file} record: the reader never throws on data.
 */
public final class JsonLinesReader extends RecordReader {
  private final InputStream in;
  private final int maxRecordBytes;
  private final ReadCounters counters;
  private final java.util.function.LongPredicate wanted;
  private byte[] buf = new byte[1 << 16];
  private int start;     // first unread byte in buf
  private int end;       // one past the last valid byte in buf
  private boolean eof;
  private long lineNo;
  private RawRecord lineRecord;   // set by readLine; null for a blank line
  private long records;           // records returned so far (non-blank lines)
  private IOException broken;     // the read error that ended the input, until it is reported

  public JsonLinesReader(InputStream in, int maxRecordBytes, ReadCounters counters) {
    this(in, maxRecordBytes, counters, null);
  }

  /** {@code wanted}: line numbers to parse; other non-blank lines come back as {@link RawRecord#SKIPPED} (null = all). */
  public JsonLinesReader(InputStream in, int maxRecordBytes, ReadCounters counters,
      java.util.function.LongPredicate wanted) {
    this.in = in;
    this.maxRecordBytes = maxRecordBytes;
    this.counters = counters;
    this.wanted = wanted;
  }

  @Override
  protected RawRecord read() {
    while (lineRecord == null) {
      if (!readLine()) return null;
    }
    RawRecord r = lineRecord;
    lineRecord = null;
    return r;
  }

  /** Reads one line into {@link #lineRecord} (null for blank lines); false at end of input. */
  private boolean readLine() {
    int nl;
    boolean oversized = false;
    while ((nl = indexOfNewline()) < 0) {
      if (eof) {
        if (broken != null) {   // the partial line and whatever followed it cannot be read: one row
          lineNo++;
          records++;
          String raw = new String(buf, start, Math.min(end - start, 4 * QuarantineReason.RAW_LIMIT), StandardCharsets.UTF_8);
          lineRecord = unreadable(lineNo, lineNo, records - 1, raw, broken);
          broken = null;
          start = end;
          return true;
        }
        if (start == end) return false;
        nl = end;   // last line without a newline
        break;
      }
      if (end - start > maxRecordBytes) {   // keep reading but stop buffering: the line is quarantined anyway
        oversized = true;
        start = end - 64;
      }
      fill();
    }
    lineNo++;
    int from = start;
    int to = nl;
    start = Math.min(nl + 1, end);
    if (oversized || to - from > maxRecordBytes) {
      lineRecord = RawRecord.bad(lineNo, lineNo, null, new RecordException(QuarantineReason.RECORD_TOO_LARGE,
          "line " + lineNo + " is longer than " + maxRecordBytes + " bytes (raise ingest.max-record-bytes)"));
      return true;
    }
    if (to > from && buf[to - 1] == '\r') {
      to--;
      counters.crlfLines++;
    }
    if (to - from >= 3 && buf[from] == (byte) 0xEF && buf[from + 1] == (byte) 0xBB && buf[from + 2] == (byte) 0xBF) {
      from += 3;
      counters.byteOrderMarks++;
    }
    if (isBlank(from, to)) {
      counters.blankLines++;
      return true;
    }
    records++;
    lineRecord = wanted == null || wanted.test(lineNo) ? parse(lineNo, from, to) : RawRecord.SKIPPED;
    return true;
  }

  private RawRecord parse(long line, int from, int to) {
    if (!isUtf8(buf, from, to)) {   // Jackson decodes some invalid sequences leniently: check first
      return RawRecord.bad(line, line, new String(buf, from, to - from, StandardCharsets.UTF_8),
          new RecordException(QuarantineReason.INVALID_UTF8, "line " + line + " is not valid UTF-8; re-encode the file as UTF-8"));
    }
    try (JsonParser p = Json.TREE.createParser(buf, from, to - from)) {
      JsonNode node = Json.TREE.readTree(p);
      // one value per line: Jackson stops after the first, so look at what follows it (only whitespace may)
      int after = from + (int) p.currentLocation().getByteOffset();
      for (int i = after; i < to; i++) {
        byte c = buf[i];
        if (c != ' ' && c != '\t' && c != '\r') {
          return RawRecord.bad(line, line, new String(buf, from, to - from, StandardCharsets.UTF_8),
              new RecordException(QuarantineReason.INVALID_JSON, "line " + line + ": a second JSON value or trailing "
                  + "characters after the record, at column " + column(from, i) + "; put one record per line"));
        }
      }
      return RawRecord.ok(line, line, node);
    } catch (JsonProcessingException e) {
      return RawRecord.bad(line, line, new String(buf, from, to - from, StandardCharsets.UTF_8),
          new RecordException(QuarantineReason.INVALID_JSON, "line " + line + " is not valid JSON: " + e.getOriginalMessage()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The 1-based character column of byte {@code at} in a line starting at {@code from} (UTF-8: skip continuations). */
  private int column(int from, int at) {
    int col = 1;
    for (int i = from; i < at; i++) if ((buf[i] & 0xC0) != 0x80) col++;
    return col;
  }

  /** The next '\n' at or after {@code start}, eight bytes at a time (this loop runs over every input byte). */
  private int indexOfNewline() {
    int i = start;
    for (; i + 8 <= end; i += 8) {
      long w = (long) LONGS.get(buf, i) ^ 0x0A0A0A0A0A0A0A0AL;          // a zero byte where a '\n' was
      long zero = (w - 0x0101010101010101L) & ~w & 0x8080808080808080L;
      if (zero != 0) return i + (Long.numberOfTrailingZeros(zero) >>> 3);
    }
    for (; i < end; i++) if (buf[i] == '\n') return i;
    return -1;
  }

  private static final java.lang.invoke.VarHandle LONGS =
      java.lang.invoke.MethodHandles.byteArrayViewVarHandle(long[].class, java.nio.ByteOrder.LITTLE_ENDIAN);

  private boolean isBlank(int from, int to) {
    for (int i = from; i < to; i++) {
      byte c = buf[i];
      if (c != ' ' && c != '\t' && c != '\r') return false;
    }
    return true;
  }

  private void fill() {
    if (start > 0) {                       // slide the unread bytes to the front
      System.arraycopy(buf, start, buf, 0, end - start);
      end -= start;
      start = 0;
    }
    if (end == buf.length) buf = Arrays.copyOf(buf, buf.length * 2);
    try {
      int n = in.read(buf, end, buf.length - end);
      if (n < 0) eof = true;
      else end += n;
    } catch (IOException e) {   // the lines already buffered are still records; the rest is one unreadable row
      broken = e;
      eof = true;
    }
  }

  /** True when the bytes are well-formed UTF-8; ASCII (the common case) costs one comparison per byte. */
  static boolean isUtf8(byte[] b, int from, int to) {
    int i = from;
    while (i + 8 <= to && ((long) LONGS.get(b, i) & 0x8080808080808080L) == 0) i += 8;
    while (i < to && b[i] >= 0) i++;
    if (i == to) return true;
    try {
      StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(b, i, to - i));
      return true;
    } catch (CharacterCodingException e) {
      return false;
    }
  }
}
