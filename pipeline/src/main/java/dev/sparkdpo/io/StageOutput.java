package dev.sparkdpo.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one output protocol of every stage (ingest, reference, train, init-model, and every later one). A directory
 * is <em>ours</em> only if it carries the manifest {@value #MANIFEST} (stage, fingerprint, who wrote it), which is
 * written first, inside the temporary directory, before any data; anything else at the output path is refused with
 * or without {@code --overwrite}/{@code --force}, so a command never deletes what it did not write.
 *
 * <p>Layout, for an output {@code P/N}:
 * <pre>
 *   P/N/               the output; complete when it holds _SUCCESS (written into the temporary directory last)
 *   P/.N.lock          exclusive lock: pid, host, time; taken at {@link #open}, released at {@link #close}
 *   P/.N.tmp-UUID/     a run's output while it is written (a replace stage)
 *   P/.N.old-UUID/     the previous output between the two renames of a replacing commit
 * </pre>
 * A replacing commit is: {@code _SUCCESS} into the temporary directory, rename the old output aside, rename the new
 * one in, delete the old. A kill at any moment leaves the old or the new output complete (at {@code P/N}, or in
 * {@code .N.tmp-*} with {@code _SUCCESS} while the old one sits in {@code .N.old-*}); the next run, holding the lock,
 * finishes such a commit and removes what killed runs left ({@link #recover}). Input and output paths are compared
 * as real paths (symbolic links resolved) and must not contain one another.
 *
 * <p>Two kinds of stage use it: <em>replace</em> stages write a new output beside the old one and {@link #commit}
 * it ({@link #begin}); <em>in-place</em> stages (training: a resumable run directory) {@link #create} the directory
 * with its manifest, write into it, and {@link #markComplete} at the end.
 *
 * <p>Any Hadoop file system. What differs from a local disk, and how the protocol stays right: HDFS's
 * {@code rename(dir, existingDir)} moves {@code dir} <em>into</em> the existing one instead of failing, so no rename
 * here ever targets an existing path (the old output is moved aside first, and {@link #rename} checks); the lock is
 * {@code create(overwrite=false)}, exclusive on HDFS (the NameNode), and its holder refreshes the lock file's
 * modification time while it runs, which is how a lock left by a dead run on another host is recognised (see
 * {@link Lock}); and writers that need a local directory (java.nio: a model's files, the report's images) get a
 * local staging directory ({@link #localDir}) that {@link #commit} uploads before {@code _SUCCESS}. Local outputs use
 * the raw local file system: no {@code .crc} files beside ours.
 */
public final class StageOutput implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(StageOutput.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String SUCCESS = "_SUCCESS";
  public static final String MANIFEST = "_spark_dpo.json";
  private static final String UUID_RE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

  /** Test hook: called at each step of a commit with the step's name (a test halts the JVM there). */
  static Consumer<String> faultInjector = step -> { };

  /** An input of the stage: the option that named it and its path (or glob). */
  public record Input(String option, String path) {}

  /** What sits at the output path once the lock is held and killed runs are cleaned up. */
  public enum State {
    /** nothing at the path */
    ABSENT,
    /** an empty directory (e.g. made by the user beforehand): used as if absent */
    EMPTY,
    /** our output of this stage with _SUCCESS */
    COMPLETE,
    /** our output of this stage without _SUCCESS (an in-place stage's unfinished run) */
    INCOMPLETE
  }

  /** The manifest: which stage wrote the output, from which inputs and settings, when and where. */
  public record Manifest(String stage, String fingerprint, String created, String host, long pid) {
    String toJson() {
      ObjectNode j = JSON.createObjectNode();
      j.put("stage", stage);
      j.put("fingerprint", fingerprint);
      j.put("created", created);
      j.put("host", host);
      j.put("pid", pid);
      j.put("protocol", 1);
      return j.toPrettyString() + "\n";
    }

    static Manifest parse(JsonNode j) {
      return new Manifest(j.path("stage").asText(""), j.path("fingerprint").isNull() ? null
          : j.path("fingerprint").asText(null), j.path("created").asText(""), j.path("host").asText(""),
          j.path("pid").asLong(-1));
    }
  }

  private final String stage;
  private final String option;
  private final FileSystem fs;
  private final Path target;
  private final Lock lock;
  private final State state;
  private final Manifest existing;
  private Path temp;
  /** A local directory whose files {@link #commit} uploads into {@link #temp} (a non-local output's java.nio writers). */
  private java.nio.file.Path staging;
  private boolean committed;

  private StageOutput(String stage, String option, FileSystem fs, Path target, Lock lock, State state,
      Manifest existing) {
    this.stage = stage;
    this.option = option;
    this.fs = fs;
    this.target = target;
    this.lock = lock;
    this.state = state;
    this.existing = existing;
  }

  /**
   * Opens {@code dir} as the output of {@code stage}: refuses an output that is a file, that contains or sits inside
   * one of {@code inputs} (globs allowed), or that holds anything but this stage's output; takes
   * the exclusive lock; finishes or cleans up what killed runs left. Close it (try-with-resources) to release the
   * lock and remove an uncommitted temporary directory.
   *
   * @param option the option that named the output, for messages (e.g. {@code --output})
   */
  public static StageOutput open(String stage, String option, String dir, List<Input> inputs, Configuration conf) {
    Path target;
    FileSystem fs;
    try {
      Path given = new Path(dir);
      fs = HadoopFiles.fileSystem(given, conf);
      target = fs.makeQualified(given);
      if (target.getParent() == null) {
        throw new IllegalArgumentException(option + " " + dir + ": the root directory cannot be an output");
      }
      checkSeparate(option, target, fs, inputs, conf);
      fs.mkdirs(target.getParent());
    } catch (IOException e) {
      throw new UncheckedIOException("preparing " + option + " " + dir + ": " + e.getMessage(), e);
    }
    Lock lock = Lock.acquire(fs, target, option, stage);
    try {
      recover(fs, target);
      State state;
      Manifest manifest = null;
      FileStatus st = status(fs, target);
      if (st == null) state = State.ABSENT;
      else if (!st.isDirectory()) {
        throw new IllegalArgumentException(option + " " + show(target) + " is a file, not a directory: give a directory"
            + " path (it is created if missing)");
      } else if (fs.listStatus(target).length == 0) state = State.EMPTY;
      else {
        manifest = readManifest(fs, target);
        if (manifest == null) throw foreign(option, target, fs);
        if (!manifest.stage().equals(stage)) {
          throw new IllegalArgumentException(option + " " + show(target) + " holds a spark-dpo " + manifest.stage()
              + " output, not a " + stage + " output: choose another " + option);
        }
        state = fs.exists(new Path(target, SUCCESS)) ? State.COMPLETE : State.INCOMPLETE;
      }
      return new StageOutput(stage, option, fs, target, lock, state, manifest);
    } catch (IOException e) {
      lock.release();
      throw new UncheckedIOException("checking " + option + " " + target + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      lock.release();
      throw e;
    }
  }

  private static IllegalArgumentException foreign(String option, Path target, FileSystem fs) throws IOException {
    FileStatus[] entries = fs.listStatus(target);
    List<String> names = Arrays.stream(entries).map(s -> s.getPath().getName() + (s.isDirectory() ? "/" : ""))
        .sorted().limit(5).toList();
    return new IllegalArgumentException(option + " " + show(target) + " already exists and was not written by spark-dpo"
        + " (no " + MANIFEST + "; it holds " + String.join(", ", names) + (entries.length > 5 ? ", …" : "")
        + "): nothing there is replaced or deleted; choose another " + option + ", or remove it yourself");
  }

  /** What was at the output path when it was opened. */
  public State state() {
    return state;
  }

  /** The manifest of the existing output (COMPLETE or INCOMPLETE), else null. */
  public Manifest existing() {
    return existing;
  }

  /** The existing output's fingerprint when it is complete, else null. */
  public String completeFingerprint() {
    return state == State.COMPLETE ? existing.fingerprint() : null;
  }

  public Path target() {
    return target;
  }

  /** The output's file system (for local outputs the raw one: no .crc files). */
  public FileSystem fileSystem() {
    return fs;
  }

  /** The lock held for this output (for tests of the protocol). */
  Lock lock() {
    return lock;
  }

  // ---------------------------------------------------------------------------------------------- replace stages

  /** Starts a new output in a temporary sibling, with the manifest written first. */
  public void begin(String fingerprint) {
    if (temp != null) throw new IllegalStateException("begin called twice");
    temp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
    try {
      if (!fs.mkdirs(temp)) throw new IOException("cannot create " + temp);
      writeManifest(temp, fingerprint);
    } catch (IOException e) {
      throw new UncheckedIOException("starting output " + target + ": " + e.getMessage(), e);
    }
  }

  /** The new output's directory until commit (a qualified path, e.g. {@code file:/…/.out.tmp-…}). */
  public String path() {
    requireBegun();
    return temp.toString();
  }

  /**
   * The new output's directory as a local directory, for writers that use java.nio (a model's files, the report's
   * images): the temporary directory itself on the local file system; elsewhere a local staging directory whose files
   * {@link #commit} copies into the output (before {@code _SUCCESS}) and {@link #close} deletes.
   */
  public java.nio.file.Path localDir() {
    requireBegun();
    if ("file".equals(temp.toUri().getScheme())) return java.nio.file.Paths.get(temp.toUri());
    if (staging == null) {
      try {
        staging = java.nio.file.Files.createTempDirectory("spark-dpo-" + stage + "-");
      } catch (IOException e) {
        throw new UncheckedIOException("creating a local staging directory for " + target + ": " + e.getMessage(), e);
      }
    }
    return staging;
  }

  /** Where to write a part of the new output before commit, e.g. {@code path("pairs")}. */
  public String path(String child) {
    requireBegun();
    return new Path(temp, child).toString();
  }

  /** Writes a small text file into the new output. */
  public void writeText(String child, String text) {
    requireBegun();
    write(new Path(temp, child), text);
  }

  /**
   * Makes the new output the output: {@code _SUCCESS} into the temporary directory, then (if there is an old output)
   * rename it aside, rename the new one in, delete the old one.
   */
  public void commit() {
    requireBegun();
    try {
      if (staging != null) HadoopFiles.upload(staging, fs, temp);
      lock.checkHeld();
      write(new Path(temp, SUCCESS), "");
      faultInjector.accept("success-written");
      Path old = null;
      if (fs.exists(target)) {
        old = new Path(target.getParent(), "." + target.getName() + ".old-" + UUID.randomUUID());
        rename(target, old);
        faultInjector.accept("old-renamed");
      }
      rename(temp, target);
      committed = true;
      faultInjector.accept("new-renamed");
      if (old != null && !fs.delete(old, true)) LOG.warn("could not delete the replaced output {}", old);
      faultInjector.accept("old-deleted");
    } catch (IOException e) {
      throw new UncheckedIOException("committing output " + target + ": " + e.getMessage(), e);
    }
  }

  public boolean committed() {
    return committed;
  }

  private void requireBegun() {
    if (temp == null) throw new IllegalStateException("call begin first");
  }

  // ---------------------------------------------------------------------------------------------- in-place stages

  /**
   * Readies the output directory of an in-place stage: a fresh directory holding only the manifest. An existing
   * output of ours is discarded first (renamed aside, then deleted, so a kill never leaves half of it at the path).
   */
  public void create(String fingerprint) {
    try {
      if (state == State.COMPLETE || state == State.INCOMPLETE) {
        Path old = new Path(target.getParent(), "." + target.getName() + ".old-" + UUID.randomUUID());
        rename(target, old);
        if (!fs.delete(old, true)) LOG.warn("could not delete the discarded output {}", old);
      }
      fs.mkdirs(target);
      writeManifest(target, fingerprint);
      temp = target;
    } catch (IOException e) {
      throw new UncheckedIOException("creating output " + target + ": " + e.getMessage(), e);
    }
  }

  /** Marks an in-place output complete (its _SUCCESS, written last). */
  public void markComplete() {
    lock.checkHeld();
    write(new Path(target, SUCCESS), "");
    committed = true;
  }

  /** Marks an in-place output incomplete again (a resumed run that is about to change it). */
  public void markIncomplete() {
    try {
      fs.delete(new Path(target, SUCCESS), false);
    } catch (IOException e) {
      throw new UncheckedIOException("updating " + target + ": " + e.getMessage(), e);
    }
  }

  /** Releases the lock; a replace stage's uncommitted temporary directory is removed. */
  @Override
  public void close() {
    try {
      if (staging != null) HadoopFiles.deleteTree(staging);
      if (temp != null && !committed && !temp.equals(target)) fs.delete(temp, true);
    } catch (IOException | UncheckedIOException e) {
      LOG.warn("could not remove {}: {}", temp, e.getMessage());
    } finally {
      lock.release();
    }
  }

  // ---------------------------------------------------------------------------------------------- readers

  /** True when {@code dir} is a complete output (of any stage, or of an earlier version without a manifest). */
  public static boolean isComplete(FileSystem fs, Path dir) throws IOException {
    return fs.exists(new Path(dir, SUCCESS));
  }

  /**
   * Checks that {@code dir} (given as {@code option}) is a complete output of one of {@code stages}; a missing output
   * whose commit was interrupted says so.
   */
  public static void requireComplete(String option, String dir, Configuration conf, String... stages) {
    try {
      Path p = new Path(dir);
      FileSystem fs = p.getFileSystem(conf);
      String what = String.join(" or ", stages) + " output";
      if (!fs.exists(p)) {
        boolean interrupted = p.getParent() != null && fs.exists(p.getParent()) && Arrays.stream(
            fs.listStatus(p.getParent())).anyMatch(s -> s.getPath().getName().startsWith("." + p.getName() + ".tmp-"));
        throw new IllegalArgumentException(option + " " + dir + " does not exist" + (interrupted
            ? " (a killed run left its output half-committed: re-run the " + stages[0] + " stage to finish it)" : ""));
      }
      if (!fs.getFileStatus(p).isDirectory()) {
        throw new IllegalArgumentException(option + " " + dir + " is a file: give the directory of "
            + ("aeiou".indexOf(what.charAt(0)) >= 0 ? "an " : "a ") + what);
      }
      Manifest m = readManifest(fs, p);
      if (m != null && !Arrays.asList(stages).contains(m.stage())) {
        throw new IllegalArgumentException(option + " " + dir + " is a spark-dpo " + m.stage() + " output: give "
            + ("aeiou".indexOf(what.charAt(0)) >= 0 ? "an " : "a ") + what);
      }
      if (!isComplete(fs, p)) {
        throw new IllegalArgumentException(option + " " + dir + " is not a complete " + what + " (no " + SUCCESS
            + "): run the " + stages[0] + " stage (again) first");
      }
    } catch (IOException e) {
      throw new UncheckedIOException("checking " + option + " " + dir + ": " + e.getMessage(), e);
    }
  }

  /** The manifest of {@code dir}, or null when it has none. */
  public static Manifest readManifest(FileSystem fs, Path dir) throws IOException {
    Path file = new Path(dir, MANIFEST);
    try (InputStream in = fs.open(file)) {
      return Manifest.parse(JSON.readTree(in));
    } catch (FileNotFoundException e) {
      return null;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(file + " is corrupt (" + e.getOriginalMessage() + "): if the directory is"
          + " not needed, remove it yourself", e);
    }
  }

  // ---------------------------------------------------------------------------------------------- internals

  private void writeManifest(Path dir, String fingerprint) {
    write(new Path(dir, MANIFEST), new Manifest(stage, fingerprint, Instant.now().toString(), Lock.HOST,
        ProcessHandle.current().pid()).toJson());
  }

  private void write(Path file, String text) {
    try (OutputStream out = fs.create(file, true)) {
      out.write(text.getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + file + ": " + e.getMessage(), e);
    }
  }

  private void rename(Path from, Path to) throws IOException {
    rename(fs, from, to);
  }

  /**
   * Renames {@code from} to {@code to}, which must not exist: on HDFS (and S3A) renaming a directory onto an existing
   * directory moves it inside that one and reports success, which would bury an output one level down.
   */
  static void rename(FileSystem fs, Path from, Path to) throws IOException {
    if (fs.exists(to)) throw new IOException("cannot rename " + from + " to " + to + ": it exists");
    if (!fs.rename(from, to)) throw new IOException("cannot rename " + from + " to " + to);
  }

  private static FileStatus status(FileSystem fs, Path p) throws IOException {
    try {
      return fs.getFileStatus(p);
    } catch (FileNotFoundException e) {
      return null;
    }
  }

  /**
   * Finishes or cleans up what killed runs left beside {@code target} (called with the lock held, so no live run owns
   * any of it): a complete new output whose commit stopped between the two renames is renamed in (or, failing that,
   * the old output back); then every {@code .N.tmp-*} and {@code .N.old-*} is deleted.
   */
  static void recover(FileSystem fs, Path target) throws IOException {
    Path parent = target.getParent();
    Pattern ours = Pattern.compile(Pattern.quote("." + target.getName()) + "\\.(tmp|old)-" + UUID_RE);
    List<FileStatus> leftovers = new ArrayList<>();
    for (FileStatus s : fs.listStatus(parent)) {
      if (s.isDirectory() && ours.matcher(s.getPath().getName()).matches()) leftovers.add(s);
    }
    if (leftovers.isEmpty()) return;
    leftovers.sort(Comparator.comparingLong(FileStatus::getModificationTime).reversed());
    if (!fs.exists(target)) {
      Path restore = null;
      for (FileStatus s : leftovers) {   // the new output first: its commit had begun (it has _SUCCESS)
        if (s.getPath().getName().contains(".tmp-") && isComplete(fs, s.getPath())) restore = s.getPath();
      }
      for (FileStatus s : leftovers) {
        if (restore == null && s.getPath().getName().contains(".old-") && readManifest(fs, s.getPath()) != null) {
          restore = s.getPath();
        }
      }
      if (restore != null) {
        LOG.warn("{}: finishing the commit of a killed run (moving {} into place)", target, restore.getName());
        rename(fs, restore, target);
      }
    }
    for (FileStatus s : leftovers) {
      if (fs.exists(s.getPath())) {
        LOG.info("{}: removing {}, left by a killed run", target, s.getPath().getName());
        fs.delete(s.getPath(), true);
      }
    }
  }

  /**
   * Refuses an output that contains or lies inside an input. Paths on the local file system are compared with
   * symbolic links resolved (as far as they exist), others as qualified paths.
   */
  static void checkSeparate(String option, Path target, FileSystem fs, List<Input> inputs, Configuration conf)
      throws IOException {
    String out = real(target, fs);
    for (Input input : inputs) {
      Path given = new Path(input.path());
      FileSystem inFs = given.getFileSystem(conf);
      FileStatus[] matches = inFs.globStatus(given);
      List<Path> paths = matches == null || matches.length == 0 ? List.of(inFs.makeQualified(given))
          : Arrays.stream(matches).map(FileStatus::getPath).toList();
      for (Path p : paths) {
        if (!inFs.getUri().equals(fs.getUri())) continue;
        String in = real(inFs.makeQualified(p), inFs);
        if (within(in, out)) {
          throw new IllegalArgumentException(option + " " + show(target) + " contains " + input.option() + " "
              + show(p) + (in.equals(p.toString()) ? "" : " (= " + show(new Path(in)) + ")")
              + ": writing there would replace the input; choose an output outside the input");
        }
        if (within(out, in)) {
          throw new IllegalArgumentException(option + " " + show(target) + " is inside " + input.option() + " "
              + show(p) + (in.equals(p.toString()) ? "" : " (= " + show(new Path(in)) + ")")
              + ": a later run would read its own output; choose an output outside the input");
        }
      }
    }
  }

  /** SHA-256 of {@code text} (UTF-8) in hex: the fingerprint of settings written as text. */
  public static String sha256(String text) {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
          .digest(text.getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A path for messages: local paths without the {@code file:} scheme. */
  public static String show(Path p) {
    return "file".equals(p.toUri().getScheme()) ? p.toUri().getPath() : p.toString();
  }

  private static boolean within(String path, String dir) {
    return path.equals(dir) || path.startsWith(dir.endsWith("/") ? dir : dir + "/");
  }

  /** The path with symbolic links resolved as far as it exists (local file system), else the qualified path. */
  static String real(Path qualified, FileSystem fs) {
    if (!(fs instanceof LocalFileSystem || fs instanceof RawLocalFileSystem)) return qualified.toString();
    java.nio.file.Path p = java.nio.file.Paths.get(qualified.toUri()).normalize();
    java.nio.file.Path existing = p;
    java.nio.file.Path rest = java.nio.file.Paths.get("");
    while (existing != null && !java.nio.file.Files.exists(existing)) {
      rest = existing.getFileName().resolve(rest);
      existing = existing.getParent();
    }
    try {
      java.nio.file.Path r = existing == null ? p : existing.toRealPath().resolve(rest).normalize();
      return new Path(r.toUri()).toString().replaceAll("/$", "");
    } catch (IOException e) {
      return qualified.toString();
    }
  }
}
