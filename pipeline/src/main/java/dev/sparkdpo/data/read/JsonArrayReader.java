package dev.sparkdpo.data.read;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Iterator;
import java.util.NoSuchElementException;

/**
 * Streams the elements of a top-level JSON array ({@code [ {...}, {...} ]}) one at a time. JSON has no resync point
 * inside an array, so a syntax error ends the file: the rest becomes one bad record that says where it broke.
 */
public final class JsonArrayReader implements Iterator<RawRecord> {
  private final JsonParser parser;
  private long index;
  private boolean done;
  private RawRecord next;

  public JsonArrayReader(InputStream in) {
    try {
      this.parser = Json.MAPPER.createParser(in);
      JsonToken first = parser.nextToken();
      if (first != JsonToken.START_ARRAY) {
        done = true;
        next = RawRecord.bad(1, 1, null, new RecordException(QuarantineReason.INVALID_JSON,
            "a .json file must hold one JSON array of records (or be JSON Lines with one object per line)"));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public boolean hasNext() {
    if (next != null) return true;
    if (done) return false;
    long line = parser.currentLocation().getLineNr();
    try {
      JsonToken t = parser.nextToken();
      if (t == null || t == JsonToken.END_ARRAY) {
        done = true;
        return false;
      }
      index++;
      line = parser.currentTokenLocation().getLineNr();
      JsonNode node = Json.MAPPER.readTree(parser);
      next = RawRecord.ok(index, line, node);
    } catch (IOException e) {
      done = true;
      boolean utf8 = e.getMessage() != null && e.getMessage().contains("UTF-8");
      next = RawRecord.bad(Math.max(index, 1), line, null, new RecordException(
          utf8 ? QuarantineReason.INVALID_UTF8 : QuarantineReason.INVALID_JSON,
          "element " + Math.max(index, 1) + " (line " + line + "): " + firstLine(e.getMessage())
              + "; the rest of this JSON array file could not be read"));
    }
    return true;
  }

  @Override
  public RawRecord next() {
    if (!hasNext()) throw new NoSuchElementException();
    RawRecord r = next;
    next = null;
    return r;
  }

  private static String firstLine(String s) {
    if (s == null) return "unreadable";
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
