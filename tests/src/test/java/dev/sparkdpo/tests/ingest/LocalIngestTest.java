package dev.sparkdpo.tests.ingest;

import static dev.sparkdpo.tests.ingest.IngestChecks.assertNoOutput;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertPairs;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertQuarantine;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertStats;
import static dev.sparkdpo.tests.ingest.IngestChecks.assertSucceeded;
import static dev.sparkdpo.tests.ingest.IngestChecks.idSplits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import dev.sparkdpo.jobs.SparkDpo;
import dev.sparkdpo.tests.fixtures.HazardCorpus;
import dev.sparkdpo.tests.fixtures.HazardCorpus.Expected;
import dev.sparkdpo.tests.ingest.IngestRuns.PairRow;
import dev.sparkdpo.tests.ingest.IngestRuns.QuarantineRow;
import dev.sparkdpo.tests.ingest.IngestRuns.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The ingest stage end to end: the real CLI ({@code SparkDpo.run("ingest", ...)}) on Spark {@code local[2]} over
 * {@link HazardCorpus}, asserting on the files it wrote. The runs are shared between tests (each is a few seconds).
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class LocalIngestTest {
  static final String MASTER = "local[2]";

  @TempDir static Path tmp;
  static Path corpus;
  static Expected expected;
  static final Map<String, Double> timings = new LinkedHashMap<>();
  private static Result base;
  private static Result rerun;

  @BeforeAll
  static void writeCorpus() {
    corpus = tmp.resolve("corpus").toAbsolutePath();
    expected = HazardCorpus.write(corpus);
  }

  @AfterAll
  static void printTimings() {
    IngestRuns.stopSpark();
    StringBuilder sb = new StringBuilder("LocalIngestTest run times (s):");
    timings.forEach((k, v) -> sb.append(String.format(" %s=%.1f", k, v)));
    System.out.println(sb);
  }

  static Path out(String name) {
    return tmp.resolve("out").resolve(name);
  }

  /** The flags every run shares: the corpus, --max-chars 2000, --eval-fraction 0.3, no Spark UI. */
  static List<String> args(Path output, String... extra) {
    List<String> a = new ArrayList<>(List.of("ingest", "--master", MASTER, "--input", corpus.toString(),
        "--output", output.toString(), "--max-chars", String.valueOf(HazardCorpus.MAX_CHARS), "--eval-fraction", "0.3",
        "--conf", "spark.ui.enabled=false"));
    a.addAll(List.of(extra));
    return a;
  }

  static Result run(String name, Path output, List<String> args) {
    Result r = IngestRuns.run(output, args.toArray(String[]::new));
    timings.put(name, r.seconds());
    return r;
  }

  static synchronized Result base() {
    if (base == null) base = run("base", out("base"), args(out("base")));
    return base;
  }

  static synchronized Result rerun() {
    if (rerun == null) rerun = run("rerun", out("rerun"), args(out("rerun")));
    return rerun;
  }

  // ---------------------------------------------------------------------------------------------------- base run

  @Test
  void statsJsonHasTheExpectedCounts() {
    Result r = base();
    assertSucceeded(r);
    assertStats(expected, r);
    JsonNode options = r.stats().path("options");
    assertEquals(HazardCorpus.MAX_CHARS, options.path("max_chars").asInt());
    assertEquals(0.3, options.path("eval_fraction").asDouble());
    assertTrue(r.stats().path("tokenization").isMissingNode(), "no tokenizer, no tokenization block");
  }

  @Test
  void pairsArePartitionedBySplitWithContentIdsAndExactlyTheValidPairs() {
    Result r = base();
    assertSucceeded(r);
    assertPairs(expected, r, corpus, false);
    // normalization reached the output: NFC, CRLF -> LF inside text, trailing whitespace of responses only
    assertTrue(r.pairs().stream().anyMatch(p -> p.chosen().equals(" Eight:\nfour on each side.")));
    assertTrue(r.pairs().stream().anyMatch(p -> p.prompt().equals("Translate 'good morning' into German.\n")));
    assertTrue(r.pairs().stream().anyMatch(p -> p.chosen().equals(" Try \"Cosmos\" by Carl Sagan.")));
  }

  @Test
  void quarantineHasEveryBadRecordWithItsSourceRecordLineAndReason() {
    Result r = base();
    assertSucceeded(r);
    assertQuarantine(expected, r, corpus);
    // the invalid JSON line keeps its true line number (a BOM and a blank line come before it)
    QuarantineRow json = only(r, "invalid_json");
    assertEquals(HazardCorpus.FLAT, json.file());
    assertEquals(6L, json.record());
    assertEquals(6L, json.line());
    assertTrue(json.raw().startsWith("{\"prompt\": \"An unclosed record\""), json.raw());
    // the too-long record's raw text is clipped
    QuarantineRow tooLong = only(r, "too_long");
    assertTrue(tooLong.raw().length() > 1000 && tooLong.raw().length() <= 2001, "raw length " + tooLong.raw().length());
    assertTrue(tooLong.detail().contains("2000"), tooLong.detail());
    // the CSV row with 3 values, and the messages record, with their lines
    assertEquals(6L, only(r, "invalid_csv").line());
    assertEquals(4L, only(r, "invalid_messages").line());
    assertTrue(only(r, "missing_field").detail().contains("rejected"), only(r, "missing_field").detail());
  }

  @Test
  void exactDuplicatesKeepTheCopyFromTheFileThatSortsFirst() {
    Result r = base();
    assertSucceeded(r);
    // quarantined copy (file, record) -> kept copy (file, record)
    Map<String, String> keptFor = Map.of(
        HazardCorpus.FLAT + "#18", HazardCorpus.FLAT + "#2",          // same file: the earlier line
        HazardCorpus.PARQUET + "#2", HazardCorpus.FLAT + "#3",        // flat.jsonl sorts before flat.parquet
        HazardCorpus.HH + "#5", HazardCorpus.CHAT + "#4");            // chat.json sorts before hh.jsonl (messages == hh)
    List<QuarantineRow> dups = r.quarantine().stream().filter(q -> q.reason().equals("exact_duplicate")).toList();
    assertEquals(keptFor.keySet(), dups.stream().map(q -> q.file() + "#" + q.record()).collect(
        java.util.stream.Collectors.toSet()));
    for (QuarantineRow q : dups) {
      String kept = keptFor.get(q.file() + "#" + q.record());
      PairRow keptRow = r.pairs().stream().filter(p -> (p.file() + "#" + p.record()).equals(kept)).findFirst()
          .orElseThrow(() -> new AssertionError("kept copy " + kept + " is not in pairs/"));
      assertTrue(q.detail().contains("record " + keptRow.record() + " of " + keptRow.source() + " (kept)"),
          () -> "detail of " + q + " does not name the kept record " + kept + " (" + keptRow.source() + ")");
      // the quarantined copy's text is the kept pair's (normalized) text
      assertTrue(q.raw().contains(IngestRuns.JSON.valueToTree(keptRow.chosen()).toString()), q.raw());
    }
    for (QuarantineRow q : r.quarantine().stream().filter(q -> q.reason().equals("conflicting_preference")).toList()) {
      assertTrue(q.detail().contains("swapped"), q.detail());
    }
  }

  // ---------------------------------------------------------------------------------------------------- more runs

  @Test
  void tokenizedRunAddsTokenColumnsWithinTheBudget() {
    Path tokenizer = IngestRuns.gpt2Tokenizer();
    assertTrue(Files.isRegularFile(tokenizer), "missing fixture " + tokenizer);
    Path output = out("tokenized");
    Result r = run("tokenized", output, args(output, "--tokenizer", tokenizer.toString(), "--max-length", "64"));
    assertSucceeded(r);
    assertStats(expected, r);
    assertPairs(expected, r, corpus, true);
    assertEquals(idSplits(base()), idSplits(r), "tokenization changed which pairs were kept or their split");

    PairTokenizer plain = PairTokenizer.open(new TokenizerSpec(tokenizer.toString(), 0, 0, Truncation.KEEP_END, false));
    int eos = 50256;
    long promptsCut = 0;
    long responsesCut = 0;
    for (PairRow p : r.pairs()) {
      assertEquals(p.promptLen(), p.promptIds().length, p::toString);
      assertEquals(p.chosenLen(), p.chosenIds().length, p::toString);
      assertEquals(p.rejectedLen(), p.rejectedIds().length, p::toString);
      assertTrue(p.promptLen() + Math.max(p.chosenLen(), p.rejectedLen()) <= 64, p::toString);
      assertTrue(p.promptLen() <= 32, "max-prompt-length defaults to max-length / 2: " + p);
      int[] prompt = plain.encodeText(p.prompt());
      int[] chosen = append(plain.encodeText(p.chosen()), eos);
      int[] rejected = append(plain.encodeText(p.rejected()), eos);
      if (p.promptTruncated()) {
        promptsCut++;
        assertTrue(prompt.length > p.promptLen(), p::toString);
        assertArrayEquals(Arrays.copyOfRange(prompt, prompt.length - p.promptLen(), prompt.length), p.promptIds(),
            "keep_end keeps the end of the prompt");
      } else {
        assertArrayEquals(prompt, p.promptIds(), "prompt ids of " + p.prompt());
      }
      if (p.responseTruncated()) {
        responsesCut++;
        assertArrayEquals(Arrays.copyOf(chosen, p.chosenLen()), p.chosenIds(), "a cut response keeps its start");
        assertArrayEquals(Arrays.copyOf(rejected, p.rejectedLen()), p.rejectedIds(), "a cut response keeps its start");
      } else {
        assertEquals(eos, p.chosenIds()[p.chosenLen() - 1], "chosen ends with EOS: " + p);
        assertEquals(eos, p.rejectedIds()[p.rejectedLen() - 1], "rejected ends with EOS: " + p);
        assertArrayEquals(chosen, p.chosenIds(), "chosen ids of " + p.chosen());
        assertArrayEquals(rejected, p.rejectedIds(), "rejected ids of " + p.rejected());
      }
    }
    assertTrue(promptsCut > 0 && responsesCut > 0, "the corpus has a long prompt and long responses");
    JsonNode t = r.stats().path("tokenization");
    assertEquals(promptsCut, t.path("prompts_truncated").asLong(-1), t::toPrettyString);
    assertEquals(responsesCut, t.path("responses_truncated").asLong(-1), t::toPrettyString);
    assertEquals(64, t.path("max_length").asInt());
    assertEquals(32, t.path("max_prompt_length").asInt());
    assertTrue(t.path("max_sequence_tokens").asLong() <= 64, t::toPrettyString);
  }

  @Test
  void rerunningTheSameCommandGivesTheSameRows() {
    Result r = rerun();
    assertSucceeded(r);
    assertStats(expected, r);
    assertEquals(idSplits(base()), idSplits(r));
    assertTrue(idSplits(r).stream().anyMatch(s -> s.endsWith(" eval")));
  }

  @Test
  void anExistingOutputNeedsOverwriteAndIsReplacedOnlyByACompleteRun() throws IOException {
    Result first = rerun();                 // its rows are in memory; its directory is reused here
    assertSucceeded(first);
    Path output = first.output();
    Files.writeString(output.resolve("marker.txt"), "from an older run");
    List<String> before = IngestRuns.listing(output);
    String statsBefore = Files.readString(output.resolve("stats.json"));

    Result refused = run("no-overwrite", output, args(output));
    assertEquals(2, refused.exitCode(), refused::describe);
    assertTrue(refused.stderr().contains("--overwrite"), refused::describe);
    assertEquals(before, IngestRuns.listing(output), "a refused run touched the old output");
    assertEquals(statsBefore, Files.readString(output.resolve("stats.json")));
    assertEquals(List.of(), IngestRuns.tempSiblings(output));

    Result replaced = run("overwrite", output, args(output, "--overwrite"));
    assertSucceeded(replaced);
    assertFalse(Files.exists(output.resolve("marker.txt")), "the old output was not replaced");
    assertStats(expected, replaced);
    assertEquals(idSplits(base()), idSplits(replaced));
    assertEquals(List.of(), IngestRuns.tempSiblings(output));
  }

  @Test
  void aFailingRunLeavesNoOutputDirectory() throws IOException {
    // fails on the driver before anything is written
    Path noTokenizer = out("no-tokenizer");
    Result r = run("missing-tokenizer", noTokenizer,
        args(noTokenizer, "--tokenizer", tmp.resolve("no/such/tokenizer.json").toString()));
    assertEquals(2, r.exitCode(), r::describe);
    assertTrue(r.stderr().contains("tokenizer not found"), r::describe);
    assertNoOutput(r, noTokenizer);

    // fails in a task, after the temporary output was started: a file that cannot be opened (corrupt data would not
    // do: it becomes quarantine rows, see strictInputs...)
    Path corrupt = tmp.resolve("unopenable-input");
    Files.createDirectories(corrupt);
    Files.copy(corpus.resolve(HazardCorpus.FLAT), corrupt.resolve("a.jsonl"));
    Files.copy(corpus.resolve(HazardCorpus.FLAT), corrupt.resolve("fail-b.jsonl"));
    Path failed = out("corrupt");
    List<String> a = args(failed, "--conf", "spark.hadoop.fs.failopen.impl=" + FailingOpenFileSystem.class.getName());
    a.set(a.indexOf(corpus.toString()), "failopen://" + corrupt);
    Result r2 = run("unopenable-input", failed, a);
    assertNotEquals(0, r2.exitCode(), r2::describe);
    assertTrue(r2.stderr().contains("fail-b.jsonl"), () -> "the error should name the bad file\n" + r2.describe());
    assertNoOutput(r2, failed);
  }

  @Test
  void nearDuplicateRunFromTheConfigFileWithTheThresholdOverriddenOnTheCommandLine() throws IOException {
    // the file says near-dup-threshold = 0 (off); the command line says 0.8 and wins
    Path config = writeConfig("near.conf", out("config-unused"));
    Path output = out("near");
    Result r = run("near-dup", output, List.of("ingest", "--master", MASTER, "--config", config.toString(),
        "--near-dup-threshold", String.valueOf(HazardCorpus.NEAR_DUP_THRESHOLD), "--output", output.toString()));
    assertSucceeded(r);
    Expected near = expected.withNearDuplicatesRemoved();
    assertStats(near, r);
    assertPairs(near, r, corpus, false);
    assertQuarantine(near, r, corpus);
    assertEquals(HazardCorpus.NEAR_DUP_THRESHOLD, r.stats().path("options").path("near_dup_threshold").asDouble());
    QuarantineRow q = only(r, "near_duplicate");
    assertTrue(q.detail().contains(near.nearKept().id()), () -> q.detail() + " should name " + near.nearKept().id());
    assertTrue(r.pairs().stream().anyMatch(p -> p.id().equals(near.nearKept().id())));
    assertFalse(Files.exists(out("config-unused")), "--output did not override ingest.output");
  }

  @Test
  void aConfigFileAloneGivesTheSameResultAsTheFlags() throws IOException {
    Path output = out("config");
    Path config = writeConfig("ingest.conf", output);
    Result r = run("config", output, List.of("ingest", "--master", MASTER, "--config", config.toString()));
    assertSucceeded(r);
    assertStats(expected, r);
    assertPairs(expected, r, corpus, false);
    assertQuarantine(expected, r, corpus);
    assertEquals(idSplits(base()), idSplits(r));
    JsonNode o1 = r.stats().path("options");
    JsonNode o0 = base().stats().path("options");
    assertEquals(o0, o1, "the same options from the file as from the flags");
  }

  /**
   * SHP CSV rows whose score cells are empty: RankedFormat documents "score_A/score_B or, without scores, labels", and
   * an empty CSV cell is how a CSV says "no score", so the label decides.
   */
  @Test
  void shpCsvRowsWithoutScoresFallBackToLabels() throws IOException {
    Path dir = tmp.resolve("shp-labels");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("labels.csv"), "history,human_ref_A,human_ref_B,score_A,score_B,labels\n"
        + "\"Which is colder, ice or steam?\",Ice is colder.,Steam is colder.,,,1\n"
        + "Is a tomato a fruit?,No.,\"Botanically yes, it is a fruit.\",,,0\n");
    Path output = out("shp-labels");
    List<String> a = args(output);
    a.set(a.indexOf(corpus.toString()), dir.toString());
    Result r = run("shp-labels", output, a);
    assertSucceeded(r);
    assertEquals(2, r.stats().path("input_records").asLong(), r.stats()::toPrettyString);
    assertEquals(Map.of(), IngestChecks.longs(r.stats().path("quarantined")),
        () -> "quarantined: " + r.quarantine());
    assertEquals(List.of(
            HazardCorpus.key("labels.csv", 1, "ranked", "Which is colder, ice or steam?", "Ice is colder.",
                "Steam is colder."),
            HazardCorpus.key("labels.csv", 2, "ranked", "Is a tomato a fruit?", "Botanically yes, it is a fruit.", "No.")),
        r.pairs().stream().map(p -> HazardCorpus.key(p.file(), p.record(), p.format(), p.prompt(), p.chosen(),
            p.rejected())).sorted().toList());
  }

  /**
   * Every byte of every input file is a pair or a quarantine row: two records on a JSONL line, trailing characters,
   * a lone surrogate escape, an unterminated CSV quote (the row after it is still read), content after a .json array,
   * a truncated .gz (the records before the cut are kept) and a file named .parquet that is not Parquet; a notes file
   * and symlinks out of the input ({@code up -> ..}) and into itself ({@code self -> .}) are skipped and counted.
   */
  @Test
  void strictInputsEveryByteIsAPairOrAQuarantineRow() throws IOException {
    Path dir = tmp.resolve("strict-input");
    Files.createDirectories(dir);
    String pair = "{\"prompt\": \"%s\", \"chosen\": \"%s\", \"rejected\": \" no\"}";
    Files.writeString(dir.resolve("a.jsonl"), String.join("\n",
        String.format(pair, "A1", " yes"),
        String.format(pair, "A2", " yes") + String.format(pair, "A3", " yes"),
        String.format(pair, "A4", " yes") + " xyz",
        String.format(pair, "A5", " bad \\ud800 text"),
        String.format(pair, "A6", " yes")) + "\n");
    Files.writeString(dir.resolve("b.csv"),
        "prompt,chosen,rejected\n\"Q1\",\" a1\",\" b1\"\n\"Q2, a2, b2\n\"Q3\",\" a3\",\" b3\"\n");
    Files.writeString(dir.resolve("c.json"), "[" + String.format(pair, "C1", " yes") + "]\n"
        + String.format(pair, "C2", " yes") + "\n");
    // d.jsonl.gz: a complete gzip member with 3 records, then a second member cut off after 30 bytes
    java.io.ByteArrayOutputStream gz = new java.io.ByteArrayOutputStream();
    try (var z = new java.util.zip.GZIPOutputStream(gz)) {
      z.write((String.format(pair, "D1", " yes") + "\n" + String.format(pair, "D2", " yes") + "\n"
          + String.format(pair, "D3", " yes") + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    java.io.ByteArrayOutputStream second = new java.io.ByteArrayOutputStream();
    try (var z = new java.util.zip.GZIPOutputStream(second)) {
      byte[] noise = new byte[4000];
      new java.util.Random(3).nextBytes(noise);
      z.write(java.util.HexFormat.of().formatHex(noise).getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    }
    gz.write(second.toByteArray(), 0, 30);
    Files.write(dir.resolve("d.jsonl.gz"), gz.toByteArray());
    Files.writeString(dir.resolve("e.parquet"), "this is not a parquet file\n".repeat(10));
    Files.writeString(dir.resolve("notes.txt"), "not input\n");
    Files.createSymbolicLink(dir.resolve("up"), Path.of(".."));
    Files.createSymbolicLink(dir.resolve("self"), Path.of("."));

    Path output = out("strict");
    List<String> a = args(output);
    a.set(a.indexOf(corpus.toString()), dir.toString());
    Result r = run("strict", output, a);
    assertSucceeded(r);
    JsonNode s = r.stats();
    assertEquals(5, s.path("input_files").asInt(), s::toPrettyString);
    assertEquals(15, s.path("input_records").asLong(), s::toPrettyString);
    assertEquals(8, s.path("output_pairs").asLong(), s::toPrettyString);
    assertEquals(Map.of("invalid_json", 3L, "invalid_text", 1L, "invalid_csv", 1L, "unreadable_file", 2L),
        IngestChecks.longs(s.path("quarantined")), s::toPrettyString);
    assertEquals(1, s.path("skipped_files").asLong(), s::toPrettyString);
    assertEquals(2, s.path("skipped_symlinks").asLong(), s::toPrettyString);
    assertEquals(3, IngestChecks.strings(s.path("skipped_examples")).size(), s::toPrettyString);
    assertEquals(List.of("a.jsonl|1|A1", "a.jsonl|5|A6", "b.csv|1|Q1", "b.csv|3|Q3", "c.json|1|C1", "d.jsonl.gz|1|D1",
        "d.jsonl.gz|2|D2", "d.jsonl.gz|3|D3"),
        r.pairs().stream().map(p -> p.file() + "|" + p.record() + "|" + p.prompt()).sorted().toList());
    assertEquals(List.of("a.jsonl|2|2|invalid_json", "a.jsonl|3|3|invalid_json", "a.jsonl|4|4|invalid_text",
            "b.csv|2|3|invalid_csv", "c.json|2|2|invalid_json", "d.jsonl.gz|4|4|unreadable_file",
            "e.parquet|1|null|unreadable_file"),
        r.quarantine().stream().map(q -> q.file() + "|" + q.record() + "|" + q.line() + "|" + q.reason()).sorted()
            .toList());
    for (QuarantineRow q : r.quarantine()) {
      assertEquals(dir.resolve(q.file()), IngestRuns.localPath(q.source()), () -> "source of " + q);
      if (q.reason().equals("unreadable_file")) {
        assertTrue(q.detail().startsWith(q.source() + " cannot be read after "), q.detail());
      }
    }
    assertEquals(" b3", r.pairs().stream().filter(p -> p.prompt().equals("Q3")).findFirst().orElseThrow().rejected());
  }

  @Test
  void helpMentionsEveryIngestOption() {
    Result r = IngestRuns.run(null, "ingest", "--help");
    assertEquals(0, r.exitCode(), r::describe);
    for (String option : List.of("--input", "--output", "--format", "--tokenizer", "--max-length",
        "--max-prompt-length", "--truncation", "--near-dup-threshold", "--eval-fraction", "--seed", "--config",
        "--max-chars", "--overwrite", "--master", "--conf")) {
      assertTrue(r.stdout().contains(option), () -> "ingest --help does not mention " + option + ":\n" + r.stdout());
    }
    assertEquals(0, SparkDpo.run("--help"));
  }

  // ---------------------------------------------------------------------------------------------------- helpers

  /** An HOCON config with the same settings as {@link #args}: the corpus, --max-chars, --eval-fraction. */
  static Path writeConfig(String name, Path output) throws IOException {
    Path dir = tmp.resolve("conf");
    Files.createDirectories(dir);
    String q = IngestRuns.JSON.writeValueAsString(corpus.toString());
    String o = IngestRuns.JSON.writeValueAsString(output.toString());
    Path file = dir.resolve(name);
    Files.writeString(file, String.join("\n",
        "# written by LocalIngestTest",
        "spark.conf { \"spark.ui.enabled\" = false }",
        "ingest {",
        "  input = [" + q + "]",
        "  output = " + o,
        "  max-chars = " + HazardCorpus.MAX_CHARS,
        "  eval-fraction = 0.3",
        "  near-dup-threshold = 0",
        "}", ""));
    return file;
  }

  static QuarantineRow only(Result r, String reason) {
    List<QuarantineRow> rows = r.quarantine().stream().filter(q -> q.reason().equals(reason)).toList();
    assertEquals(1, rows.size(), () -> reason + " rows: " + rows);
    return rows.get(0);
  }

  private static int[] append(int[] ids, int id) {
    int[] out = Arrays.copyOf(ids, ids.length + 1);
    out[ids.length] = id;
    return out;
  }
}
