package dev.sparkdpo.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RescanCheckTest {
  private static ParsedRecord pair(long record) {
    return ParsedRecord.pair(new PreferencePair("p" + record, "c", "r"), "flat", "f.jsonl", record, record);
  }

  private static ParsedRecord unreadable(long record) {
    return ParsedRecord.bad("f.jsonl", record, record, new RecordException(QuarantineReason.UNREADABLE_FILE, "cut"), null);
  }

  private static List<ParsedRecord> drain(List<ParsedRecord> scan, long unreadableAt) {
    List<ParsedRecord> out = new ArrayList<>();
    new RescanCheck(scan.iterator(), "f.jsonl", unreadableAt).forEachRemaining(out::add);
    return out;
  }

  @Test
  void aLaterScanThatReadsTheFileAsTheFirstDidPassesThrough() {
    assertEquals(3, drain(List.of(pair(1), pair(2), unreadable(3)), 3).size());
    assertEquals(2, drain(List.of(pair(1), pair(2)), -1).size());
  }

  @Test
  void aLaterScanThatReadsTheFileDifferentlyFailsItsTask() {
    IllegalStateException newFailure = assertThrows(IllegalStateException.class,
        () -> drain(List.of(pair(1), unreadable(2)), -1));
    assertTrue(newFailure.getMessage().startsWith("input f.jsonl read differently in two scans of the same run: the "
        + "first scan read it to the end, this scan could not read it from record 2 on"), newFailure.getMessage());
    assertThrows(IllegalStateException.class, () -> drain(List.of(pair(1), pair(2), pair(3)), 2),
        "the first scan stopped at record 2");
    assertThrows(IllegalStateException.class, () -> drain(List.of(pair(1)), 2), "no unreadable row this time");
    assertThrows(IllegalStateException.class, () -> drain(List.of(pair(1), unreadable(3)), 2));
  }
}
