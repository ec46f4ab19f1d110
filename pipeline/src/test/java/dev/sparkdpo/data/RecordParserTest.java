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
}
