package dev.sparkdpo.tests.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The hostile-user bugs of the output protocol, through the CLI: a command never deletes what it did not write, input
 * and output never contain one another, and an output in use by another run is refused. Each case failed before the
 * stage-output protocol (ingest --overwrite deleted its own input; train --force deleted a user's directory).
 */
class OutputProtocolTest {
  private static final Path CORPUS = Paths.get("src/test/resources/demo/flat.jsonl").toAbsolutePath();

  @TempDir Path tmp;

  @AfterAll
  static void stop() {
    CliRuns.stopSpark();
  }

  private static CliRuns.Run ingest(Path input, Path output, String... more) {
    List<String> args = new java.util.ArrayList<>(List.of("ingest", "--master", "local[2]", "--input",
        input.toString(), "--output", output.toString()));
    args.addAll(List.of(more));
    return CliRuns.run(args.toArray(String[]::new));
  }

  private static void assertRefused(CliRuns.Run r, String... words) {
    assertEquals(2, r.exitCode(), r::describe);
    for (String w : words) assertTrue(r.stderr().contains(w), () -> "expected '" + w + "' in:\n" + r.describe());
  }

  private Path userDir(String name) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve(name));
    Files.copy(CORPUS, dir.resolve("prefs.jsonl"));
    return dir;
  }

  @Test
  void ingestOverwriteNeverDeletesItsInputOrAUsersDirectory() throws IOException {
    // bug 1: input = output
    Path x = userDir("x");
    Map<String, String> before = CliRuns.snapshot(x);
    assertRefused(ingest(x, x, "--overwrite"), "contains --input");
    assertEquals(before, CliRuns.snapshot(x), "the input was touched");

    // input inside the output
    Path outer = userDir("outer");
    Path inner = Files.createDirectories(outer.resolve("in"));
    Files.copy(CORPUS, inner.resolve("more.jsonl"));
    Map<String, String> outerBefore = CliRuns.snapshot(outer);
    assertRefused(ingest(inner, outer, "--overwrite"), "contains --input");
    assertEquals(outerBefore, CliRuns.snapshot(outer));

    // a user's directory or file at the output path, with and without --overwrite
    Path users = userDir("users");
    Map<String, String> usersBefore = CliRuns.snapshot(users);
    for (String[] flags : new String[][] {{}, {"--overwrite"}}) {
      CliRuns.Run r = ingest(CORPUS, users, flags);
      assertRefused(r, "not written by spark-dpo", "prefs.jsonl");
      assertFalse(r.stderr().contains("incomplete run"), r::describe);
      assertEquals(usersBefore, CliRuns.snapshot(users));
    }
    Path file = Files.writeString(tmp.resolve("notes.txt"), "mine");
    assertRefused(ingest(CORPUS, file, "--overwrite"), "is a file");
    assertEquals("mine", Files.readString(file));
    assertEquals(List.of(), CliRuns.tempSiblings(users));
  }

  @Test
  void ingestRefusesAnOutputInsideItsInput() throws IOException {
    // bug 8: a rerun would ingest its own pairs/ and stats.json
    Path in = userDir("in");
    assertRefused(ingest(in, in.resolve("out")), "inside --input");
    Path link = Files.createSymbolicLink(tmp.resolve("link"), in);
    assertRefused(ingest(in, link.resolve("out")), "inside --input");
    assertFalse(Files.exists(in.resolve("out")));
  }

  @Test
  void trainForceNeverDeletesAUsersDirectory() throws IOException {
    // bug 9: a directory that happens to hold model/, checkpoints/ and metrics.jsonl is not a training run
    Path users = Files.createDirectories(tmp.resolve("experiments"));
    Files.createDirectories(users.resolve("model"));
    Files.writeString(users.resolve("model/config.json"), "{}");
    Files.createDirectories(users.resolve("checkpoints/step-1"));
    Files.writeString(users.resolve("metrics.jsonl"), "{\"loss\": 1}\n");
    Map<String, String> before = CliRuns.snapshot(users);
    CliRuns.Run r = CliRuns.run("train", "--master", "local[2]", "--data", tmp.resolve("ref").toString(),
        "--model", tmp.resolve("model").toString(), "--output", users.toString(), "--force");
    assertRefused(r, "not written by spark-dpo", "metrics.jsonl");
    assertFalse(r.stderr().contains("unfinished run"), r::describe);
    assertEquals(before, CliRuns.snapshot(users));
  }

  @Test
  void anOutputInUseIsRefusedAndADeadHoldersLockIsTakenOver() throws Exception {
    // bug 2: a lock beside the output names its holder; a live one (here: a process on this host) refuses the run
    Path output = tmp.resolve("locked");
    Process holder = new ProcessBuilder("sleep", "600").start();
    try {
      Files.writeString(tmp.resolve(".locked.lock"), "{\"pid\":" + holder.pid() + ",\"host\":\""
          + java.net.InetAddress.getLocalHost().getHostName() + "\",\"started\":\"" + java.time.Instant.now()
          + "\",\"stage\":\"ingest\",\"token\":\"t\"}\n");
      assertRefused(ingest(CORPUS, output), "in use by another run", "pid " + holder.pid(), ".locked.lock");
      assertFalse(Files.exists(output));
    } finally {
      holder.destroyForcibly();
      holder.waitFor(10, TimeUnit.SECONDS);
    }
    CliRuns.Run r = ingest(CORPUS, output);
    assertEquals(0, r.exitCode(), r::describe);
    // (the takeover's warning goes to the log, which this in-process run does not capture)
    assertTrue(Files.exists(output.resolve("_SUCCESS")));
    assertFalse(Files.exists(tmp.resolve(".locked.lock")), "the lock was not released");
  }
}
