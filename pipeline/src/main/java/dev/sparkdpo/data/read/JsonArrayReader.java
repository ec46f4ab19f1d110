package dev.sparkdpo.data.read;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.io.ByteArrayOutputStream;
import java.io.CharConversionException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Streams the elements of a top-level JSON array ({@code [ {...}, {...} ]}) one at a time. JSON has no resync point
 * inside an array, so a syntax error ends the file: the rest becomes one bad record that says where it broke. Anything
 * but whitespace after the closing bracket is one bad record too (never silently ignored), and a read error (a
 * truncated .gz) makes the unread rest one {@code unreadable_file} record.
 */
public final class JsonArrayReader extends RecordReader {
  private final InputStream in;
  private JsonParser parser;
  private long index;         // elements returned so far (the bad one included)
  private boolean done;
  private RawRecord first;    // the error when the file is not an array, or cannot be read at all

  public JsonArrayReader(InputStream in) {
    this.in = in;
    try {
      this.parser = Json.MAPPER.createParser(in);
      JsonToken t = parser.nextToken();
      if (t != JsonToken.START_ARRAY) {
        done = true;
        first = RawRecord.bad(1, 1, t == null ? null : parser.getText() + rest(1 << 12), new RecordException(
            QuarantineReason.INVALID_JSON, "a .json file must hold one JSON array of records (or be JSON Lines with "
                + "one object per line)"));
      }
    } catch (IOException e) {
      done = true;
      first = error(e, 1);
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
    long line = parser.currentLocation().getLineNr();
    boolean inElement = false;
    try {
      JsonToken t = parser.nextToken();
      if (t == null || t == JsonToken.END_ARRAY) {
        done = true;
        return t == null ? null : afterArray();
      }
      index++;
      inElement = true;
      line = parser.currentTokenLocation().getLineNr();
      JsonNode node = Json.MAPPER.readTree(parser);
      return RawRecord.ok(index, line, node);
    } catch (IOException e) {
      done = true;
      if (!inElement) index++;   // failed between elements (a missing comma): the broken one is the next element
      return error(e, line);
    }
  }

  /** The bad record for a syntax error (the rest of the file) or a read error (unreadable_file). */
  private RawRecord error(IOException e, long line) {
    long record = Math.max(index, 1);
    if (!(e instanceof JsonProcessingException) && !(e instanceof CharConversionException)) {
      return unreadable(record, line, record - 1, null, e);
    }
    boolean utf8 = e.getMessage() != null && e.getMessage().contains("UTF-8");
    JsonLocation at = e instanceof JsonProcessingException j ? j.getLocation() : null;
    return RawRecord.bad(record, line, rest(1 << 12), new RecordException(
        utf8 ? QuarantineReason.INVALID_UTF8 : QuarantineReason.INVALID_JSON,
        "element " + record + " (line " + line + "): " + UnreadableInputException.oneLine(
            e instanceof JsonProcessingException j ? new Exception(j.getOriginalMessage()) : e)
            + (at != null && at.getLineNr() > 0 ? " at line " + at.getLineNr() + ", column " + at.getColumnNr() : "")
            + "; the rest of this JSON array file could not be read"));
  }

  /** Null at the end of the file; a bad record when anything but whitespace follows the array. */
  private RawRecord afterArray() {
    JsonLocation end = parser.currentLocation();   // just after the ']'
    long line = end.getLineNr();
    long col = end.getColumnNr();
    byte[] rest;
    try {
      ByteArrayOutputStream released = new ByteArrayOutputStream();
      parser.releaseBuffered(released);
      byte[] chunk = released.toByteArray();
      while (true) {   // whitespace may run on: read on in chunks until something else (or the end) comes
        int i = 0;
        for (; i < chunk.length; i++) {
          byte c = chunk[i];
          if (c == '\n') {
            line++;
            col = 1;
          } else if (c == ' ' || c == '\t' || c == '\r') {
            col++;
          } else {
            break;
          }
        }
        if (i < chunk.length) {
          rest = java.util.Arrays.copyOfRange(chunk, i, Math.min(chunk.length, i + (1 << 12)));
          break;
        }
        chunk = in.readNBytes(1 << 16);
        if (chunk.length == 0) return null;
      }
    } catch (IOException e) {
      return unreadable(index + 1, line, index, null, e);
    }
    index++;
    String text = new String(rest, StandardCharsets.UTF_8);
    if (rest.length < (1 << 12)) {
      try {
        text = text + new String(in.readNBytes((1 << 12) - rest.length), StandardCharsets.UTF_8);
      } catch (IOException e) {
        // only the raw column's text: what was read is enough
      }
    }
    return RawRecord.bad(index, line, text, new RecordException(QuarantineReason.INVALID_JSON, "line " + line
        + ", column " + col + ": content after the top-level array; a .json file holds one array of records (use "
        + "JSON Lines for more)"));
  }

  /** Up to {@code max} bytes of what the parser has not consumed yet, as text (best effort: for the raw column). */
  private String rest(int max) {
    try {
      ByteArrayOutputStream b = new ByteArrayOutputStream();
      parser.releaseBuffered(b);
      if (b.size() < max) b.writeBytes(in.readNBytes(max - b.size()));
      String s = b.toString(StandardCharsets.UTF_8);
      return s.isBlank() ? null : s;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
