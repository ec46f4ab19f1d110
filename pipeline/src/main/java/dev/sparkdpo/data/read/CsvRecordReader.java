package dev.sparkdpo.data.read;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Streams a CSV file with a header row as records of string fields named by the header, strictly by RFC 4180: a value
 * is either unquoted (no quote in it) or quoted (quotes inside doubled, may span lines), after a closing quote only a
 * comma or a line end may follow, and a quote left open at the end of the file is an error. Line ends are LF, CRLF or
 * a lone CR; blank lines are counted, not records; a UTF-8 byte-order mark before the header is removed and counted.
 *
 * <p>Hand-written, not univocity (which this reader used before): univocity's lenient quote handling silently joins
 * rows around a stray quote (an unterminated quote swallowed the next row), and its strict mode stops at the first
 * error without saying where the bad row ends, so the rows after it were lost. The state machine runs on bytes: the
 * comma, the quote and line ends are ASCII, which never occur inside a UTF-8 multi-byte sequence, so values are cut
 * from the bytes and each value is checked as UTF-8 once (a value that is not becomes an {@code invalid_utf8} row).
 *
 * <p>Recovery from a malformed row ({@code invalid_csv}, the detail names the line and column):
 * <ul>
 *   <li>an error on the row's first line (a character after a closing quote, a quote inside an unquoted value, a quote
 *       still open at the end of the file): the text from the start of the row to the end of that line is one bad row
 *       and reading continues at the next line;</li>
 *   <li>an error found after a quoted value ran on over a line end: the quote is taken as unterminated (the usual
 *       cause: it swallowed the lines after it), only the row's first line is one bad row, and reading continues at the
 *       row's second line. A value that legitimately spans lines and then breaks gives one bad row per line.</li>
 * </ul>
 * A row with a different number of values than the header is {@code invalid_csv}; a row longer than
 * {@code maxRecordBytes} is {@code record_too_large} (read to its end without being buffered); a malformed header
 * is one {@code invalid_csv} row for the whole file (no row can be named without it). When the bytes stop being
 * readable (a truncated .gz), the unread rest is one {@code unreadable_file} row. The reader never throws on data.
 */
public final class CsvRecordReader extends RecordReader {
  private static final byte QUOTE = '"';
  private static final byte COMMA = ',';
  private static final byte CR = '\r';
  private static final byte LF = '\n';
  private static final int END = 0;
  private static final int BLANK = 1;
  private static final int OK = 2;
  private static final int ERROR = 3;
  private static final int HEAD_BYTES = 4 * QuarantineReason.RAW_LIMIT;

  private final InputStream in;
  private final int maxRecordBytes;
  private final ReadCounters counters;
  private byte[] buf = new byte[1 << 16];
  private int pos;                // next byte to scan
  private int end;                // one past the last valid byte
  private boolean eof;
  private IOException broken;     // the read error that ended the input

  private long line = 1;          // physical line of pos
  private int lineStart;          // index in buf where that line starts; -1 once dropped from the buffer

  // the row being scanned (indexes into buf, moved by fill)
  private int recStart;
  private long recLine;
  private int recEnd;             // end of the row's text, before its line end
  private int secondLine;         // where the row's second line starts; -1 while on its first line
  private boolean spansLines;
  private long spanQuoteLine;     // the opening quote of the value that first ran over a line end
  private long spanQuoteColumn;
  private int[] values = new int[48];   // per value: start, end, 1 if it has doubled quotes
  private int nValues;
  private boolean oversized;      // longer than maxRecordBytes: no longer buffered
  private String head;            // the start of an oversized row, for the raw column

  // the error of the row being scanned
  private String errorLong;       // the full sentence, for an error on the row's first line
  private String errorShort;      // the short form, inside the spanning-quote sentence
  private long errorLine;
  private long errorColumn;

  private String[] header;
  private RawRecord first;        // the one row of a file whose header is malformed
  private long index;
  private boolean done;

  public CsvRecordReader(InputStream in, int maxRecordBytes) {
    this(in, maxRecordBytes, new ReadCounters());
  }

