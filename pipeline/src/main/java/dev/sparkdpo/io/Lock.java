package dev.sparkdpo.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.util.UUID;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The exclusive lock of an output {@code P/N}: the file {@code P/.N.lock}, created atomically with its owner (pid,
 * host, start time, stage, a random token). On the local file system it is written to a private file first and
 * hard-linked into place (link creation fails if the name exists, and the content is complete the moment the name
 * appears); elsewhere it is {@code create(overwrite=false)}, which HDFS makes exclusive (the NameNode refuses a second
 * create; S3A only checks before writing, so two runs racing on S3 within milliseconds can both win).
 *
 * <p>Stale locks. While it holds the lock, the owner refreshes the lock file's modification time every
 * {@value #HEARTBEAT_SECONDS} s (a daemon thread; one {@code setTimes} call). A lock is taken over, with a warning,
 * when its owner is a dead process on this host (pid check, at once), or when its owner ran elsewhere (a cluster-mode
 * driver, another machine: no pid to check) and the lock has not been refreshed for {@value #STALE_SECONDS} s, far
 * beyond any NTP clock skew or a driver's GC pause. Any other holder makes the run stop with a line naming the holder
 * and the lock file. A run that finds its lock taken over (it stalled past the limit) refuses to commit.
 */
final class Lock {
  private static final Logger LOG = LoggerFactory.getLogger(Lock.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String HOST = hostName();
  /** How often a holder refreshes its lock's modification time. */
  static final long HEARTBEAT_SECONDS = 30;
  /** A lock from another host not refreshed for this long is stale (20 missed heartbeats). */
  static final long STALE_SECONDS = 600;
  /** Test hook: the staleness limit in milliseconds. */
  static long staleMillis = STALE_SECONDS * 1000;
  private static final java.util.concurrent.ScheduledExecutorService HEARTBEAT =
      java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "spark-dpo-lock-heartbeat");
        t.setDaemon(true);
        return t;
      });

  private final FileSystem fs;
  private final Path file;
  private final String token;
  private final java.util.concurrent.ScheduledFuture<?> heartbeat;
  private boolean released;

  private Lock(FileSystem fs, Path file, String token) {
    this.fs = fs;
    this.file = file;
    this.token = token;
    this.heartbeat = HEARTBEAT.scheduleWithFixedDelay(this::beat, HEARTBEAT_SECONDS, HEARTBEAT_SECONDS,
        java.util.concurrent.TimeUnit.SECONDS);
  }

  /** Refreshes the lock's modification time (a failed refresh is retried at the next beat). */
  void beat() {
    try {
      fs.setTimes(file, System.currentTimeMillis(), -1);
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not refresh the lock {}: {}", file, e.getMessage());
    }
  }

  static Path fileOf(Path target) {
    return new Path(target.getParent(), "." + target.getName() + ".lock");
  }

  static Lock acquire(FileSystem fs, Path target, String option, String stage) {
    Path file = fileOf(target);
    String token = UUID.randomUUID().toString();
    try {
      String owner = JSON.writeValueAsString(owner(stage, token)) + "\n";
      for (int attempt = 0; attempt < 3; attempt++) {
        if (create(fs, file, owner)) return new Lock(fs, file, token);
        JsonNode holder = readComplete(fs, file);
        if (holder == null) continue; // released meanwhile
        if (!isStale(holder) && !isAbandoned(holder, fs, file)) {
          throw new IllegalArgumentException(option + " " + StageOutput.show(target) + " is in use by another run ("
              + describe(holder) + "; lock " + StageOutput.show(file) + "): wait for it to finish, or if that run is gone,"
              + " delete the lock file (a lock from another host is taken over once not refreshed for "
              + staleMillis / 1000 + " s)");
        }
        LOG.warn("{}: taking over the lock of a run that is no longer alive ({}{})", target, describe(holder),
            isStale(holder) ? "" : "; not refreshed for over " + staleMillis / 1000 + " s");
        Path stale = new Path(file.getParent(), file.getName() + ".stale-" + token);
        if (fs.rename(file, stale)) fs.delete(stale, false); // only one contender wins the rename
      }
      throw new IllegalArgumentException(option + " " + target + ": could not take the lock " + file
          + " (other runs keep taking it); try again");
    } catch (IOException e) {
      throw new UncheckedIOException("locking " + target + " (" + file + "): " + e.getMessage(), e);
    }
  }

  /** Throws unless the lock file is still ours (another run took it over after this one stalled past the limit). */
  void checkHeld() {
    JsonNode holder;
    try {
      holder = read(fs, file);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException("reading the lock " + file + ": " + e.getMessage(), e);
    }
    if (holder == null || !token.equals(holder.path("token").asText())) {
      throw new IllegalStateException("the lock " + StageOutput.show(file) + " is no longer this run's ("
          + (holder == null ? "it was deleted" : "now held by " + describe(holder)) + "): not committing; rerun when"
          + " the other run is done");
    }
  }

  /** Removes the lock if it is still ours. */
  void release() {
    if (released) return;
    released = true;
    heartbeat.cancel(false);
    try {
      JsonNode holder = read(fs, file);
      if (holder != null && token.equals(holder.path("token").asText())) fs.delete(file, false);
    } catch (IOException | RuntimeException e) {
      LOG.warn("could not release the lock {}: {}", file, e.getMessage());
    }
  }

  /** What a lock file says about its owner: written once, atomically, read by contenders. */
  private static java.util.Map<String, Object> owner(String stage, String token) {
    java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
    m.put("pid", ProcessHandle.current().pid());
    m.put("host", HOST);
    m.put("started", java.time.Instant.now().toString());
    m.put("stage", stage);
    m.put("token", token);
    m.put("heartbeat_seconds", HEARTBEAT_SECONDS);
    return m;
  }

  private static boolean create(FileSystem fs, Path file, String owner) throws IOException {
    byte[] bytes = owner.getBytes(StandardCharsets.UTF_8);
    if (fs instanceof LocalFileSystem || fs instanceof RawLocalFileSystem) {
      java.nio.file.Path lock = java.nio.file.Paths.get(file.toUri());
      java.nio.file.Path mine = lock.resolveSibling(lock.getFileName() + "." + UUID.randomUUID());
      Files.write(mine, bytes);
      try {
        Files.createLink(lock, mine);
        return true;
      } catch (FileAlreadyExistsException e) {
        return false;
      } finally {
        Files.deleteIfExists(mine);
      }
    }
    try (OutputStream out = fs.create(file, false)) {
      out.write(bytes);
      return true;
    } catch (org.apache.hadoop.fs.FileAlreadyExistsException e) {
      return false;
    } catch (org.apache.hadoop.ipc.RemoteException e) {
      // HDFS: another create of the same file by this JVM's client (one lease holder name per JVM) that is still open
      if (e.getClassName().endsWith(".AlreadyBeingCreatedException")) return false;
      throw e;
    }
  }

  /** The lock's owner, or null when there is no lock; an unreadable lock is reported as such (never stale). */
  private static JsonNode read(FileSystem fs, Path file) throws IOException {
    try (InputStream in = fs.open(file)) {
      byte[] bytes = in.readAllBytes();
      try {
        JsonNode j = JSON.readTree(bytes);
        if (j != null && j.isObject()) return j;
      } catch (IOException e) {
        // not JSON: reported below
      }
      // an empty lock is one whose owner has not closed it yet (HDFS shows the name before the bytes)
      return JSON.createObjectNode().put("unreadable", new String(bytes, StandardCharsets.UTF_8).strip());
    } catch (FileNotFoundException e) {
      return null;
    }
  }

  /**
   * The lock's owner; an empty lock is read again for up to 2 s: on HDFS the name appears at create, before the
   * owner's bytes are flushed at close.
   */
  private static JsonNode readComplete(FileSystem fs, Path file) throws IOException {
    JsonNode holder = read(fs, file);
    for (int i = 0; i < 20 && holder != null && holder.path("unreadable").asText("x").isEmpty(); i++) {
      try {
        Thread.sleep(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
      holder = read(fs, file);
    }
    return holder;
  }

  /**
   * A lock whose owner refreshes it (it says so: {@code heartbeat_seconds}) and ran on another host is abandoned when
   * its modification time is older than the staleness limit. Locks of this host are judged by their pid instead.
   */
  static boolean isAbandoned(JsonNode holder, FileSystem fs, Path file) throws IOException {
    if (!holder.has("heartbeat_seconds") || HOST.equals(holder.path("host").asText())) return false;
    try {
      long age = System.currentTimeMillis() - fs.getFileStatus(file).getModificationTime();
      return age > staleMillis;
    } catch (FileNotFoundException e) {
      return false; // released meanwhile: the next attempt takes it
    }
  }

  /** A lock is stale when its owner ran on this host and that process is gone. */
  static boolean isStale(JsonNode holder) {
    if (!holder.has("pid") || !HOST.equals(holder.path("host").asText())) return false;
    long pid = holder.path("pid").asLong();
    java.util.Optional<ProcessHandle> process = ProcessHandle.of(pid);
    if (process.isEmpty() || !process.get().isAlive()) return true;
    // a live process with that pid that started after the lock was taken is another program reusing the pid
    java.util.Optional<java.time.Instant> startedAt = process.get().info().startInstant();
    try {
      java.time.Instant locked = java.time.Instant.parse(holder.path("started").asText());
      return startedAt.isPresent() && startedAt.get().isAfter(locked.plusSeconds(1));
    } catch (java.time.format.DateTimeParseException e) {
      return false;
    }
  }

  private static String describe(JsonNode holder) {
    if (holder.has("unreadable")) return "unreadable lock content '" + holder.path("unreadable").asText() + "'";
    return holder.path("stage").asText("?") + " run, pid " + holder.path("pid").asText("?") + " on "
        + holder.path("host").asText("?") + ", since " + holder.path("started").asText("?");
  }

  private static String hostName() {
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (IOException e) {
      String env = System.getenv("HOSTNAME");
      return env != null ? env : "unknown-host";
    }
  }
}
