package dev.sparkdpo.tests.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.core.config.Configurator;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every failure a user can cause ends with a non-zero exit and exactly one {@code error:} line on stderr that names
 * the file, field or pair and the fix; no stack trace reaches the terminal (it is logged at DEBUG). Table-driven: a
 * {@link Case} per mistake, run through the real CLI in this JVM with stderr captured (conf/log4j2.properties'
 * console appender follows System.err, so Spark's and spark-dpo's log lines are captured too).
 *
 * <p>To add a case, add a {@link #row} to {@link #cases()}: a name, the command line ({@code {name}} placeholders
 * are the prepared inputs of {@link #path}), and the words the error line must contain. Inputs are prepared once:
 * a small model of the GPT-2 tokenizer's vocabulary, broken copies of it, and a tokenized ingest of the demo data.
 *
 * <p>What each case printed before this test existed is in the comment above {@link #cases()}.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class OneLineErrorsTest {
  /** A log line of a logger at INFO or WARN (conf/log4j2.properties' pattern): progress and warnings, allowed. */
  private static final Pattern LOG_LINE = Pattern.compile("^\\d\\d:\\d\\d:\\d\\d (INFO|WARN) [\\w$.]+: .*");
  private static final String MASTER = "local[1]";

  @TempDir static Path tmp;

  /**
   * One mistake: the command line ({@code {name}} = {@link #path}), what its error line must contain, and whether it
   * runs in a child JVM ({@link #isolated}).
   */
  record Case(String name, String commandLine, List<String> expected, boolean childJvm) {
    String[] args() {
      return Arrays.stream(commandLine.trim().split("\\s+")).map(OneLineErrorsTest::resolve).toArray(String[]::new);
    }
  }

  static Case row(String name, String commandLine, String... expected) {
    return new Case(name, commandLine, List.of(expected), false);
  }

  /**
   * A case run in a child JVM: a SparkContext that failed to start leaves its JVM warning, with a multi-line call
   * site, at every later session (SPARK-2243); the CLI runs one command per JVM, this test many.
   */
  static Case isolated(String name, String commandLine, String... expected) {
    return new Case(name, commandLine, List.of(expected), true);
  }

  /*
   * What a hostile user got from bin/spark-dpo before this test (at 8feef2c) and now. "n lines": stderr lines besides
   * INFO/WARN log lines; "trace": a Java stack trace on the terminal.
   *
   * case                                  before                                    after
   * unknown subcommand                    exit 2, 2 lines ("Did you mean")          exit 2, one error: line
   * unknown option, missing option        exit 2, message + usage (21-97 lines)     exit 2, one line + "see --help"
   * bench without subcommand              exit 2, message + usage (14 lines)        exit 2, one line
   * ingest --input missing                exit 2, one line                          unchanged
   * ingest --input not JSON               exit 0, every record quarantined          unchanged (the readers' work)
   * tokenizer: dir w/o tokenizer.json     exit 2, one line                          unchanged
   * tokenizer: corrupt, not a tokenizer   exit 1, DJL trace (21-26 lines)           exit 2, names the file + fix
   * ingest --eval-fraction 2              exit 2, one line                          unchanged
   * ingest --max-chars -5                 exit 0: accepted                          exit 2, "--max-chars >= 0"
   * ingest --max-length -3                exit 2, "maxLength must be ..."           exit 2, names --max-length
   * --master foo, local[0]                exit 1, SparkException trace (47 lines)   exit 2, the master + valid forms
   * --master spark://127.0.0.1:1          exit 1 after 60 s, 172 lines of traces    exit 2 in ~1 s, "start-master"
   * init-model --n-head 3, --n-layer 0    exit 2, one line                          unchanged
   * model dir missing, no config.json     exit 2, one line                          + the expected layout
   * config.json not JSON, no n_embd       exit 2, names a temporary copy            exit 2, --model DIR + fix
   * no model.safetensors (reference)      exit 1, UncheckedIOException trace        exit 2, --model DIR + layout
   * safetensors truncated, header length  exit 2 after the job failed: ~224 lines   exit 2 before the job: "--model
   *   beyond the file, header not JSON,     of Executor and TaskSetManager traces;    DIR: model.safetensors is
   *   missing tensor, wrong shape/dtype     the error names the file twice            corrupt (...); re-save ..."
   * model vocab 1000 < ids (reference)    exit 2, 276 lines, "token id out of       exit 2 before the job: pair,
   *                                         range: 24361" (no pair, no fix)           column, vocab, max id, fix
   * model vocab 1000 < ids (train)        exit 2, 61 lines, the same message        the reference's one line
   * NaN model (fails inside a task)       exit 2 + Executor/TaskSetManager traces   exit 2, one line (the pair)
   * reference --data untokenized, --data  exit 2, one line                          unchanged
   *   not a stage output
   * train --data ingest or foreign dir    exit 2, one line                          + how to make a reference
   * train --beta -1, --batch-size-per-    exit 2, one line                          unchanged
   *   worker 0, --eval-fraction 2
   * train with a truncated model          exit 2, the file named twice              exit 2, --model DIR: ... + fix
   * an internal failure (exit 1)          the full stack trace                      one line + "(stack trace: run
   *                                                                                   with SPARK_DPO_LOG_LEVEL=debug)"
   */
  /** The table. Placeholders: see {@link #prepare}. */
  static List<Case> cases() {
    String ref = "reference --master " + MASTER + " --data {ingest} --output {out}/ref-";
    String train = "train --master " + MASTER + " --output {out}/train-";
    return List.of(
        // ---------------------------------------------------------------- usage (picocli), before anything runs
        row("unknown subcommand", "frobnicate", "'frobnicate'", "spark-dpo --help"),
        row("unknown option", "train --bogus-option 1", "--bogus-option", "spark-dpo train --help"),
        row("missing required option", "init-model --tokenizer {tokenizer}", "--output", "init-model --help"),
        row("missing subcommand", "bench", "subcommand", "bench --help"),
        row("option value of the wrong type", "init-model --tokenizer {tokenizer} --output {out}/m --n-layer two",
            "--n-layer", "two"),
        row("missing --data", "reference --model {model} --output {out}/r", "--data"),
        // ---------------------------------------------------------------- bad numbers
        row("ingest --eval-fraction 2", "ingest --input {demo} --output {out}/i --eval-fraction 2", "--eval-fraction",
            "[0, 1)"),
        row("ingest --max-chars -5", "ingest --input {demo} --output {out}/i --max-chars -5", "--max-chars", ">= 0"),
        row("train --beta -1", train + "beta --data {ingest} --model {model} --beta -1", "beta", "> 0"),
        row("train --batch-size-per-worker 0", train + "batch --data {ingest} --model {model}"
            + " --batch-size-per-worker 0", "batch-size-per-worker", ">= 1"),
        row("train --eval-fraction 2", train + "evalfraction --objective sft --data {demo} --model {model}"
            + " --eval-fraction 2", "eval-fraction", "[0, 1)"),
        row("train --lora-rank -1", train + "lorarank --data {ingest} --model {model} --lora-rank -1", "--lora-rank",
            ">= 0", "full fine-tuning"),
        row("train --lora-dropout 1", train + "loradropout --data {ingest} --model {model} --lora-rank 4"
            + " --lora-dropout 1", "--lora-dropout must be in [0, 1)", "got 1.0"),
        row("train --lora-targets nope", train + "loratargets --objective sft --data {ingest} --model {model}"
            + " --lora-rank 4 --lora-targets nope", "--lora-targets", "'nope' matches no linear layer"),
        row("train --merge without --lora-rank", train + "merge --data {ingest} --model {model} --merge", "--merge",
            "needs --lora-rank"),
        row("reference --batch-tokens 0", ref + "batch --model {model} --batch-tokens 0", "--batch-tokens", ">= 1"),
        row("init-model --n-head 3", "init-model --tokenizer {tokenizer} --output {out}/m --n-embd 32 --n-head 3",
            "n_embd", "n_head"),
        // ---------------------------------------------------------------- --master
        isolated("--master foo", "ingest --master foo --input {demo} --output {out}/i", "foo", "local[*]"),
        isolated("--master local[0]", "ingest --master local[0] --input {demo} --output {out}/i", "local[0]",
            "0 threads", "local[N]"),
        row("--master with nothing listening", "ingest --master spark://127.0.0.1:1 --input {demo} --output {out}/i",
            "spark://127.0.0.1:1", "no Spark master answers", "start-master"),
        // ---------------------------------------------------------------- inputs
        row("ingest --input missing", "ingest --master " + MASTER + " --input {tmp}/nope.jsonl --output {out}/i",
            "--input", "nope.jsonl"),
        row("tokenizer: directory without tokenizer.json", "init-model --tokenizer {emptyDir} --output {out}/m",
            "tokenizer.json", "empty-dir"),
        row("tokenizer: corrupt JSON", "init-model --tokenizer {corruptTokenizer} --output {out}/m",
            "corrupt-tokenizer.json", "not a Hugging Face tokenizer.json", "the model's tokenizer.json"),
        row("tokenizer: JSON that is not a tokenizer", "ingest --master " + MASTER + " --input {demo} --output {out}/i"
            + " --tokenizer {notTokenizer}", "not-a-tokenizer.json", "not a Hugging Face tokenizer.json"),
        row("tokenizer: a text file", "init-model --tokenizer {demo} --output {out}/m", "flat.jsonl",
            "not a Hugging Face tokenizer.json"),
        // ---------------------------------------------------------------- model directories
        row("model: no such directory", ref + "nodir --model {tmp}/no-model", "--model", "no-model",
            "does not exist"),
        row("model: no config.json", ref + "noconfig --model {noConfig}", "--model", "no-config", "config.json"),
        row("model: config.json not JSON", ref + "badjson --model {badConfig}", "config.json", "not valid JSON",
            "save_pretrained"),
        row("model: config.json without n_embd", ref + "noembd --model {noEmbd}", "config.json", "n_embd",
            "is missing", "save_pretrained"),
        row("model: no model.safetensors", ref + "noweights --model {noWeights}", "--model", "model.safetensors"),
        row("model: truncated safetensors", ref + "trunc --model {truncated}", "model.safetensors", "truncated",
            "save_pretrained"),
        row("model: header length beyond the file", ref + "hdr --model {hugeHeader}", "model.safetensors",
            "is corrupt", "header length 9000000000000000000 exceeds the file size", "save_pretrained"),
        row("model: header not JSON", ref + "hdrjson --model {junkHeader}", "model.safetensors", "not JSON",
            "save_pretrained"),
        row("model: missing tensor", ref + "missing --model {missingTensor}", "model.safetensors",
            "transformer.h.0.ln_1.weight", "h.0.ln_1.weight", "save_pretrained"),
        row("model: tensor of the wrong shape", ref + "shape --model {wrongShape}", "transformer.ln_f.weight",
            "[4, 2]", "expected [8]"),
        row("model: unsupported dtype", ref + "dtype --model {wrongDtype}", "transformer.ln_f.weight", "I32",
            "float32"),
        row("train: truncated model", train + "trunc --objective sft --data {ingest} --model {truncated}",
            "--model", "model.safetensors", "save_pretrained"),
        // an input error found in a Spark task: Spark's own reports of the failed task stay off the terminal
        row("reference: model that gives NaN (fails in a task)", ref + "nan --model {nanModel}", "pair ",
            "not finite", "nan-model"),
        // ---------------------------------------------------------------- data of the wrong stage or tokenizer
        row("reference: ingest output without token columns", "reference --master " + MASTER + " --data {untokenized}"
            + " --model {model} --output {out}/ref-untok", "prompt_ids", "--tokenizer"),
        row("reference: not a stage output", "reference --master " + MASTER + " --data {emptyDir} --model {model}"
            + " --output {out}/ref-notstage", "--data", "_SUCCESS"),
        row("reference: another stage's output as --data", "reference --master " + MASTER + " --data {model}"
            + " --model {model} --output {out}/ref-wrongstage", "--data", "init-model output", "an ingest or generate-pairs output"),
        row("train dpo: not a reference output", train + "notref --data {ingest} --model {model}", "--data",
            "reference output", "bin/spark-dpo reference"),
        row("reference: model vocab smaller than the token ids", ref + "vocab --model {smallVocab}", "pair ",
            "_ids", "vocabulary of 1000", "tokenize with the model's tokenizer"),
        row("train sft: model vocab smaller than the token ids", train + "vocab --objective sft --data {ingest}"
            + " --model {smallVocab}", "pair ", "_ids", "vocabulary of 1000", "tokenize with the model's tokenizer"),

        // the output protocol (StageOutput): nothing but our own output is replaced, inputs and outputs stay apart
        row("output: a plain file", "ingest --master " + MASTER + " --input {demo} --output {plainFile} --overwrite",
            "--output", "notes.txt", "is a file"),
        row("output: the input itself, --overwrite", "ingest --master " + MASTER + " --input {usersDir} --output"
            + " {usersDir} --overwrite", "--output", "contains --input", "outside the input"),
        row("output: inside the input", "ingest --master " + MASTER + " --input {usersDir} --output {usersDir}/out",
            "inside --input", "would read its own output"),
        row("output: a user's directory, --overwrite", "ingest --master " + MASTER + " --input {demo} --output"
            + " {usersDir} --overwrite", "not written by spark-dpo", "prefs.jsonl", "remove it yourself"),
        row("output: a user's directory, train --force", train.replace("{out}/train-", "{usersDir}")
            + " --data {ingest} --model {model} --force", "not written by spark-dpo", "prefs.jsonl"),
        row("output: another stage's output", "init-model --tokenizer {tokenizer} --output {ingest} --overwrite",
            "holds a spark-dpo ingest output", "init-model"),
        row("reference: output inside the model", ref.replace("{out}/ref-", "{model}/ref") + " --model {model}",
            "inside --model"));
  }

  /** Placeholder values, filled by {@link #prepare}. */
  private static final java.util.Map<String, Path> PATHS = new java.util.LinkedHashMap<>();

  static Path path(String name) {
    Path p = PATHS.get(name);
    if (p == null) throw new IllegalArgumentException("no prepared input {" + name + "}");
    return p;
  }

  private static String resolve(String arg) {
    java.util.regex.Matcher m = Pattern.compile("\\{(\\w+)\\}").matcher(arg);
    StringBuilder sb = new StringBuilder();
    while (m.find()) m.appendReplacement(sb, java.util.regex.Matcher.quoteReplacement(path(m.group(1)).toString()));
    return m.appendTail(sb).toString();
  }

  @BeforeAll
  static void prepare() throws IOException {
    PATHS.put("tmp", tmp);
    PATHS.put("out", Files.createDirectories(tmp.resolve("out")));
    PATHS.put("tokenizer", CliRuns.gpt2Tokenizer());
    Path demo = Path.of(System.getProperty("project.root", "../.."), "tests/src/test/resources/demo/flat.jsonl");
    PATHS.put("demo", demo.toAbsolutePath().normalize());
    PATHS.put("emptyDir", Files.createDirectories(tmp.resolve("empty-dir")));
    PATHS.put("corruptTokenizer", write(tmp.resolve("corrupt-tokenizer.json"), "{\"version\": \"1.0\", \"model\": {"));
    PATHS.put("notTokenizer", write(tmp.resolve("not-a-tokenizer.json"), "{\"hello\": \"world\"}\n"));
    PATHS.put("plainFile", write(tmp.resolve("notes.txt"), "a user's file\n"));
    Path users = Files.createDirectories(tmp.resolve("users-data"));
    Files.copy(demo, users.resolve("prefs.jsonl"));
    PATHS.put("usersDir", users);

    // a model of the GPT-2 tokenizer's vocabulary (tiny otherwise), and copies broken one way each
    Path model = tmp.resolve("model");
    CliRuns.Run init = CliRuns.run("init-model", "--tokenizer", CliRuns.gpt2Tokenizer().toString(), "--output",
        model.toString(), "--n-layer", "1", "--n-embd", "8", "--n-head", "2", "--n-positions", "64");
    assertEquals(0, init.exitCode(), init.describe());
    PATHS.put("model", model);
    PATHS.put("noConfig", broken("no-config", d -> delete(d.resolve("config.json"))));
    PATHS.put("badConfig", broken("bad-config", d -> write(d.resolve("config.json"), "{ this is not json\n")));
    PATHS.put("noEmbd", broken("no-embd", d -> editConfig(d, c -> c.remove("n_embd"))));
    PATHS.put("noWeights", broken("no-weights", d -> delete(d.resolve("model.safetensors"))));
    PATHS.put("truncated", broken("truncated", d -> {
      byte[] b = read(d.resolve("model.safetensors"));
      writeBytes(d.resolve("model.safetensors"), Arrays.copyOf(b, b.length / 2));
    }));
    PATHS.put("hugeHeader", broken("huge-header", d -> {
      byte[] b = read(d.resolve("model.safetensors"));
      ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 9_000_000_000_000_000_000L);
      writeBytes(d.resolve("model.safetensors"), b);
    }));
    PATHS.put("junkHeader", broken("junk-header", d -> {
      byte[] b = read(d.resolve("model.safetensors"));
      System.arraycopy("garbage!".getBytes(StandardCharsets.US_ASCII), 0, b, 8, 8);
      writeBytes(d.resolve("model.safetensors"), b);
    }));
    PATHS.put("missingTensor", broken("missing-tensor",
        d -> editHeader(d, h -> h.remove("transformer.h.0.ln_1.weight"))));
    PATHS.put("wrongShape", broken("wrong-shape",
        d -> editHeader(d, h -> ((ObjectNode) h.get("transformer.ln_f.weight")).putArray("shape").add(4).add(2))));
    PATHS.put("wrongDtype", broken("wrong-dtype",
        d -> editHeader(d, h -> ((ObjectNode) h.get("transformer.ln_f.weight")).put("dtype", "I32"))));
    PATHS.put("nanModel", broken("nan-model", d -> editData(d, "transformer.ln_f.weight", Float.NaN)));
    // the HF fixture: vocab 1000, far below the GPT-2 ids of the ingest output
    Path small = Files.createDirectories(tmp.resolve("small-vocab"));
    for (String f : List.of("config.json", "model.safetensors")) {
      Files.copy(CliRuns.testData().resolve("fixtures/hf-gpt2-tiny").resolve(f), small.resolve(f));
    }
    PATHS.put("smallVocab", small);

    // the demo data tokenized with GPT-2, and the same pairs without token columns
    Path ingest = tmp.resolve("ingest");
    CliRuns.Run run = CliRuns.run("ingest", "--master", MASTER, "--input", demo.toString(), "--output",
        ingest.toString(), "--tokenizer", CliRuns.gpt2Tokenizer().toString());
    assertEquals(0, run.exitCode(), run.describe());
    PATHS.put("ingest", ingest);
    Path untokenized = tmp.resolve("untokenized");
    CliRuns.withLocalSpark(spark -> spark.read().parquet(ingest.resolve("pairs").toString())
        .drop("prompt_ids", "chosen_ids", "rejected_ids").write().partitionBy("split")
        .parquet(untokenized.resolve("pairs").toString()));
    Files.copy(ingest.resolve("stats.json"), untokenized.resolve("stats.json"));
    write(untokenized.resolve("_SUCCESS"), "");
    PATHS.put("untokenized", untokenized);
  }

  @TestFactory
  Stream<DynamicTest> everyMistakeIsOneErrorLine() {
    return cases().stream().map(c -> DynamicTest.dynamicTest(c.name(), () -> {
      CliRuns.Run run = c.childJvm() ? runInChild(c.args()) : CliRuns.run(c.args());
      assertOneErrorLine(run, c.expected());
    }));
  }

  /** The CLI in a child JVM (stdout and stderr together: a failing command prints nothing on stdout). */
  private static CliRuns.Run runInChild(String[] args) throws IOException, InterruptedException {
    Path log = Files.createTempFile(tmp, "child-", ".log");
    long t0 = System.nanoTime();
    Process p = CliRuns.startChild(log, args);
    if (!p.waitFor(2, TimeUnit.MINUTES)) {
      p.destroyForcibly();
      fail("spark-dpo " + String.join(" ", args) + " still runs after 2 minutes:\n" + Files.readString(log));
    }
    return new CliRuns.Run(args, p.exitValue(), "", Files.readString(log), (System.nanoTime() - t0) / 1e9, null);
  }

  /** The stack trace the error line leaves out is in the log at DEBUG, for the user who asks for it. */
  @Test
  void theStackTraceIsLoggedAtDebug() {
    Level before = org.apache.logging.log4j.LogManager.getLogger("dev.sparkdpo.jobs.SparkDpo").getLevel();
    Configurator.setLevel("dev.sparkdpo.jobs.SparkDpo", Level.DEBUG);
    try {
      CliRuns.Run run = CliRuns.run("init-model", "--tokenizer", path("corruptTokenizer").toString(), "--output",
          tmp.resolve("out/debug-model").toString());
      assertEquals(2, run.exitCode(), run.describe());
      assertTrue(run.stderr().contains(" DEBUG SparkDpo: ") && run.stderr().contains("\tat "), run.describe());
      assertTrue(run.stderr().lines().anyMatch(l -> l.startsWith("error: ")), run.describe());
    } finally {
      Configurator.setLevel("dev.sparkdpo.jobs.SparkDpo", before);
    }
  }

  /** Exit non-zero; stderr without INFO/WARN log lines is one {@code error:} line with the words; no stack frames. */
  static void assertOneErrorLine(CliRuns.Run run, List<String> expected) {
    assertTrue(run.exitCode() != 0, "exit 0:\n" + run.describe());
    List<String> rest = new ArrayList<>();
    for (String line : run.stderr().split("\\R")) {
      if (!line.isBlank() && !LOG_LINE.matcher(line).matches()) rest.add(line);
    }
    assertEquals(1, rest.size(), "stderr is not one line besides INFO/WARN log lines:\n" + run.describe());
    String error = rest.get(0);
    assertTrue(error.startsWith("error: "), "not an error line: " + error);
    for (String word : expected) {
      assertTrue(error.contains(word), "the error line lacks \"" + word + "\": " + error);
    }
    assertFalse(run.stderr().contains("\tat ") || run.stderr().contains("Exception in ")
        || Pattern.compile("(?m)^[\\w.$]+(Exception|Error)(: |$)").matcher(run.stderr()).find(),
        "a stack trace or exception dump on stderr:\n" + run.describe());
    if (run.exitCode() == 1) assertTrue(error.contains("SPARK_DPO_LOG_LEVEL=debug"), error);
  }

  // ------------------------------------------------------------------------------------------------ fixtures

  private static Path broken(String name, Consumer<Path> breakIt) {
    Path dir = tmp.resolve(name);
    CliRuns.copyRecursively(path("model"), dir);
    breakIt.accept(dir);
    return dir;
  }

  private static void editConfig(Path dir, Consumer<ObjectNode> edit) {
    try {
      ObjectNode c = (ObjectNode) CliRuns.JSON.readTree(dir.resolve("config.json").toFile());
      edit.accept(c);
      write(dir.resolve("config.json"), c.toString());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Rewrites the safetensors header (the data stays: offsets are relative to the header's end). */
  private static void editHeader(Path dir, Consumer<ObjectNode> edit) {
    Path file = dir.resolve("model.safetensors");
    byte[] b = read(file);
    int n = (int) ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    try {
      ObjectNode header = (ObjectNode) CliRuns.JSON.readTree(Arrays.copyOfRange(b, 8, 8 + n));
      edit.accept(header);
      byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
      int padded = (json.length + 7) / 8 * 8;
      ByteBuffer out = ByteBuffer.allocate(8 + padded + b.length - 8 - n).order(ByteOrder.LITTLE_ENDIAN);
      out.putLong(padded).put(json);
      while (out.position() < 8 + padded) out.put((byte) ' ');
      out.put(b, 8 + n, b.length - 8 - n);
      writeBytes(file, out.array());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Sets every element of an F32 tensor to {@code value}. */
  private static void editData(Path dir, String tensor, float value) {
    Path file = dir.resolve("model.safetensors");
    byte[] b = read(file);
    ByteBuffer buf = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    int n = (int) buf.getLong(0);
    try {
      com.fasterxml.jackson.databind.JsonNode offsets = CliRuns.JSON.readTree(Arrays.copyOfRange(b, 8, 8 + n))
          .get(tensor).get("data_offsets");
      for (long at = 8 + n + offsets.get(0).asLong(); at < 8 + n + offsets.get(1).asLong(); at += 4) {
        buf.putFloat((int) at, value);
      }
      writeBytes(file, b);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path write(Path file, String text) {
    try {
      return Files.writeString(file, text);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void writeBytes(Path file, byte[] bytes) {
    try {
      Files.write(file, bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static byte[] read(Path file) {
    try {
      return Files.readAllBytes(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void delete(Path file) {
    try {
      Files.delete(file);
    } catch (IOException e) {
      fail(e);
    }
  }
}
