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
}
