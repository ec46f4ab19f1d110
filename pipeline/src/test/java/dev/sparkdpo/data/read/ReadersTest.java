package dev.sparkdpo.data.read;

import static org.junit.jupiter.api.Assertions.*;

import dev.sparkdpo.data.QuarantineReason;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.Test;

class ReadersTest {
  static List<RawRecord> all(Iterator<RawRecord> it) {
    List<RawRecord> out = new ArrayList<>();
    it.forEachRemaining(out::add);
    return out;
  }

  static byte[] bytes(Object... parts) {
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    for (Object p : parts) b.writeBytes(p instanceof byte[] a ? a : p.toString().getBytes(StandardCharsets.UTF_8));
    return b.toByteArray();
  }

  @Test
  void jsonLinesRepairsBomAndCrlfCountsBlankLinesAndQuarantinesBadLines() {
    byte[] data = bytes(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}, "{\"a\":1}\r\n",
        "\n   \n",
        "{\"a\": \"caf", new byte[] {(byte) 0xC3, (byte) 0x28}, "\"}\n",
        "{\"a\": \n",
        "[1,2]\n",
        "{\"a\":\"" + "x".repeat(3000) + "\"}\n",
        "{\"a\":\"last, no newline\"}");
    ReadCounters c = new ReadCounters();
    List<RawRecord> r = all(new JsonLinesReader(new ByteArrayInputStream(data), 2048, c));
    assertEquals(6, r.size());
    assertEquals(1, r.get(0).node().get("a").intValue());
    assertEquals(1, r.get(0).line());
    assertEquals(QuarantineReason.INVALID_UTF8, r.get(1).error().reason());
    assertEquals(4, r.get(1).line(), "line numbers count blank lines");
    assertEquals(QuarantineReason.INVALID_JSON, r.get(2).error().reason());
    assertTrue(r.get(2).error().getMessage().startsWith("line 5"), r.get(2).error().getMessage());
    assertTrue(r.get(3).node().isArray(), "valid JSON that is not an object is the parser's business");
    assertEquals(QuarantineReason.RECORD_TOO_LARGE, r.get(4).error().reason());
    assertEquals("last, no newline", r.get(5).node().get("a").textValue());
    assertEquals(8, r.get(5).line());
    assertEquals(2, c.blankLines);
    assertEquals(1, c.byteOrderMarks);
    assertEquals(1, c.crlfLines);
  }

  @Test
  void jsonLinesHandlesLinesLongerThanTheBuffer() {
    String big = "{\"a\":\"" + "y".repeat(200_000) + "\"}\n";
    List<RawRecord> r = all(new JsonLinesReader(new ByteArrayInputStream(bytes(big, big)), 1 << 20, new ReadCounters()));
    assertEquals(2, r.size());
    assertEquals(200_000, r.get(1).node().get("a").textValue().length());
  }

  @Test
  void jsonArrayStreamsElementsAndStopsAtASyntaxError() {
    List<RawRecord> ok = all(new JsonArrayReader(new ByteArrayInputStream(bytes("[\n{\"a\":1},\n{\"a\":2}\n]"))));
    assertEquals(2, ok.size());
    assertEquals(2, ok.get(1).record());
    assertEquals(3, ok.get(1).line());
    List<RawRecord> broken = all(new JsonArrayReader(new ByteArrayInputStream(bytes("[{\"a\":1}, {\"a\": ,}, {\"a\":3}]"))));
    assertEquals(2, broken.size());
    assertEquals(QuarantineReason.INVALID_JSON, broken.get(1).error().reason());
    assertTrue(broken.get(1).error().getMessage().contains("rest of this JSON array"));
    List<RawRecord> notArray = all(new JsonArrayReader(new ByteArrayInputStream(bytes("{\"a\":1}"))));
    assertEquals(QuarantineReason.INVALID_JSON, notArray.get(0).error().reason());
  }

  @Test
  void csvReadsQuotedMultilineValuesByHeader() {
    String csv = "\uFEFFprompt,chosen,rejected\n\"Say \"\"hi\"\"\",\"line1\nline2\",no\nshort,row\nQ,\" a\",b\n";
    List<RawRecord> r = all(new CsvRecordReader(new ByteArrayInputStream(bytes(csv)), 1 << 20));
    assertEquals(3, r.size());
    assertEquals("Say \"hi\"", r.get(0).node().get("prompt").textValue());
    assertEquals("line1\nline2", r.get(0).node().get("chosen").textValue());
    assertEquals(QuarantineReason.INVALID_CSV, r.get(1).error().reason());
    assertEquals(2, r.get(1).record());
    assertEquals(" a", r.get(2).node().get("chosen").textValue(), "whitespace inside values is kept");
  }

  @Test
  void jsonLinesParsesOnlyTheWantedLinesButCountsThemAll() {
    byte[] data = bytes("{\"a\":1}\n", "\n", "not json\n", "{\"a\":3}\n");
    ReadCounters c = new ReadCounters();
    List<RawRecord> r = all(new JsonLinesReader(new ByteArrayInputStream(data), 1024, c, line -> line == 3));
    assertEquals(3, r.size());
    assertSame(RawRecord.SKIPPED, r.get(0));
    assertEquals(QuarantineReason.INVALID_JSON, r.get(1).error().reason());
    assertEquals(3, r.get(1).line());
    assertSame(RawRecord.SKIPPED, r.get(2));
    assertEquals(1, c.blankLines);
  }

  // ------------------------------------------------------------------------------------------------ strict readers

  static List<RawRecord> jsonl(String text) {
    return all(new JsonLinesReader(new ByteArrayInputStream(bytes(text)), 1 << 20, new ReadCounters()));
  }

  static List<RawRecord> array(String text) {
    return all(new JsonArrayReader(new ByteArrayInputStream(bytes(text))));
  }

  static List<RawRecord> csv(String text) {
    return all(new CsvRecordReader(new ByteArrayInputStream(bytes(text)), 1 << 20));
  }

  static void assertBad(RawRecord r, QuarantineReason reason, long record, long line, String raw, String detail) {
    assertNotNull(r.error(), () -> "not a bad record: " + r);
    assertEquals(reason, r.error().reason(), r.error()::getMessage);
    assertEquals(record, r.record(), "record number");
    assertEquals(line, r.line(), "line");
    assertEquals(raw, r.rawText(), "raw text");
    assertEquals(detail, r.error().getMessage());
  }

  @Test
  void jsonLinesQuarantinesASecondValueOrTrailingCharactersAfterTheRecord() {
    List<RawRecord> r = jsonl("{\"a\":1}\n"
        + "{\"a\":2}{\"a\":3}\n"
        + "{\"a\":4}  \t \r\n"                // trailing whitespace is fine
        + "{\"a\":\"\u00e9\u00e9\"} xyz\n"      // the column counts characters, not bytes
        + "[1] 2\n"
        + "{\"a\":5}");
    assertEquals(6, r.size());
    assertEquals(1, r.get(0).node().get("a").intValue());
    assertBad(r.get(1), QuarantineReason.INVALID_JSON, 2, 2, "{\"a\":2}{\"a\":3}", "line 2: a second JSON value or "
        + "trailing characters after the record, at column 8; put one record per line");
    assertEquals(4, r.get(2).node().get("a").intValue());
    assertBad(r.get(3), QuarantineReason.INVALID_JSON, 4, 4, "{\"a\":\"\u00e9\u00e9\"} xyz", "line 4: a second JSON "
        + "value or trailing characters after the record, at column 12; put one record per line");
    assertEquals(QuarantineReason.INVALID_JSON, r.get(4).error().reason());
    assertTrue(r.get(4).error().getMessage().contains("at column 5"), r.get(4).error().getMessage());
    assertEquals(5, r.get(5).node().get("a").intValue());
    assertEquals(6, r.get(5).line());
  }

  @Test
  void jsonArrayQuarantinesContentAfterTheArray() {
    List<RawRecord> second = array("[{\"a\":1}]\n[{\"a\":2}]\n");
    assertEquals(2, second.size());
    assertEquals(1, second.get(0).node().get("a").intValue());
    assertBad(second.get(1), QuarantineReason.INVALID_JSON, 2, 2, "[{\"a\":2}]\n", "line 2, column 1: content "
        + "after the top-level array; a .json file holds one array of records (use JSON Lines for more)");
    List<RawRecord> garbage = array("[{\"a\":1},\n {\"a\":2}\n]  xyz");
    assertEquals(3, garbage.size());
    assertBad(garbage.get(2), QuarantineReason.INVALID_JSON, 3, 3, "xyz", "line 3, column 4: content after the "
        + "top-level array; a .json file holds one array of records (use JSON Lines for more)");
    assertEquals(2, array("[{\"a\":1},{\"a\":2}]  \n\n ").size(), "trailing whitespace is fine");
  }

  @Test
  void jsonArrayGivesTheRecordAfterAMissingCommaItsOwnNumber() {
    List<RawRecord> r = array("[{\"a\":1} {\"a\":2}]");
    assertEquals(2, r.size());
    assertEquals(1, r.get(0).record());
    assertEquals(QuarantineReason.INVALID_JSON, r.get(1).error().reason());
    assertEquals(2, r.get(1).record(), "the bad record is element 2, not a second element 1");
    List<RawRecord> truncated = array("[{\"a\":1},\n{\"a\":2");
    assertEquals(2, truncated.size());
    assertEquals(2, truncated.get(1).record());
    assertEquals(QuarantineReason.INVALID_JSON, truncated.get(1).error().reason());
  }

  @Test
  void csvAnUnterminatedQuoteIsOneBadRowAndTheNextRowsAreStillRead() {
    List<RawRecord> r = csv("prompt,chosen,rejected\n\"Q1\",\" a1\",\" b1\"\n\"Q2, a2, b2\n\"Q3\",\" a3\",\" b3\"\n");
    assertEquals(3, r.size(), () -> r.toString());
    assertEquals("Q1", r.get(0).node().get("prompt").textValue());
    assertEquals(1, r.get(0).record());
    assertBad(r.get(1), QuarantineReason.INVALID_CSV, 2, 3, "\"Q2, a2, b2", "line 3, column 1: this quote is not "
        + "closed on its line, and read as a value spanning lines it makes a malformed row ('Q' after the closing quote "
        + "at line 4, column 1); taken as an unterminated quote: line 3 is quarantined and reading continues at line 4");
    assertEquals("Q3", r.get(2).node().get("prompt").textValue());
    assertEquals(" a3", r.get(2).node().get("chosen").textValue());
    assertEquals(" b3", r.get(2).node().get("rejected").textValue());
    assertEquals(3, r.get(2).record());
    assertEquals(4, r.get(2).line());
  }

  @Test
  void csvIsStrictRfc4180AndResynchronisesAtTheNextLine() {
    List<RawRecord> r = csv("p,c,r\n"
        + "\"a\"x,b,c\n"            // 2: a character after a closing quote
        + "ok1,b,c\n"                // 3
        + "5'10\" tall,b,c\n"         // 4: a quote inside an unquoted value
        + "ok2,\"multi\nline\",c\n"  // 5-6: a good value spanning lines
        + "one,two\n"                // 7: too few values
        + "\n"                       // 8: blank
        + "ok3,b,c\n"                // 9
        + "\"open,b,c");             // 10: unterminated at the end of the file
    assertEquals(7, r.size(), () -> r.toString());
    assertBad(r.get(0), QuarantineReason.INVALID_CSV, 1, 2, "\"a\"x,b,c", "line 2, column 4: 'x' after the closing "
        + "quote of a value; only a comma or the end of the line may follow it (write a quote inside a quoted value as \"\")");
    assertEquals("ok1", r.get(1).node().get("p").textValue());
    assertEquals(2, r.get(1).record());
    assertBad(r.get(2), QuarantineReason.INVALID_CSV, 3, 4, "5'10\" tall,b,c", "line 4, column 5: a quote inside an "
        + "unquoted value; quote the whole value and double the quotes inside it");
    assertEquals("multi\nline", r.get(3).node().get("c").textValue());
    assertEquals(5, r.get(3).line());
    assertBad(r.get(4), QuarantineReason.INVALID_CSV, 5, 7, "one,two", "row 5 (line 7) has 2 values, the header has 3");
    assertEquals("ok3", r.get(5).node().get("p").textValue());
    assertEquals(9, r.get(5).line());
    assertBad(r.get(6), QuarantineReason.INVALID_CSV, 7, 10, "\"open,b,c", "line 10, column 1: this quote is never "
        + "closed (the file ends inside the value)");
  }

  @Test
  void csvCountsBlankLinesAndTheByteOrderMarkAndQuarantinesInvalidUtf8() {
    ReadCounters c = new ReadCounters();
    List<RawRecord> r = all(new CsvRecordReader(new ByteArrayInputStream(bytes(
        new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}, "p,c,r\r\n\r\na,b,c\r\n",
        "x,caf", new byte[] {(byte) 0xC3, (byte) 0x28}, ",z\r\n", "\r\n")), 1 << 20, c));
    assertEquals(2, r.size(), () -> r.toString());
    assertEquals("a", r.get(0).node().get("p").textValue());
    assertEquals(3, r.get(0).line());
    assertEquals(QuarantineReason.INVALID_UTF8, r.get(1).error().reason());
    assertEquals("line 4: value 'c' is not valid UTF-8; re-encode the file as UTF-8", r.get(1).error().getMessage());
    assertEquals(2, c.blankLines);
    assertEquals(1, c.byteOrderMarks);
  }

  @Test
  void csvAMalformedHeaderIsOneRowForTheFile() {
    List<RawRecord> r = csv("p,\"c\"x,r\na,b,c\n");
    assertEquals(1, r.size());
    assertEquals(QuarantineReason.INVALID_CSV, r.get(0).error().reason());
    assertTrue(r.get(0).error().getMessage().startsWith("the header (line 1) is malformed: line 1, column 6"),
        r.get(0).error().getMessage());
    List<RawRecord> dup = csv("p,c,p\na,b,c\n");
    assertEquals(1, dup.size());
    assertTrue(dup.get(0).error().getMessage().contains("'p' twice"), dup.get(0).error().getMessage());
  }

  /** A stream that fails after its bytes, as a truncated .gz does. */
  static java.io.InputStream failingAfter(byte[] data) {
    return new java.io.SequenceInputStream(new ByteArrayInputStream(data), new java.io.InputStream() {
      @Override
      public int read() throws java.io.IOException {
        throw new java.io.EOFException("Unexpected end of input stream");
      }
    });
  }

  @Test
  void aReadErrorIsOneUnreadableFileRowAfterTheRecordsBeforeIt() {
    List<RawRecord> lines = all(new JsonLinesReader(failingAfter(bytes("{\"a\":1}\n{\"a\":2}\n{\"a\":")), 1 << 20,
        new ReadCounters()));
    assertEquals(3, lines.size());
    assertEquals(2, lines.get(1).node().get("a").intValue());
    assertBad(lines.get(2), QuarantineReason.UNREADABLE_FILE, 3, 3, "{\"a\":", "the input cannot be read after 2 "
        + "records (at line 3): Unexpected end of input stream; the records before were kept; re-download or "
        + "re-compress the file");
    List<RawRecord> arr = all(new JsonArrayReader(failingAfter(bytes("[{\"a\":1},\n{\"a\""))));
    assertEquals(2, arr.size());
    assertEquals(QuarantineReason.UNREADABLE_FILE, arr.get(1).error().reason());
    assertEquals(2, arr.get(1).record());
    List<RawRecord> rows = all(new CsvRecordReader(failingAfter(bytes("p,c,r\na,b,c\nd,e")), 1 << 20));
    assertEquals(2, rows.size());
    assertBad(rows.get(1), QuarantineReason.UNREADABLE_FILE, 2, 3, "d,e", "the input cannot be read after 1 "
        + "record (at line 3): Unexpected end of input stream; the records before were kept; re-download or "
        + "re-compress the file");
  }
}
