package dev.sparkdpo.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.sparkdpo.data.formats.FormatOptions;
import dev.sparkdpo.data.formats.InputFormat;
import dev.sparkdpo.data.read.InputFile;
import dev.sparkdpo.data.read.ReadCounters;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RecordParserTest {
  @TempDir Path dir;

  private List<ParsedRecord> parse(String name, String content, InputFormat forced, java.util.function.LongPredicate wanted)
      throws Exception {
    Path f = dir.resolve(name);
    Files.writeString(f, content);
    RecordParser parser = new RecordParser(forced, FormatOptions.DEFAULTS, 1000, 1 << 20);
    ReadCounters counters = new ReadCounters();
    List<ParsedRecord> out = new ArrayList<>();
    parser.parseFile(new InputFile(f.toUri().toString(), InputFile.Container.of(name), Files.size(f)),
        new Configuration(), counters, wanted).forEachRemaining(out::add);
    return out;
  }

  private static final String FLAT_THEN_ODD = """
      {"prompt": "P1", "chosen": "a", "rejected": "b"}
      {"chosen": "\\n\\nHuman: x\\n\\nAssistant: y", "rejected": "\\n\\nHuman: x\\n\\nAssistant: z"}
      {"prompt": "P3", "chosen": "c", "rejected": "d"}
      """;

  @Test
  void theFirstRecordFixesTheLayoutOfTheWholeFile() throws Exception {
    List<ParsedRecord> r = parse("f.jsonl", FLAT_THEN_ODD, null, null);
    assertEquals(3, r.size());
    assertTrue(r.get(0).isPair());
    assertEquals(QuarantineReason.MISSING_FIELD.code(), r.get(1).reason(), "an HH-looking record in a flat file");
    assertTrue(r.get(2).isPair());
    assertEquals("flat", r.get(2).format());
  }

  @Test
  void skippingLinesNeverChangesTheDetectedLayout() throws Exception {
    List<ParsedRecord> r = parse("f.jsonl", FLAT_THEN_ODD, null, line -> line == 2);
    assertEquals(2, r.size(), "line 1 is parsed to detect the layout, line 2 because it is wanted");
    assertEquals(QuarantineReason.MISSING_FIELD.code(), r.get(1).reason());
  }

  @Test
  void aForcedLayoutAppliesToEveryRecord() throws Exception {
    List<ParsedRecord> r = parse("f.jsonl", FLAT_THEN_ODD, InputFormat.HH, null);
    assertEquals(QuarantineReason.HH_NO_ASSISTANT_TURN.code(), r.get(0).reason());
    assertTrue(r.get(1).isPair());
  }

  @Test
  void rankedRecordsGiveSeveralPairsWithOneRecordNumber() throws Exception {
    List<ParsedRecord> r = parse("r.jsonl",
        "{\"prompt\": \"P\", \"completions\": [{\"text\": \"a\", \"score\": 3}, {\"text\": \"b\", \"score\": 1}, "
            + "{\"text\": \"c\", \"score\": 2}]}\n", null, null);
    assertEquals(2, r.size());
    assertEquals(1, r.get(0).record());
    assertEquals(1, r.get(1).record());
    assertNotEquals(r.get(0).id(), r.get(1).id());
  }

  // ------------------------------------------------------------------------------------------------ strict readers

  private List<ParsedRecord> parseFile(Path f) {
    RecordParser parser = new RecordParser(null, FormatOptions.DEFAULTS, 1000, 1 << 20);
    List<ParsedRecord> out = new ArrayList<>();
    parser.parseFile(new InputFile(f.toUri().toString(), InputFile.Container.of(f.getFileName().toString()),
        f.toFile().length()), new Configuration(), new ReadCounters(), null).forEachRemaining(out::add);
    return out;
  }

  private static String flat(int i) {
    return "{\"prompt\": \"P" + i + "\", \"chosen\": \"c" + i + "\", \"rejected\": \"r" + i + "\"}\n";
  }

  @Test
  void aLoneSurrogateEscapeIsInvalidTextNamingTheField() throws Exception {
    String lines = "{\"prompt\": \"P1\", \"chosen\": \"a \\ud800 b\", \"rejected\": \"r\"}\n"
        + "{\"prompt\": \"P2 \\udc00\", \"chosen\": \"c\", \"rejected\": \"r\"}\n"
        + "{\"prompt\": \"P3\", \"chosen\": \"c\", \"rejected\": \"r \\ud83d\\ude00\"}\n";   // a valid pair of escapes
    for (String name : List.of("f.jsonl", "f.json")) {
      List<ParsedRecord> r = parse(name, name.endsWith(".json") ? "[" + lines.strip().replace("\n", ",\n") + "]" : lines,
          null, null);
      assertEquals(3, r.size(), name);
      assertEquals(QuarantineReason.INVALID_TEXT.code(), r.get(0).reason(), name);
      assertEquals("field 'chosen' is not valid Unicode text: an unpaired UTF-16 surrogate (U+D800) at character 3 "
          + "(a \\uD800-\\uDFFF escape without its pair, or bytes that are not UTF-8); fix the text at its source",
          r.get(0).detail(), name);
      assertEquals(QuarantineReason.INVALID_TEXT.code(), r.get(1).reason(), name);
      assertTrue(r.get(1).detail().startsWith("field 'prompt'"), r.get(1).detail());
      assertTrue(r.get(2).isPair(), name);
      assertEquals("r \ud83d\ude00", r.get(2).rejected());
    }
  }

  @Test
  void parquetStringsThatAreNotUtf8AreInvalidText() throws Exception {
    Path f = dir.resolve("bytes.parquet");
    org.apache.parquet.schema.MessageType schema = org.apache.parquet.schema.MessageTypeParser.parseMessageType(
        "message pair { required binary prompt (UTF8); required binary chosen (UTF8); required binary rejected (UTF8); "
            + "optional binary blob; }");
    try (var w = org.apache.parquet.hadoop.example.ExampleParquetWriter.builder(
        org.apache.parquet.hadoop.util.HadoopOutputFile.fromPath(new org.apache.hadoop.fs.Path(f.toUri()),
            new Configuration())).withType(schema).build()) {
      var groups = new org.apache.parquet.example.data.simple.SimpleGroupFactory(schema);
      w.write(groups.newGroup().append("prompt", "P1").append("chosen", org.apache.parquet.io.api.Binary.fromConstantByteArray(
          new byte[] {'a', (byte) 0xED, (byte) 0xA0, (byte) 0x80})).append("rejected", "r"));
      // an unused binary column with arbitrary bytes does not matter
      w.write(groups.newGroup().append("prompt", "P2").append("chosen", "c").append("rejected", "r").append("blob",
          org.apache.parquet.io.api.Binary.fromConstantByteArray(new byte[] {(byte) 0xFF, 0, (byte) 0xC3})));
    }
    List<ParsedRecord> r = parseFile(f);
    assertEquals(2, r.size());
    assertEquals(QuarantineReason.INVALID_TEXT.code(), r.get(0).reason());
    assertTrue(r.get(0).detail().startsWith("field 'chosen' is not valid Unicode text"), r.get(0).detail());
    assertTrue(r.get(1).isPair(), () -> r.get(1).toString());
  }

  private Path gzip(String name, String content) throws Exception {
    Path f = dir.resolve(name);
    try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(f))) {
      out.write(content.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    return f;
  }

  private static void truncate(Path f, long size) throws Exception {
    try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.WRITE)) {
      ch.truncate(size);
    }
  }

  private static void assertUnreadable(ParsedRecord r, Path f, long record) {
    assertEquals(QuarantineReason.UNREADABLE_FILE.code(), r.reason(), r::toString);
    assertEquals(record, r.record(), r::toString);
    assertTrue(r.detail().startsWith(f.toUri().toString() + " cannot be read after " + (record - 1) + " record"),
        r.detail());
    assertTrue(r.detail().endsWith("; the records before were kept; re-download or re-compress the file"), r.detail());
  }

  @Test
  void aTruncatedGzipKeepsTheRecordsBeforeTheCutAndEndsInOneUnreadableRow() throws Exception {
    StringBuilder sb = new StringBuilder();
    java.util.Random random = new java.util.Random(1);
    for (int i = 1; i <= 2000; i++) {   // incompressible enough that half the .gz holds about half the records
      sb.append("{\"prompt\": \"P").append(i).append(' ').append(Long.toHexString(random.nextLong()))
          .append("\", \"chosen\": \"c\", \"rejected\": \"r\"}\n");
    }
    Path f = gzip("cut.jsonl.gz", sb.toString());
    truncate(f, Files.size(f) / 2);
    List<ParsedRecord> r = parseFile(f);
    assertTrue(r.size() > 100 && r.size() < 2000, "records: " + r.size());
    for (int i = 0; i < r.size() - 1; i++) {
      assertTrue(r.get(i).isPair(), r.get(i)::toString);
      assertEquals(i + 1, r.get(i).record());
    }
    assertUnreadable(r.get(r.size() - 1), f, r.size());
    assertEquals(parseFile(f).stream().map(ParsedRecord::toString).toList(), r.stream().map(ParsedRecord::toString)
        .toList(), "every scan sees the same records");

    Path csv = gzip("cut.csv.gz", "prompt,chosen,rejected\n" + sb.toString().replaceAll("[{}\"]", "")
        .replace("prompt: ", "").replace("chosen: ", "").replace("rejected: ", ""));
    truncate(csv, Files.size(csv) / 2);
    List<ParsedRecord> rows = parseFile(csv);
    assertTrue(rows.size() > 100 && rows.size() < 2000, "rows: " + rows);
    assertUnreadable(rows.get(rows.size() - 1), csv, rows.size());
    assertTrue(rows.subList(0, rows.size() - 1).stream().allMatch(ParsedRecord::isPair));

    Path array = gzip("cut.json.gz", "[" + sb.toString().strip().replace("\n", ",\n") + "]");
    truncate(array, Files.size(array) / 2);
    List<ParsedRecord> elements = parseFile(array);
    assertUnreadable(elements.get(elements.size() - 1), array, elements.size());
  }

  @Test
  void aFileThatIsNotGzipOrNotParquetIsOneUnreadableRow() throws Exception {
    byte[] noise = new byte[5000];
    new java.util.Random(7).nextBytes(noise);
    for (String name : List.of("noise.jsonl.gz", "noise.json.gz", "noise.csv.gz", "noise.parquet")) {
      Path f = dir.resolve(name);
      Files.write(f, noise);
      List<ParsedRecord> r = parseFile(f);
      assertEquals(1, r.size(), () -> name + ": " + r);
      assertUnreadable(r.get(0), f, 1);
    }
  }

  @Test
  void aTruncatedParquetFileIsOneUnreadableRow() throws Exception {
    Path f = dir.resolve("cut.parquet");
    org.apache.parquet.schema.MessageType schema = org.apache.parquet.schema.MessageTypeParser.parseMessageType(
        "message pair { required binary prompt (UTF8); required binary chosen (UTF8); required binary rejected (UTF8); }");
    try (var w = org.apache.parquet.hadoop.example.ExampleParquetWriter.builder(
        org.apache.parquet.hadoop.util.HadoopOutputFile.fromPath(new org.apache.hadoop.fs.Path(f.toUri()),
            new Configuration())).withType(schema).build()) {
      var groups = new org.apache.parquet.example.data.simple.SimpleGroupFactory(schema);
      for (int i = 0; i < 100; i++) w.write(groups.newGroup().append("prompt", "P" + i).append("chosen", "c")
          .append("rejected", "r"));
    }
    truncate(f, Files.size(f) - 10);
    List<ParsedRecord> r = parseFile(f);
    assertEquals(1, r.size(), r::toString);
    assertUnreadable(r.get(0), f, 1);
    assertEquals(-1, r.get(0).line());
  }

  @Test
  void aMissingFileIsAnErrorNotARow() {
    Path f = dir.resolve("gone.jsonl");
    assertThrows(java.io.UncheckedIOException.class, () -> parseFile(f));
  }
}
