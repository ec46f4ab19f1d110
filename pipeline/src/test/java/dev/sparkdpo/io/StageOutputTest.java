package dev.sparkdpo.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The stage-output protocol: ownership, separation of inputs and outputs, the lock, and kill-safe replacement. */
class StageOutputTest {
  private static final Configuration CONF = new Configuration();

  @TempDir Path tmp;

  /** Writes a complete output of stage "test" whose data.txt holds {@code content}, in this JVM. */
  private static void write(Path output, String content) throws IOException {
    try (StageOutput out = StageOutput.open("test", "--output", output.toString(), List.of(), CONF)) {
      out.begin("fp-" + content);
      Files.writeString(local(out.path("data.txt")), content);
      out.commit();
    }
  }

  private static Path local(String qualified) {
    return Paths.get(java.net.URI.create(qualified));
  }

  private static List<String> siblings(Path output) throws IOException {
    try (Stream<Path> s = Files.list(output.getParent())) {
      return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith("." + output.getFileName())).sorted()
          .toList();
    }
  }

  @Test
  void aCommittedOutputHasTheManifestAndSuccessAndNoLeftovers() throws IOException {
    Path output = tmp.resolve("out");
    write(output, "one");
    assertEquals("one", Files.readString(output.resolve("data.txt")));
    assertTrue(Files.exists(output.resolve(StageOutput.SUCCESS)));
    String manifest = Files.readString(output.resolve(StageOutput.MANIFEST));
    assertTrue(manifest.contains("\"stage\" : \"test\"") && manifest.contains("fp-one"), manifest);
    assertEquals(List.of(), siblings(output), "lock or temporary directory left behind");

    try (StageOutput again = StageOutput.open("test", "--output", output.toString(), List.of(), CONF)) {
      assertEquals(StageOutput.State.COMPLETE, again.state());
      assertEquals("fp-one", again.completeFingerprint());
    }
    write(output, "two");
    assertEquals("two", Files.readString(output.resolve("data.txt")));
    assertEquals(List.of(), siblings(output));
  }

  @Test
  void anythingNotOursIsRefusedAndLeftIntact() throws IOException {
    Path users = Files.createDirectories(tmp.resolve("users"));
    Files.writeString(users.resolve("prefs.jsonl"), "{\"prompt\":\"p\"}\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> StageOutput.open("test", "--output", users.toString(), List.of(), CONF));
    assertTrue(e.getMessage().contains("not written by spark-dpo") && e.getMessage().contains("prefs.jsonl"),
        e.getMessage());
    assertEquals("{\"prompt\":\"p\"}\n", Files.readString(users.resolve("prefs.jsonl")));
    assertEquals(List.of(), siblings(users));

    Path file = Files.writeString(tmp.resolve("file.txt"), "data");
    e = assertThrows(IllegalArgumentException.class,
        () -> StageOutput.open("test", "--output", file.toString(), List.of(), CONF));
    assertTrue(e.getMessage().contains("is a file"), e.getMessage());
    assertEquals("data", Files.readString(file));

    Path other = tmp.resolve("other-stage");
    write(other, "x");
    e = assertThrows(IllegalArgumentException.class,
        () -> StageOutput.open("ingest", "--output", other.toString(), List.of(), CONF));
    assertTrue(e.getMessage().contains("holds a spark-dpo test output, not a ingest output")
        || e.getMessage().contains("holds a spark-dpo test output"), e.getMessage());
  }

  @Test
  void anEmptyDirectoryIsUsable() throws IOException {
    Path empty = Files.createDirectories(tmp.resolve("empty"));
    try (StageOutput out = StageOutput.open("test", "--output", empty.toString(), List.of(), CONF)) {
      assertEquals(StageOutput.State.EMPTY, out.state());
      assertNull(out.existing());
    }
    write(empty, "ok");
    assertEquals("ok", Files.readString(empty.resolve("data.txt")));
  }

  @Test
  void inputsAndOutputsMayNotContainOneAnotherEvenThroughSymlinks() throws IOException {
    Path in = Files.createDirectories(tmp.resolve("in"));
    Files.writeString(in.resolve("prefs.jsonl"), "{}\n");
    Path link = Files.createSymbolicLink(tmp.resolve("link"), in);
    List<StageOutput.Input> inputs = List.of(new StageOutput.Input("--input", in.toString()));
    for (Path output : List.of(in, in.resolve("out"), link.resolve("out"), tmp)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> StageOutput.open("test", "--output", output.toString(), inputs, CONF), output::toString);
      assertTrue(e.getMessage().contains("--input"), e.getMessage());
    }
    // a file input named through a glob, inside the output
    Path outDir = tmp.resolve("outdir");
    write(outDir, "old");
    Files.writeString(outDir.resolve("x.jsonl"), "{}\n");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StageOutput.open("test",
        "--output", outDir.toString(), List.of(new StageOutput.Input("--input", outDir + "/*.jsonl")), CONF));
    assertTrue(e.getMessage().contains("contains --input"), e.getMessage());
    assertTrue(Files.exists(in.resolve("prefs.jsonl")) && Files.exists(outDir.resolve("x.jsonl")));
    // siblings that merely share a name prefix are separate
    try (StageOutput ok = StageOutput.open("test", "--output", tmp.resolve("in-out").toString(), inputs, CONF)) {
      assertEquals(StageOutput.State.ABSENT, ok.state());
    }
  }

  @Test
  void aSecondRunIsRefusedWhileTheLockIsHeldAndTakesOverAStaleLock() throws Exception {
    Path output = tmp.resolve("locked");
    try (StageOutput first = StageOutput.open("test", "--output", output.toString(), List.of(), CONF)) {
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> StageOutput.open("test", "--output", output.toString(), List.of(), CONF));
      assertTrue(e.getMessage().contains("in use by another run")
          && e.getMessage().contains("pid " + ProcessHandle.current().pid()), e.getMessage());
    }
    // another process holds it: refused; once that process is killed (SIGKILL), its lock is stale and taken over
    Process child = child(output, "new", "hold");
    try (BufferedReader r = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
      assertEquals("locked", r.readLine());
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
          () -> StageOutput.open("test", "--output", output.toString(), List.of(), CONF));
      assertTrue(e.getMessage().contains("pid " + child.pid()), e.getMessage());
    } finally {
      child.destroyForcibly();
      child.waitFor(30, TimeUnit.SECONDS);
    }
    assertTrue(siblings(output).stream().anyMatch(n -> n.contains(".tmp-")), "the killed run left its temp dir");
    write(output, "after");
    assertEquals("after", Files.readString(output.resolve("data.txt")));
    assertEquals(List.of(), siblings(output), "stale lock or the killed run's temp dir left behind");
  }

  /**
   * A replacing commit killed (the JVM halted: no cleanup runs) at each step leaves the old or the new output
   * complete; the next run finishes the commit or keeps the old output, and removes every leftover.
   */
  @ParameterizedTest
  @ValueSource(strings = {"writing", "success-written", "old-renamed", "new-renamed", "old-deleted"})
  void aReplacingCommitKilledAtAnyStepLeavesTheOldOrTheNewOutputComplete(String step) throws Exception {
    Path output = tmp.resolve("out-" + step);
    write(output, "old");
    Process child = child(output, "new", step);
    assertTrue(child.waitFor(60, TimeUnit.SECONDS));
    assertEquals(137, child.exitValue(), "the child was to halt at " + step);

    boolean newCommitted = List.of("old-renamed", "new-renamed", "old-deleted").contains(step);
    if (step.equals("old-renamed")) {
      // between the two renames: nothing at the path, the complete new output beside it
      assertFalse(Files.exists(output));
      Path newOne = completeSibling(output, ".tmp-");
      assertEquals("new", Files.readString(newOne.resolve("data.txt")));
    } else {
      assertTrue(Files.exists(output.resolve(StageOutput.SUCCESS)));
      assertEquals(newCommitted ? "new" : "old", Files.readString(output.resolve("data.txt")));
    }

    // the next run (any run of the stage) finishes or rolls back, takes over the dead run's lock, cleans up
    try (StageOutput next = StageOutput.open("test", "--output", output.toString(), List.of(), CONF)) {
      assertEquals(StageOutput.State.COMPLETE, next.state());
      assertEquals(newCommitted ? "fp-new" : "fp-old", next.completeFingerprint());
    }
    assertEquals(newCommitted ? "new" : "old", Files.readString(output.resolve("data.txt")));
    assertEquals(List.of(), siblings(output));
  }

  private static Path completeSibling(Path output, String kind) throws IOException {
    try (Stream<Path> s = Files.list(output.getParent())) {
      return s.filter(p -> p.getFileName().toString().startsWith("." + output.getFileName() + kind))
          .filter(p -> Files.exists(p.resolve(StageOutput.SUCCESS))).findFirst()
          .orElseThrow(() -> new AssertionError("no complete " + kind + " sibling of " + output));
    }
  }

  private static Process child(Path output, String content, String step) throws IOException {
    List<String> cmd = new ArrayList<>();
    cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
    cmd.add("-cp");
    cmd.add(System.getProperty("java.class.path"));
    cmd.add(StageOutputCrash.class.getName());
    cmd.add(output.toString());
    cmd.add(content);
    cmd.add(step);
    return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
  }
}
