package dev.sparkdpo.tests.reference;

import static dev.sparkdpo.tests.reference.ReferenceChecks.assertClose;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertCompleted;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertFailed;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertFingerprintInSchema;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertKeepsIngestColumns;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertNoOutput;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertReferenceJson;
import static dev.sparkdpo.tests.reference.ReferenceChecks.assertSucceeded;
import static dev.sparkdpo.tests.reference.ReferenceChecks.logps;
import static dev.sparkdpo.tests.reference.ReferenceChecks.modelLogps;
import static dev.sparkdpo.tests.reference.ReferenceRuns.with;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.reference.ReferenceRuns.IngestOutput;
import dev.sparkdpo.tests.reference.ReferenceRuns.Pair;
import dev.sparkdpo.tests.reference.ReferenceRuns.Result;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reference stage end to end on Spark {@code local[2]}: a generated corpus through the real {@code ingest} (GPT-2
 * tokenizer, {@code --max-length 128}), a small model from {@code init-model}, then the real {@code reference}
 * command, asserting on the files it wrote against log-probs computed here with the model directly.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class LocalReferenceTest {
  static final String MASTER = "local[2]";
  static final int MAX_LENGTH = ReferenceFixtures.MAX_LENGTH;
  static final double SAME_MODEL_TOLERANCE = 1e-5;

  @TempDir static Path tmp;
  static IngestOutput data;
  static Path model;
  /** The model's own log-probs of every pair, computed in this test pair by pair. */
  static Map<String, double[]> direct;
  /**
   * The first run: default options, and a model no run of this JVM loaded before (ExecutorModels keeps a model for
   * the JVM's life, so later local runs with the same model report model_loads 0).
   */
  static Result main;
  static final Map<String, String> report = new LinkedHashMap<>();

  @BeforeAll
  static void ingestInitAndScore() {
    data = ReferenceFixtures.ingestCorpus(tmp, MASTER);
    model = ReferenceFixtures.initModel(tmp.resolve("model"), 1, MAX_LENGTH);
    main = reference("main", out("main"), args(out("main")));
    direct = modelLogps(model, data.pairs().values());
  }

  @AfterAll
  static void printReport() {
    CliRuns.stopSpark();
    StringBuilder sb = new StringBuilder("LocalReferenceTest:");
    report.forEach((k, v) -> sb.append("\n  ").append(k).append(": ").append(v));
    System.out.println(sb);
  }

  static Path out(String name) {
    return tmp.resolve("out").resolve(name);
  }

  /** reference over the test's data and model into {@code output}, on local[2] without a UI, plus {@code extra}. */
  static List<String> args(Path output, String... extra) {
    return args(data.dir(), model, output, extra);
  }

  static List<String> args(Path dataDir, Path modelDir, Path output, String... extra) {
    return ReferenceRuns.referenceArgs(MASTER, dataDir, modelDir, output, extra);
  }

  static Result reference(String name, Path output, List<String> args) {
    Result r = ReferenceRuns.reference(output, args);
    report.put("run " + name, String.format("%.1f s, exit %d", r.run().seconds(), r.run().exitCode()));
    return r;
  }

  // ---------------------------------------------------------------------------------------------------- a. output

  @Test
  void everyPairKeepsItsIngestColumnsAndGetsTheModelsOwnLogProbs() {
    assertSucceeded(main);
    assertKeepsIngestColumns(main, data);
    double worst = assertClose("stage vs the model pair by pair", direct, logps(main), SAME_MODEL_TOLERANCE);
    report.put("max |stage - direct|", String.valueOf(worst));
  }

  @Test
  void referenceJsonCountsEveryPairAndTokenAndOneModelLoad() {
    assertSucceeded(main);
    assertReferenceJson(main, data);
    assertEquals(1, main.count("model_loads"), "local mode: one JVM, one load\n" + main.json().toPrettyString());
    assertEquals(16384, main.count("batch_tokens"), "the default budget");
    report.put("main batches / padding", main.count("batches") + " / " + main.json().path("padding_fraction"));
  }

  @Test
  void theLogProbColumnsCarryTheFingerprintInEveryParquetFile() {
    assertSucceeded(main);
    assertFingerprintInSchema(main);
  }

  // ---------------------------------------------------------------------------------------------------- b. golden

  /** The HF fixture's pairs, written as an ingest output by hand, give what transformers computed with that model. */
  @Test
  void hfFixturePairsGiveTheLogProbsTransformersComputed() {
    Path goldenData = ReferenceFixtures.writeGoldenIngestOutput(tmp.resolve("golden-ingest"));
    Path output = out("golden");
    Result r = reference("golden", output, args(goldenData, ReferenceFixtures.hfTinyModel(), output));
    assertSucceeded(r);
    assertEquals(4, r.count("pairs"));
    double worst = assertClose("stage vs transformers (golden.json)", ReferenceFixtures.goldenLogps(), logps(r), 1e-4);
    report.put("max |stage - transformers|", String.valueOf(worst));
  }

  // ---------------------------------------------------------------------------------------------------- c. reruns

  @Test
  void anIdenticalRunIsSkippedForceRecomputesAndAnotherModelRecomputes() {
    Path output = out("rerun");
    List<String> args = args(output);
    Result first = reference("rerun-first", output, args);
    assertSucceeded(first);
    String fingerprint = first.json().path("fingerprint").asText();
    assertEquals(main.json().path("fingerprint").asText(), fingerprint, "same model and data, same fingerprint");
    Map<String, String> files = CliRuns.snapshot(output);

    Result skipped = reference("rerun-skipped", output, args);
    assertEquals(0, skipped.run().exitCode(), skipped::describe);
    assertTrue(skipped.run().stdout().contains("\"skipped\":true"), skipped.run().stdout());
    assertEquals(fingerprint, skipped.printed().path("fingerprint").asText());
    assertEquals(files, CliRuns.snapshot(output), "a skipped run touched the output");
    assertEquals(List.of(), CliRuns.tempSiblings(output));

    Result forced = reference("rerun-force", output, with(args, "--force"));
    assertSucceeded(forced);
    assertNotEquals(files, CliRuns.snapshot(output), "--force did not rewrite the output");
    assertEquals(fingerprint, forced.json().path("fingerprint").asText());
    report.put("max |force - first|", String.valueOf(assertClose("--force vs the first run", logps(first),
        logps(forced), 0)));

    Path otherModel = ReferenceFixtures.initModel(tmp.resolve("model-seed2"), 2, MAX_LENGTH);
    Result changed = reference("rerun-other-model", output, args(data.dir(), otherModel, output));
    assertSucceeded(changed);
    assertNotEquals(fingerprint, changed.json().path("fingerprint").asText());
    assertNotEquals(first.json().path("model_fingerprint"), changed.json().path("model_fingerprint"));
    assertEquals(first.json().path("data_fingerprint"), changed.json().path("data_fingerprint"));
    assertEquals(first.json().path("tokenizer_fingerprint"), changed.json().path("tokenizer_fingerprint"));
    assertClose("another model vs that model pair by pair", modelLogps(otherModel, data.pairs().values()),
        logps(changed), SAME_MODEL_TOLERANCE);
    assertTrue(ReferenceChecks.maxDifference(logps(first), logps(changed)) > 1e-3, "the new model's log-probs");
    assertFingerprintInSchema(changed);
  }

  // ---------------------------------------------------------------------------------------------------- d. failures

  @Test
  void nanWeightsFailNamingAPairAndLeaveAnyEarlierOutputAsItWas() {
    Path nanModel = ReferenceFixtures.nanModel(model, tmp.resolve("model-nan"));
    Path output = out("nan");
    Result failed = reference("nan", output, args(data.dir(), nanModel, output));
    // an input error raised in a task: exit 2 with the one-line message (the CLI unwraps Spark's exception)
    Matcher m = assertFailed(failed, 2, "pair (\\S+): reference log-prob is not finite");
    assertTrue(data.pairs().containsKey(m.group(1)), "the error names pair " + m.group(1) + ", which is not in the data");
    assertNoOutput(output);

    // the same output with the good model afterwards: complete and right
    Result good = reference("after-nan", output, args(output));
    assertSucceeded(good);
    assertClose("after a failed run", direct, logps(good), SAME_MODEL_TOLERANCE);

    // a failing run over a complete output (another fingerprint, so it recomputes) leaves it as it was
    Map<String, String> files = CliRuns.snapshot(output);
    Result again = reference("nan-over-complete", output, args(data.dir(), nanModel, output));
    assertFailed(again, 2, "reference log-prob is not finite");
    assertEquals(files, CliRuns.snapshot(output), "a failed run changed the complete output");
    assertEquals(List.of(), CliRuns.tempSiblings(output), "a failed run left temporary output");
  }

  @Test
  void aPairLongerThanTheModelsContextFailsNamingThePairAndMaxLength() {
    Path shortModel = ReferenceFixtures.initModel(tmp.resolve("model-context-32"), 1, 32);
    Path output = out("too-long");
    Result r = reference("too-long", output, args(data.dir(), shortModel, output));
    // an IllegalArgumentException in a task: exit 2 and one "error: ..." line
    Matcher m = assertFailed(r, 2,
        "pair (\\S+): (\\d+) tokens > the model's context of 32; re-ingest with --max-length 32");
    Pair named = data.pairs().get(m.group(1));
    assertNotNull(named, "the error names pair " + m.group(1) + ", which is not in the data");
    assertEquals(named.longest(), Integer.parseInt(m.group(2)), "the named pair's length");
    assertTrue(named.longest() > 32);
    assertNoOutput(output);
  }

  @Test
  void dataWithoutSuccessIsRefusedBeforeAnythingIsWritten() throws IOException {
    Path incomplete = tmp.resolve("ingest-incomplete");
    CliRuns.copyRecursively(data.dir(), incomplete);
    Files.delete(incomplete.resolve("_SUCCESS"));
    Path output = out("incomplete");
    Result r = reference("no-success", output, args(incomplete, model, output));
    assertFailed(r, 2, "--data " + incomplete + " is not a complete ingest or generate-pairs output \\(no _SUCCESS\\)");
    assertNoOutput(output);

    Path missing = tmp.resolve("no-such-ingest");
    Result r2 = reference("no-data", output, args(missing, model, output));
    assertFailed(r2, 2, "--data " + missing + " does not exist");
    assertNoOutput(output);
  }

  /**
   * A run killed (SIGKILL) while its tasks write leaves no output and no _SUCCESS; the next run into the same output
   * completes with the right values. The killed run is a child JVM, slowed down by one pair per batch.
   */
  @Test
  void aKilledRunLeavesNoOutputAndTheNextRunCompletes() throws Exception {
    Path output = out("killed");
    Path log = tmp.resolve("killed-run.log");
    Files.createDirectories(output.getParent());
    List<String> childArgs = with(args(output), "--batch-tokens", "1");
    long t0 = System.nanoTime();
    Process child = CliRuns.startChild(log, childArgs.toArray(String[]::new));
    try {
      Path writing = awaitWriteJob(child, output, log);
      child.destroyForcibly();
      assertTrue(child.waitFor(60, TimeUnit.SECONDS), "the killed run did not exit");
      report.put("run killed", String.format("killed %.1f s after start, while writing %s", (System.nanoTime() - t0)
          / 1e9, tmp.relativize(writing)));
    } finally {
      child.destroyForcibly();
    }
    assertFalse(Files.exists(output), () -> "a killed run left " + output + ": " + CliRuns.listing(output));
    // nothing cleans up after a SIGKILL: the killed run's temporary directory (never complete) and its lock stay...
    List<String> orphans = CliRuns.tempSiblings(output);
    assertEquals(1, orphans.size(), orphans::toString);
    assertTrue(Files.exists(output.resolveSibling("." + output.getFileName() + ".lock")), "the killed run's lock");

    // ...until the next run, which takes over the dead run's lock and removes them
    Result next = reference("after-kill", output, args(output));
    assertCompleted(next);
    assertEquals(List.of(), CliRuns.tempSiblings(output), "temporary output left behind");
    assertFalse(Files.exists(output.resolveSibling("." + output.getFileName() + ".lock")), "lock left behind");
    assertKeepsIngestColumns(next, data);
    assertClose("after a killed run", direct, logps(next), SAME_MODEL_TOLERANCE);
  }

  /** Waits until the child's write job runs: the temporary output has a pairs/ directory. Fails if the child exits. */
  private static Path awaitWriteJob(Process child, Path output, Path log) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
    while (System.nanoTime() < deadline) {
      for (String temp : CliRuns.tempSiblings(output)) {
        Path pairs = output.resolveSibling(temp).resolve("pairs");
        if (Files.isDirectory(pairs)) return pairs;
      }
      if (!child.isAlive()) {
        throw new AssertionError("the run to be killed ended first (exit " + child.exitValue() + "):\n"
            + CliRuns.tail(Files.readString(log), 40));
      }
      Thread.sleep(20);
    }
    throw new AssertionError("the run to be killed never started writing:\n" + CliRuns.tail(Files.readString(log), 40));
  }

  // ---------------------------------------------------------------------------------------------------- e. batches

  @Test
  void smallBatchesGiveTheSameLogProbsInMoreBatches() {
    Path output = out("batch-256");
    Result small = reference("batch-256", output, args(output, "--batch-tokens", "256"));
    assertSucceeded(small);
    assertReferenceJson(small, data);
    double worst = assertClose("--batch-tokens 256 vs 16384", logps(main), logps(small), SAME_MODEL_TOLERANCE);
    report.put("max |batch 256 - batch 16384|", String.valueOf(worst));
    assertTrue(small.count("batches") > main.count("batches"), () -> small.count("batches") + " batches with 256 vs "
        + main.count("batches") + " with 16384");
    // no pair is longer than 128 = 256 / 2 tokens, so every batch keeps within the budget
    assertTrue(small.count("padded_tokens") <= 256 * small.count("batches"), small.json()::toPrettyString);
    report.put("batches 256 / 16384", small.count("batches") + " / " + main.count("batches"));
  }
}
