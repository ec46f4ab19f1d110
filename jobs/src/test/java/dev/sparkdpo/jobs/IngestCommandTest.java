package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.*;

import dev.sparkdpo.data.IngestOptions;
import dev.sparkdpo.data.formats.InputFormat;
import dev.sparkdpo.data.tokenize.Truncation;
import java.io.File;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Options → settings: defaults, a HOCON file, and command-line overrides (no Spark needed). */
class IngestCommandTest {
  @TempDir Path dir;

  private IngestOptions parse(String... args) {
    return IngestCommand.options(JobConfigTest.settings(new IngestCommand(), args));
  }

  @Test
  void defaultsApplyWhenOnlyInputAndOutputAreGiven() {
    IngestOptions o = parse("--input", "a.jsonl", "--input", "b/", "--output", "out");
    assertEquals(List.of("a.jsonl", "b/"), o.inputs());
    assertNull(o.format(), "auto");
    assertEquals(0.05, o.evalFraction());
    assertEquals(0.0, o.nearDupThreshold());
    assertEquals(100_000, o.maxChars());
    assertNull(o.tokenizer());
  }

  @Test
  void aConfigFileSetsEverythingAndTheCommandLineWins() throws Exception {
    File conf = dir.resolve("run.conf").toFile();
    Files.writeString(conf.toPath(), """
        ingest {
          input = ["x.jsonl"]
          output = "o"
          format = hh
          tokenizer = "tok.json"
          max-length = 128
          truncation = keep_start
          near-dup-threshold = 0.9
          eval-fraction = 0.2
        }
        """);
    IngestOptions fromFile = parse("--config", conf.getPath());
    assertEquals(InputFormat.HH, fromFile.format());
    assertEquals(128, fromFile.tokenizer().maxLength());
    assertEquals(64, fromFile.tokenizer().maxPromptLength(), "defaults to half of max-length");
    assertEquals(Truncation.KEEP_START, fromFile.tokenizer().truncation());
    assertEquals(0.9, fromFile.nearDupThreshold());
    IngestOptions overridden = parse("--config", conf.getPath(), "--eval-fraction", "0.5", "--max-prompt-length", "100");
    assertEquals(0.5, overridden.evalFraction());
    assertEquals(100, overridden.tokenizer().maxPromptLength());
    assertEquals(List.of("x.jsonl"), overridden.inputs());
  }

  @Test
  void badValuesNameTheOption() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> parse("--input", "a", "--output", "o", "--eval-fraction", "1.5"));
    assertTrue(e.getMessage().contains("--eval-fraction"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse("--input", "a"));
    assertTrue(e.getMessage().contains("--output"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse("--input", "a", "--output", "o", "--format", "xml"));
    assertTrue(e.getMessage().contains("flat"), e.getMessage());
  }

  @Test
  void tokenSettingsNeedATokenizerWhereverTheyAreGiven() throws Exception {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> parse("--input", "a", "--output", "o", "--max-length", "128"));
    assertEquals("--max-length / ingest.max-length needs --tokenizer (token limits count tokens): add --tokenizer "
        + "<tokenizer.json or model dir> (or ingest.tokenizer in --config)", e.getMessage());
    for (String[] option : List.of(new String[] {"--max-prompt-length", "64"}, new String[] {"--truncation", "keep_start"},
        new String[] {"--append-eos", "false"})) {
      e = assertThrows(IllegalArgumentException.class, () -> parse("--input", "a", "--output", "o", option[0], option[1]));
      assertTrue(e.getMessage().startsWith(option[0] + " / ingest." + option[0].substring(2) + " needs --tokenizer"),
          e.getMessage());
    }
    File conf = dir.resolve("tok.conf").toFile();
    Files.writeString(conf.toPath(), "ingest { input = [a], output = o, max-length = 128 }\n");
    e = assertThrows(IllegalArgumentException.class, () -> parse("--config", conf.getPath()));
    assertTrue(e.getMessage().startsWith("--max-length / ingest.max-length needs --tokenizer"), e.getMessage());
    assertEquals(128, parse("--config", conf.getPath(), "--tokenizer", "t.json").tokenizer().maxLength());
  }

  @Test
  void settingsOfSwitchedOffStepsAreRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> parse("--input", "a", "--output", "o", "--near-dup-shingle", "3"));
    assertTrue(e.getMessage().startsWith("--near-dup-shingle / ingest.near-dup-shingle needs --near-dup-threshold > 0"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> parse("--input", "a", "--output", "o", "--format", "hh", "--min-score-gap", "1"));
    assertTrue(e.getMessage().startsWith("--min-score-gap / ingest.min-score-gap needs --format ranked or auto"),
        e.getMessage());
    IngestOptions o = parse("--input", "a", "--output", "o", "--near-dup-threshold", "0.8", "--near-dup-shingle", "3",
        "--near-dup-hash-tables", "9", "--max-record-bytes", "4096", "--ranked-pairs", "all");
    assertEquals(3, o.nearDupShingle());
    assertEquals(9, o.nearDupHashTables());
    assertEquals(4096, o.maxRecordBytes());
    assertTrue(o.formatOptions().rankedAllPairs());
  }

  @Test
  void helpDocumentsEveryOption() {
    StringWriter out = new StringWriter();
    CommandLine cli = new CommandLine(new SparkDpo());
    cli.setOut(new PrintWriter(out));
    assertEquals(0, cli.execute("ingest", "--help"));
    for (String option : List.of("--input", "--output", "--format", "--tokenizer", "--max-length",
        "--max-prompt-length", "--truncation", "--append-eos", "--near-dup-threshold", "--eval-fraction", "--seed",
        "--max-chars", "--max-record-bytes", "--near-dup-shingle", "--near-dup-hash-tables", "--ranked-pairs",
        "--min-score-gap", "--min-score-ratio", "--overwrite", "--config",
        "--master", "--conf")) {
      assertTrue(out.toString().contains(option), option + " missing from --help:\n" + out);
    }
  }
}
