package dev.sparkdpo.data.read;

import com.fasterxml.jackson.databind.node.ObjectNode;
import com.univocity.parsers.common.TextParsingException;
import com.univocity.parsers.csv.CsvParser;
import com.univocity.parsers.csv.CsvParserSettings;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;

/**
 * Streams a CSV file with a header row (RFC 4180 quoting, values may span lines) as records of string fields named by
 * the header. A row with a different number of values than the header is a bad record.
 */
public final class CsvRecordReader extends RecordReader {
  private final CsvParser parser;
  private String[] header;
  private long index;
  private boolean done;

  public CsvRecordReader(InputStream in, int maxRecordChars) {
    CsvParserSettings settings = new CsvParserSettings();
    settings.setHeaderExtractionEnabled(false);
    settings.setMaxCharsPerColumn(maxRecordChars);
    settings.setMaxColumns(4096);
    settings.setLineSeparatorDetectionEnabled(true);
    settings.setNullValue("");
    settings.setEmptyValue("");
    settings.setIgnoreLeadingWhitespaces(false);
    settings.setIgnoreTrailingWhitespaces(false);
    settings.trimQuotedValues(false);
    this.parser = new CsvParser(settings);
    parser.beginParsing(in, StandardCharsets.UTF_8);
    String[] h = parser.parseNext();
    if (h == null) {
      done = true;
    } else {
      header = h;
      if (header.length > 0 && header[0] != null && header[0].startsWith("\uFEFF")) header[0] = header[0].substring(1);
    }
  }

  @Override
  protected RawRecord read() {
    if (done) return null;
    long line = parser.getContext().currentLine() + 1;
    String[] row;
    try {
      row = parser.parseNext();
    } catch (TextParsingException e) {
      done = true;
      parser.stopParsing();
      return RawRecord.bad(index + 1, line, null, new RecordException(QuarantineReason.INVALID_CSV,
          "row " + (index + 1) + " (line " + line + "): " + e.getMessage().lines().findFirst().orElse("")
              + "; the rest of this CSV file could not be read"));
    }
    if (row == null) {
      done = true;
      return null;
    }
    index++;
    if (row.length != header.length) {
      return RawRecord.bad(index, line, String.join(",", row), new RecordException(QuarantineReason.INVALID_CSV,
          "row " + index + " (line " + line + ") has " + row.length + " values, the header has " + header.length));
    }
    ObjectNode node = Json.MAPPER.createObjectNode();
    for (int i = 0; i < header.length; i++) node.put(header[i], row[i]);
    return RawRecord.ok(index, line, node);
  }
}
