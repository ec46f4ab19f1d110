package dev.sparkdpo.data;

import static org.junit.jupiter.api.Assertions.*;

import dev.sparkdpo.data.formats.FormatOptions;
import dev.sparkdpo.data.read.InputFile;
import dev.sparkdpo.io.HadoopConf;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;

/** The per-group decisions of scan 1 and the split, without Spark. */
class DedupDecisionTest {
  private final Ingest.Scanner scanner = new Ingest.Scanner(List.of(
      new InputFile("file:/data/a.jsonl", InputFile.Container.JSON_LINES, 1),
      new InputFile("file:/data/b.jsonl", InputFile.Container.JSON_LINES, 1)),
      new RecordParser(null, FormatOptions.DEFAULTS, 0, 1 << 20), new HadoopConf(new Configuration(false)));

  private static ParsedRecord pair(String p, String c, String r, long record) {
    return ParsedRecord.pair(new PreferencePair(p, c, r), "flat", "x", record, record);
  }

  private Map<String, Ingest.Drop> decide(List<ParsedRecord> records, List<Integer> files) {
    List<long[]> markers = new java.util.ArrayList<>();
    for (int i = 0; i < records.size(); i++) markers.add(Markers.of(records.get(i), files.get(i)));
    java.util.Collections.reverse(markers);   // arrival order must not matter
    return Ingest.decide(markers, scanner).stream().collect(Collectors.toMap(
        t -> t._1() + "/" + t._2()._1(), t -> Ingest.Drop.decode(t._2()._2())));
  }

  @Test
  void aUniquePairIsNeverDropped() {
    assertTrue(decide(List.of(pair("p", "a", "b", 1)), List.of(0)).isEmpty());
  }

  @Test
  void exactDuplicatesKeepTheFirstInFileThenRecordOrder() {
    ParsedRecord inB = pair("p", "a", "b", 1);
    ParsedRecord inA = pair("p", "a", "b", 7);
    ParsedRecord inA2 = pair("p", "a", "b", 9);
    Map<String, Ingest.Drop> d = decide(List.of(inB, inA, inA2), List.of(1, 0, 0));
    assertEquals(2, d.size());
    Ingest.Drop drop = d.get("1/" + Markers.position(inB));
    assertEquals(QuarantineReason.EXACT_DUPLICATE, drop.reason());
    assertTrue(drop.detail().contains("record 7 of file:/data/a.jsonl"), drop.detail());
    assertNotNull(d.get("0/" + Markers.position(inA2)));
    assertNull(d.get("0/" + Markers.position(inA)), "the first in input order is kept");
  }

  @Test
  void aSwappedTwinDropsEveryCopy() {
    ParsedRecord ab = pair("p", "a", "b", 1);
    ParsedRecord ba = pair("p", "b", "a", 2);
    ParsedRecord ab2 = pair("p", "a", "b", 3);
    assertEquals(ab.pairKey(), ba.pairKey());
    assertNotEquals(ab.id(), ba.id());
    Map<String, Ingest.Drop> d = decide(List.of(ab, ba, ab2), List.of(0, 0, 0));
    assertEquals(3, d.size());
    d.values().forEach(x -> assertEquals(QuarantineReason.CONFLICTING_PREFERENCE, x.reason()));
  }

  @Test
  void pairsThatOnlyShareTheShuffleKeyStayApart() {
    // two distinct pairs forced into one shuffle group (as a 64-bit key collision would): decided separately
    ParsedRecord x = pair("p", "a", "b", 1);
    ParsedRecord y = pair("q", "a", "b", 2);
    assertTrue(decide(List.of(x, y), List.of(0, 0)).isEmpty());
  }

  @Test
  void badRecordsAreListedForTheQuarantineScan() {
    ParsedRecord bad = ParsedRecord.bad("x", 12, 12, new RecordException(QuarantineReason.INVALID_JSON, "broken"), "{");
    List<scala.Tuple2<Integer, scala.Tuple2<String, String>>> out = Ingest.decide(List.of(Markers.of(bad, 1)), scanner);
    assertEquals(1, out.size());
    assertEquals(1, out.get(0)._1());
    assertEquals("#12", out.get(0)._2()._1());
  }

  @Test
  void aPartitionOfMarkersYieldsEntriesOnlyForRepeatedKeysAndBadRecords() {
    ParsedRecord a = pair("p", "a", "b", 1);
    ParsedRecord dup = pair("p", "a", "b", 2);
    ParsedRecord other = pair("q", "a", "b", 3);
    ParsedRecord bad = ParsedRecord.bad("x", 4, 4, new RecordException(QuarantineReason.EMPTY_PROMPT, "empty"), "{}");
    List<scala.Tuple2<Long, long[]>> markers = new java.util.ArrayList<>();
    for (ParsedRecord r : List.of(dup, other, bad, a)) markers.add(new scala.Tuple2<>(Markers.shuffleKey(r, 0), Markers.of(r, 0)));
    List<String> entries = Ingest.groups(markers.iterator(), scanner).stream().map(t -> t._2()._1()).sorted().toList();
    assertEquals(List.of("#4", Markers.position(dup)), entries);
  }

  @Test
  void evalSplitFollowsTheFractionAndTheSeed() {
    int n = 20_000;
    int eval = 0;
    int moved = 0;
    for (int i = 0; i < n; i++) {
      String id = PairNormalizer.pairId("p" + i, "a", "b");
      boolean e = Ingest.isEval(id, 42, 0.1);
      if (e) eval++;
      if (e != Ingest.isEval(id, 43, 0.1)) moved++;
      assertEquals(e, Ingest.isEval(id, 42, 0.1), "deterministic");
    }
    assertEquals(0.1, eval / (double) n, 0.01);
    assertTrue(moved > n * 0.1, "another seed gives another split");
    assertFalse(Ingest.isEval(PairNormalizer.pairId("p", "a", "b"), 42, 0.0));
  }

  @Test
  void countsSumAndKeepMaxima() {
    Counts a = new Counts();
    a.add("split.train");
    a.add("max.len", 5);
    Counts b = new Counts();
    b.add("split.train", 2);
    b.add("max.len", 3);
    a.merge(b);
    assertEquals(3, a.get("split.train"));
    assertEquals(5, a.get("max.len"));
    assertEquals(Map.of("train", 3L), a.group("split"));
  }
}
