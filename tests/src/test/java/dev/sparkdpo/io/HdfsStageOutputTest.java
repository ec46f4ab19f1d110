package dev.sparkdpo.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.tests.hdfs.MiniHdfs;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stage-output protocol on a real HDFS (a NameNode and two DataNodes in a child JVM): ownership (a foreign
 * directory is refused and left alone), replacing commits (HDFS's rename onto an existing directory moves into it:
 * the protocol never does that), recovery of an interrupted commit, a remote output's local staging directory, and
 * the lock: create(overwrite=false) is exclusive under racing contenders, a dead local pid's lock is taken over, a
 * live one refused, another host's lock only once its heartbeat is older than the limit, and a run whose lock was
 * taken over does not commit.
 */
@Timeout(value = 4, unit = TimeUnit.MINUTES)
class HdfsStageOutputTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Configuration CONF = new Configuration();
  @TempDir static Path tmp;
  static MiniHdfs hdfs;
  static FileSystem fs;

  @BeforeAll
  static void start() {
    hdfs = MiniHdfs.start(tmp.resolve("hdfs"), 2);
    fs = hdfs.fileSystem();
  }

  @AfterAll
  static void stop() throws IOException {
    if (fs != null) fs.close();
    if (hdfs != null) hdfs.close();
  }

  private static org.apache.hadoop.fs.Path hp(String path) {
    return new org.apache.hadoop.fs.Path(hdfs.path(path));
  }

  private static String read(String path) throws IOException {
    return HadoopFiles.readText(fs, hp(path));
  }

  /** Writes a complete output of stage "test" whose data.txt holds {@code content}. */
  private static void write(String output, String content) throws IOException {
    try (StageOutput out = StageOutput.open("test", "--output", hdfs.path(output), List.of(), CONF)) {
      out.begin("fp-" + content);
      out.writeText("data.txt", content);
      out.commit();
    }
  }

  /** Names beside {@code output} that belong to it (.name.lock, .name.tmp-*, .name.old-*). */
  private static List<String> siblings(String output) throws IOException {
    org.apache.hadoop.fs.Path p = hp(output);
    return Arrays.stream(fs.listStatus(p.getParent())).map(s -> s.getPath().getName())
        .filter(n -> n.startsWith("." + p.getName() + ".")).sorted().toList();
  }

  @Test
  void aReplacingCommitPutsTheNewOutputAtThePathNotInsideTheOldOne() throws IOException {
    write("/replace/out", "one");
    write("/replace/out", "two");
    assertEquals("two", read("/replace/out/data.txt"));
    List<String> names = Arrays.stream(fs.listStatus(hp("/replace/out"))).map(s -> s.getPath().getName()).sorted()
        .toList();
    assertEquals(List.of(StageOutput.SUCCESS, StageOutput.MANIFEST, "data.txt"), names, "the output's entries");
    assertEquals(List.of(), siblings("/replace/out"), "lock, temporary or old directory left behind");
    assertTrue(read("/replace/out/" + StageOutput.MANIFEST).contains("fp-two"));
  }

  @Test
  void aForeignDirectoryIsRefusedAndLeftAlone() throws IOException {
    HadoopFiles.writeText(fs, hp("/foreign/out/notes.txt"), "mine");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> StageOutput.open("test", "--output", hdfs.path("/foreign/out"), List.of(), CONF));
    assertTrue(e.getMessage().contains("was not written by spark-dpo") && e.getMessage().contains("notes.txt"),
        e.getMessage());
    assertTrue(e.getMessage().startsWith("--output " + hdfs.path("/foreign/out")), e.getMessage());
    assertEquals("mine", read("/foreign/out/notes.txt"));
    assertEquals(List.of(), siblings("/foreign/out"), "the refused run left its lock");
    // another stage's output is refused too
    write("/other/out", "x");
    IllegalArgumentException other = assertThrows(IllegalArgumentException.class,
        () -> StageOutput.open("ingest", "--output", hdfs.path("/other/out"), List.of(), CONF));
    assertTrue(other.getMessage().contains("holds a spark-dpo test output"), other.getMessage());
  }

  @Test
  void anOutputInsideAnInputIsRefused() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> StageOutput.open("test",
        "--output", hdfs.path("/data/in/out"), List.of(new StageOutput.Input("--data", hdfs.path("/data/in"))),
        CONF));
    assertTrue(e.getMessage().contains("is inside --data"), e.getMessage());
  }

  @Test
  void anInterruptedCommitIsFinishedByTheNextRun() throws IOException {
    write("/recover/out", "old");
    StageOutput.faultInjector = step -> {
      if (step.equals("old-renamed")) throw new IllegalStateException("killed");
    };
    try (StageOutput out = StageOutput.open("test", "--output", hdfs.path("/recover/out"), List.of(), CONF)) {
      out.begin("fp-new");
      out.writeText("data.txt", "new");
      assertThrows(IllegalStateException.class, out::commit);
    } finally {
      StageOutput.faultInjector = step -> { };
    }
    assertFalse(fs.exists(hp("/recover/out")), "the old output was moved aside");
    try (StageOutput out = StageOutput.open("test", "--output", hdfs.path("/recover/out"), List.of(), CONF)) {
      assertEquals(StageOutput.State.COMPLETE, out.state());
    }
    assertEquals("old", read("/recover/out/data.txt"), "the old output is back in place");
    assertEquals(List.of(), siblings("/recover/out"));
  }

  @Test
  void aRemoteOutputsLocalDirectoryIsUploadedAtCommitAndRemoved() throws IOException {
    Path staging;
    try (StageOutput out = StageOutput.open("test", "--output", hdfs.path("/staged/out"), List.of(), CONF)) {
      out.begin("fp");
      staging = out.localDir();
      Files.createDirectories(staging.resolve("plots"));
      Files.writeString(staging.resolve("plots/a.png"), "png");
      Files.writeString(staging.resolve("report.html"), "<html>");
      out.commit();
    }
    assertEquals("png", read("/staged/out/plots/a.png"));
    assertEquals("<html>", read("/staged/out/report.html"));
    assertFalse(Files.exists(staging), "the staging directory " + staging + " was not removed");
  }

  @Test
  void exactlyOneOfRacingRunsTakesTheLock() throws Exception {
    int contenders = 6;
    CountDownLatch go = new CountDownLatch(1);
    ConcurrentLinkedQueue<Object> results = new ConcurrentLinkedQueue<>();
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < contenders; i++) {
      Thread t = new Thread(() -> {
        try {
          go.await();
          results.add(Lock.acquire(fs, hp("/race/out"), "--output", "test"));
        } catch (Exception | Error e) {
          results.add(e);
        }
      });
      t.start();
      threads.add(t);
    }
    go.countDown();
    for (Thread t : threads) t.join();
    List<Lock> won = results.stream().filter(r -> r instanceof Lock).map(r -> (Lock) r).toList();
    assertEquals(1, won.size(), "winners among " + results);
    for (Object r : results) {
      if (!(r instanceof Lock)) {
        assertTrue(r instanceof IllegalArgumentException && ((Exception) r).getMessage().contains("is in use by another"
            + " run"), String.valueOf(r));
      }
    }
    won.get(0).release();
    assertFalse(fs.exists(Lock.fileOf(hp("/race/out"))));
  }

  /** Writes a lock file for {@code output} as another run would have (its owner's fields). */
  private static org.apache.hadoop.fs.Path foreignLock(String output, String host, long pid, boolean heartbeat)
      throws IOException {
    ObjectNode owner = JSON.createObjectNode().put("pid", pid).put("host", host).put("started",
        Instant.now().toString()).put("stage", "test").put("token", "other-run");
    if (heartbeat) owner.put("heartbeat_seconds", Lock.HEARTBEAT_SECONDS);
    org.apache.hadoop.fs.Path lock = Lock.fileOf(hp(output));
    HadoopFiles.writeText(fs, lock, owner + "\n");
    return lock;
  }

  @Test
  void aLockOfADeadProcessOnThisHostIsTakenOverAndALiveOneIsNot() throws Exception {
    Process gone = new ProcessBuilder("true").start();
    gone.waitFor();
    foreignLock("/dead/out", Lock.HOST, gone.pid(), true);
    write("/dead/out", "taken over");
    assertEquals("taken over", read("/dead/out/data.txt"));
    assertEquals(List.of(), siblings("/dead/out"));

    foreignLock("/live/out", Lock.HOST, ProcessHandle.current().pid(), true);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> write("/live/out", "x"));
    assertTrue(e.getMessage().contains("is in use by another run") && e.getMessage().contains("pid "
        + ProcessHandle.current().pid()), e.getMessage());
  }

  @Test
  void anotherHostsLockIsTakenOverOnlyWhenItsHeartbeatIsOlderThanTheLimit() throws Exception {
    org.apache.hadoop.fs.Path lock = foreignLock("/remote/out", "some-other-host", 4242, true);
    IllegalArgumentException fresh = assertThrows(IllegalArgumentException.class, () -> write("/remote/out", "x"));
    assertTrue(fresh.getMessage().contains("some-other-host") && fresh.getMessage().contains("taken over once not"
        + " refreshed for " + Lock.STALE_SECONDS + " s"), fresh.getMessage());

    fs.setTimes(lock, System.currentTimeMillis() - (Lock.STALE_SECONDS + 60) * 1000, -1);
    write("/remote/out", "after a dead remote run");
    assertEquals("after a dead remote run", read("/remote/out/data.txt"));

    // a lock of an older version (no heartbeat) from another host is never second-guessed, however old
    org.apache.hadoop.fs.Path old = foreignLock("/legacy/out", "some-other-host", 4242, false);
    fs.setTimes(old, System.currentTimeMillis() - 86_400_000L, -1);
    assertThrows(IllegalArgumentException.class, () -> write("/legacy/out", "x"));
  }

  @Test
  void theHolderRefreshesItsLockAndDoesNotCommitOnceItIsTakenOver() throws Exception {
    try (StageOutput out = StageOutput.open("test", "--output", hdfs.path("/lost/out"), List.of(), CONF)) {
      org.apache.hadoop.fs.Path lock = Lock.fileOf(hp("/lost/out"));
      fs.setTimes(lock, 1_000_000L, -1);
      out.lock().beat();
      assertTrue(fs.getFileStatus(lock).getModificationTime() > System.currentTimeMillis() - 60_000,
          "the heartbeat did not refresh the lock's modification time");
      out.begin("fp");
      out.writeText("data.txt", "mine");
      // another run decided this one was dead and took the lock
      fs.delete(lock, false);
      foreignLock("/lost/out", "some-other-host", 4242, true);
      IllegalStateException e = assertThrows(IllegalStateException.class, out::commit);
      assertTrue(e.getMessage().contains("no longer this run's") && e.getMessage().contains("some-other-host"),
          e.getMessage());
    }
    assertFalse(fs.exists(hp("/lost/out")), "a run that lost its lock committed");
    assertTrue(fs.exists(Lock.fileOf(hp("/lost/out"))), "the other run's lock was removed");
  }
}
