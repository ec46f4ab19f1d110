package dev.sparkdpo.data.read;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * Streams the elements of a top-level JSON array ({@code [ {...}, {...} ]}) one at a time. JSON has no resync point
 * inside an array, so a syntax error ends the file: the rest becomes one bad record that says where it broke.
 */
public final class JsonArrayReader extends RecordReader {
  private final JsonParser parser;
  private long index;
  private boolean done;
  private RawRecord first;   // the error when the file is not an array

  public JsonArrayReader(InputStream in) {
    try {
      this.parser = Json.MAPPER.createParser(in);
      if (parser.nextToken() != JsonToken.START_ARRAY) {
        done = true;
        first = RawRecord.bad(1, 1, null, new RecordException(QuarantineReason.INVALID_JSON,
            "a .json file must hold one JSON array of records (or be JSON Lines with one object per line)"));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
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
    try {
      JsonToken t = parser.nextToken();
      if (t == null || t == JsonToken.END_ARRAY) {
        done = true;
        return null;
      }
      index++;
      line = parser.currentTokenLocation().getLineNr();
      JsonNode node = Json.MAPPER.readTree(parser);
      return RawRecord.ok(index, line, node);
    } catch (IOException e) {
      done = true;
      boolean utf8 = e.getMessage() != null && e.getMessage().contains("UTF-8");
      return RawRecord.bad(Math.max(index, 1), line, null, new RecordException(
          utf8 ? QuarantineReason.INVALID_UTF8 : QuarantineReason.INVALID_JSON,
          "element " + Math.max(index, 1) + " (line " + line + "): " + firstLine(e.getMessage())
              + "; the rest of this JSON array file could not be read"));
    }
  }

  private static String firstLine(String s) {
    if (s == null) return "unreadable";
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