  public CsvRecordReader(InputStream in, int maxRecordBytes, ReadCounters counters) {
    this.in = in;
    this.maxRecordBytes = maxRecordBytes;
    this.counters = counters;
    readHeader();
  }

  private void readHeader() {
    while (end - pos < 3 && fill()) { }
    if (end - pos >= 3 && buf[pos] == (byte) 0xEF && buf[pos + 1] == (byte) 0xBB && buf[pos + 2] == (byte) 0xBF) {
      pos += 3;
      lineStart = pos;
      counters.byteOrderMarks++;
    }
    int status;
    while ((status = scanRecord()) == BLANK) counters.blankLines++;
    if (broken != null) {
      done = true;
      first = unreadable(1, recLine, 0, rawText(), broken);
      return;
    }
    if (status == END) {
      done = true;
      return;
    }
    String problem = null;
    if (status == ERROR) {
      problem = errorLong;
      skipToLineEnd();
    } else if (oversized) {
      problem = "it is longer than " + maxRecordBytes + " bytes";
    } else {
      header = new String[nValues];
      for (int i = 0; i < nValues && problem == null; i++) {
        header[i] = value(i);
        if (header[i] == null) problem = "value " + (i + 1) + " is not valid UTF-8";
        for (int j = 0; j < i && problem == null; j++) {
          if (header[j].equals(header[i])) {
            problem = "it names the column '" + header[i] + "' twice (values " + (j + 1) + " and " + (i + 1)
                + "); give every column its own name";
          }
        }
      }
    }
    if (problem != null) {
      done = true;
      first = RawRecord.bad(1, recLine, rawText(), new RecordException(QuarantineReason.INVALID_CSV,
          "the header (line " + recLine + ") is malformed: " + problem + "; no row of this file can be read without "
              + "it"));
    }
  }

  @Override
  protected RawRecord read() {
    if (first != null) {
      RawRecord r = first;
      first = null;
      return r;
    }
    if (done) return null;
    int status;
    while ((status = scanRecord()) == BLANK) counters.blankLines++;
    if (broken != null) {   // the row was cut by a read error: it and the rest are one unreadable row
      done = true;
      index++;
      return unreadable(index, recLine, index - 1, rawText(), broken);
    }
    if (status == END) {
      done = true;
      return null;
    }
    index++;
    if (status == ERROR) return malformed();
    if (oversized) {
      return RawRecord.bad(index, recLine, head, new RecordException(QuarantineReason.RECORD_TOO_LARGE,
          "row " + index + " (line " + recLine + ") is longer than " + maxRecordBytes
              + " bytes (raise ingest.max-record-bytes)"));
    }
    if (nValues != header.length) {
      return RawRecord.bad(index, recLine, rawText(), new RecordException(QuarantineReason.INVALID_CSV,
          "row " + index + " (line " + recLine + ") has " + nValues + " values, the header has " + header.length));
    }
    ObjectNode node = Json.MAPPER.createObjectNode();
    for (int i = 0; i < nValues; i++) {
      String v = value(i);
      if (v == null) {
        return RawRecord.bad(index, recLine, rawText(), new RecordException(QuarantineReason.INVALID_UTF8,
            "line " + recLine + ": value '" + header[i] + "' is not valid UTF-8; re-encode the file as UTF-8"));
      }
      node.put(header[i], v);
    }
    return RawRecord.ok(index, recLine, node);
  }

