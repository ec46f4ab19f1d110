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
 * appears); elsewhere it is {@code create(overwrite=false)}, which HDFS and object stores with conditional writes
 * make exclusive. A lock whose owner is a dead process on this host is taken over with a warning; any other holder
 * makes the run stop with a line naming the holder and the lock file.
 */
final class Lock {
  private static final Logger LOG = LoggerFactory.getLogger(Lock.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  static final String HOST = hostName();

  private final FileSystem fs;
  private final Path file;
  private final String token;
  private boolean released;

  private Lock(FileSystem fs, Path file, String token) {
    this.fs = fs;
    this.file = file;
    this.token = token;
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
        JsonNode holder = read(fs, file);
        if (holder == null) continue; // released meanwhile
        if (!isStale(holder)) {
          throw new IllegalArgumentException(option + " " + StageOutput.show(target) + " is in use by another run ("
              + describe(holder) + "; lock " + StageOutput.show(file) + "): wait for it to finish, or if that run is gone, delete the lock file");
        }
        LOG.warn("{}: taking over the lock of a run that is no longer alive ({})", target, describe(holder));
        Path stale = new Path(file.getParent(), file.getName() + ".stale-" + token);
        if (fs.rename(file, stale)) fs.delete(stale, false); // only one contender wins the rename
      }
      throw new IllegalArgumentException(option + " " + target + ": could not take the lock " + file
          + " (other runs keep taking it); try again");
    } catch (IOException e) {
      throw new UncheckedIOException("locking " + target + " (" + file + "): " + e.getMessage(), e);
    }
  }

  /** Removes the lock if it is still ours. */
  void release() {
    if (released) return;
    released = true;
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
    }
  }

  /** The lock's owner, or null when there is no lock; an unreadable lock is reported as such (never stale). */
  private static JsonNode read(FileSystem fs, Path file) throws IOException {
    try (InputStream in = fs.open(file)) {
      byte[] bytes = in.readAllBytes();
      try {
        return JSON.readTree(bytes);
      } catch (IOException e) {
        return JSON.createObjectNode().put("unreadable", new String(bytes, StandardCharsets.UTF_8).strip());
      }
    } catch (FileNotFoundException e) {
      return null;
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