  /** The bad row for a scan that failed, and the position to read on from (see the class comment). */
  private RawRecord malformed() {
    String detail;
    String raw;
    if (spansLines && !oversized) {
      // the row ran over a line end inside a quoted value: take the quote as unterminated, quarantine the first line
      int firstEnd = secondLine;
      while (firstEnd > recStart && (buf[firstEnd - 1] == LF || buf[firstEnd - 1] == CR)) firstEnd--;
      raw = text(recStart, firstEnd);
      detail = "line " + spanQuoteLine + ", column " + spanQuoteColumn + ": this quote is not closed on its line, and "
          + "read as a value spanning lines it makes a malformed row (" + errorShort + "); taken as an unterminated "
          + "quote: line " + recLine + " is quarantined and reading continues at line " + (recLine + 1);
      pos = secondLine;
      line = recLine + 1;
      lineStart = pos;
    } else if (oversized) {
      long at = errorLine;
      skipToLineEnd();
      raw = head;
      detail = "row " + index + " (line " + recLine + ") is longer than " + maxRecordBytes + " bytes and malformed ("
          + errorShort + "); everything up to the end of line " + at + " is this one row";
    } else {
      skipToLineEnd();
      raw = rawText();
      detail = errorLong;
    }
    return RawRecord.bad(index, recLine, raw, new RecordException(QuarantineReason.INVALID_CSV, detail));
  }

  /** Scans one row from pos: END at the end of the input, BLANK for an empty line, OK or ERROR. */
  private int scanRecord() {
    recStart = pos;
    recLine = line;
    nValues = 0;
    secondLine = -1;
    spansLines = false;
    oversized = false;
    head = null;
    int b = peek(0);
    if (b < 0) return END;
    if (b == LF || b == CR) {
      recEnd = pos;
      endLine();
      return BLANK;
    }
    while (true) {
      b = peek(0);
      if (b == QUOTE) {
        long openLine = line;
        long openColumn = column(pos);
        pos++;
        beginValue();
        boolean escaped = false;
        while (true) {
          if (pos == end && !fill()) {
            return fail(openLine, openColumn, "this quote is never closed (the file ends inside the value)",
                "the file ends inside the value");
          }
          byte c = buf[pos];
          if (c == QUOTE) {
            if (peek(1) == QUOTE) {
              escaped = true;
              pos += 2;
              continue;
            }
            endValue(pos, escaped);
            pos++;
            break;
          }
          if (c == LF || c == CR) {
            if (!spansLines) {
              spansLines = true;
              spanQuoteLine = openLine;
              spanQuoteColumn = openColumn;
            }
            endLine();
            if (secondLine < 0 && !oversized) secondLine = pos;
            continue;
          }
          pos++;
        }
        int after = peek(0);
        if (after < 0) {
          recEnd = pos;
          return OK;
        }
        if (after == COMMA) {
          pos++;
          continue;
        }
        if (after == LF || after == CR) {
          recEnd = pos;
          endLine();
          return OK;
        }
        String ch = charAt(pos);
        return fail(line, column(pos), "'" + ch + "' after the closing quote of a value; only a comma or the end of the "
            + "line may follow it (write a quote inside a quoted value as \"\")",
            "'" + ch + "' after the closing quote at line " + line + ", column " + (column(pos) - 1));
      }
      beginValue();
      while (true) {   // an unquoted value: to the next comma, line end or the end of the input
        if (pos == end && !fill()) {
          endValue(pos, false);
          recEnd = pos;
          return OK;
        }
        byte c = buf[pos];
        if (c == COMMA) {
          endValue(pos, false);
          pos++;
          break;
        }
        if (c == LF || c == CR) {
          endValue(pos, false);
          recEnd = pos;
          endLine();
          return OK;
        }
        if (c == QUOTE) {
          return fail(line, column(pos), "a quote inside an unquoted value; quote the whole value and double the "
              + "quotes inside it", "a quote inside an unquoted value at line " + line + ", column " + column(pos));
        }
        pos++;
      }
    }
  }

  private int fail(long atLine, long atColumn, String longForm, String shortForm) {
    errorLine = atLine;
    errorColumn = atColumn;
    errorLong = "line " + atLine + (atColumn > 0 ? ", column " + atColumn : "") + ": " + longForm;
    errorShort = shortForm;
    return ERROR;
  }

  private void beginValue() {
    if (oversized) return;
    if (3 * nValues + 3 > values.length) values = Arrays.copyOf(values, values.length * 2);
    values[3 * nValues] = pos;
  }

  private void endValue(int at, boolean escaped) {
    if (oversized) return;
    values[3 * nValues + 1] = at;
    values[3 * nValues + 2] = escaped ? 1 : 0;
    nValues++;
  }

  /** Value i as text (doubled quotes undone), or null when it is not valid UTF-8. */
  private String value(int i) {
    int from = values[3 * i];
    int to = values[3 * i + 1];
    byte[] b = buf;
    if (values[3 * i + 2] != 0) {
      b = new byte[to - from];
      int n = 0;
      for (int j = from; j < to; j++) {
        b[n++] = buf[j];
        if (buf[j] == QUOTE) j++;   // the second of a doubled quote
      }
      from = 0;
      to = n;
    }
    if (!JsonLinesReader.isUtf8(b, from, to)) return null;
    return new String(b, from, to - from, StandardCharsets.UTF_8);
  }

  /** Consumes the line end at pos (LF, CRLF or a lone CR). */
  private void endLine() {
    if (buf[pos] == CR) {
      pos++;
      if (peek(0) == LF) pos++;
    } else {
      pos++;
    }
    line++;
    lineStart = pos;
  }

  /** Skips the rest of the physical line (quotes and all) and its line end; recEnd is where the line's text ends. */
  private void skipToLineEnd() {
    while (true) {
      if (pos == end && !fill()) {
        recEnd = pos;
        return;
      }
      byte c = buf[pos];
      if (c == LF || c == CR) {
        recEnd = pos;
        endLine();
        return;
      }
      pos++;
    }
  }

  /** The row's text so far (up to recEnd when it ended, else everything buffered), for the raw column. */
  private String rawText() {
    if (oversized) return head;
    int to = recEnd >= recStart && recEnd <= end ? recEnd : end;
    String s = text(recStart, Math.min(to, recStart + HEAD_BYTES));
    return s.isEmpty() ? null : s;
  }

  private String text(int from, int to) {
    return new String(buf, from, Math.max(0, to - from), StandardCharsets.UTF_8);
  }

  /** The byte at pos + ahead (filling as needed), or -1 past the end of the input. */
  private int peek(int ahead) {
    while (pos + ahead >= end) {
      if (!fill()) return -1;
    }
    return buf[pos + ahead];
  }

  /** The 1-based character column of byte {@code at} (UTF-8 continuation bytes do not count); -1 if unknown. */
  private long column(int at) {
    if (lineStart < 0) return -1;
    long col = 1;
    for (int i = lineStart; i < at; i++) if ((buf[i] & 0xC0) != 0x80) col++;
    return col;
  }

  /** The character starting at byte {@code at}, for an error message. */
  private String charAt(int at) {
    int b = buf[at] & 0xFF;
    int len = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
    return new String(buf, at, Math.min(len, end - at), StandardCharsets.UTF_8);
  }

  /**
   * Reads more bytes, first dropping what the current row no longer needs (all of it once the row is oversized).
   * False at the end of the input, or when reading failed ({@link #broken}).
   */
  private boolean fill() {
    if (eof) return false;
    if (!oversized && end - recStart > maxRecordBytes) {
      oversized = true;
      head = text(recStart, Math.min(end, recStart + HEAD_BYTES));
      nValues = 0;
      secondLine = -1;
    }
    int shift = oversized ? pos : recStart;
    if (shift > 0) {
      System.arraycopy(buf, shift, buf, 0, end - shift);
      end -= shift;
      pos -= shift;
      recStart -= shift;
      recEnd -= shift;
      lineStart = lineStart >= shift ? lineStart - shift : -1;
      if (secondLine >= 0) secondLine -= shift;
      if (!oversized) {
        for (int i = 0; i < nValues; i++) {
          values[3 * i] -= shift;
          values[3 * i + 1] -= shift;
        }
        if (3 * nValues < values.length) values[3 * nValues] -= shift;   // the value being scanned
      }
    }
    if (end == buf.length) buf = Arrays.copyOf(buf, buf.length * 2);
    try {
      int n = in.read(buf, end, buf.length - end);
      if (n < 0) {
        eof = true;
        return false;
      }
      end += n;
      return true;
    } catch (IOException e) {   // the rows already read are kept; the cut one and the rest are one unreadable row
      broken = e;
      eof = true;
      return false;
    }
  }
}
