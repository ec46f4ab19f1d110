package dev.sparkdpo.io;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * Files of any Hadoop file system (file:, hdfs:, s3a:, ...) for the code that needs them as local files: model
 * weights (read with a FileChannel), DJL's tokenizer (a native library that opens a local path), and the writers that
 * use java.nio (a model's files, the report's images).
 *
 * <p>{@link #local}: a directory on a non-local file system is copied into this JVM's cache, one copy per
 * (qualified path, files' lengths and modification times), so each executor copies a model or tokenizer once however
 * many tasks, stages or reloads use it; {@code file:} paths are used in place. The cache lives in
 * {@code java.io.tmpdir/spark-dpo-cache-<pid>} (in a YARN container's own temporary directory) and is deleted when the
 * JVM exits.
 *
 * <p>{@link #fileSystem}: for {@code file:} paths the raw local file system. Hadoop's default LocalFileSystem writes a
 * {@code .name.crc} beside every file and then refuses to read a file whose CRC no longer matches, which is what a
 * killed run leaves behind an appended metrics.jsonl; plain files are what a local user expects.
 */
public final class HadoopFiles {
  private static final Map<String, java.nio.file.Path> CACHE = new ConcurrentHashMap<>();
  private static volatile java.nio.file.Path cacheRoot;

  private HadoopFiles() {}

  /** The file system of {@code path}: the raw local one for {@code file:} (no .crc files), else Hadoop's. */
  public static FileSystem fileSystem(Path path, Configuration conf) throws IOException {
    FileSystem fs = path.getFileSystem(conf);
    return fs instanceof LocalFileSystem local ? local.getRaw() : fs;
  }

  public static boolean isLocal(FileSystem fs) {
    return fs instanceof LocalFileSystem || fs instanceof RawLocalFileSystem;
  }

  /** {@code path} qualified against the default file system (so {@code /x} means hdfs:/x where that is the default). */
  public static String qualified(String path, Configuration conf) {
    try {
      Path p = new Path(path);
      return p.getFileSystem(conf).makeQualified(p).toString();
    } catch (IOException e) {
      throw new UncheckedIOException("resolving " + path + ": " + e.getMessage(), e);
    }
  }

  /** A {@code file:} (or scheme-less) path as a java.nio path; null for any other file system. */
  public static java.nio.file.Path localPathOf(String path) {
    java.net.URI uri = new Path(path).toUri();
    if (uri.getScheme() == null) return java.nio.file.Path.of(uri.getPath()).toAbsolutePath().normalize();
    return "file".equals(uri.getScheme()) ? java.nio.file.Path.of(uri.getPath()) : null;
  }

  /**
   * Hadoop's configuration as this JVM sees it: on a Spark driver or executor with the application's
   * {@code spark.hadoop.*} settings (credentials, endpoints), else Hadoop's defaults and *-site.xml files.
   */
  public static Configuration defaultConf() {
    org.apache.spark.SparkEnv env = org.apache.spark.SparkEnv.get();
    return env == null ? new Configuration()
        : org.apache.spark.deploy.SparkHadoopUtil.get().newConfiguration(env.conf());
  }

  /**
   * {@code dir} as a local directory holding {@code names} (those of them that exist; null: every file directly in
   * {@code dir} whose name does not start with '.' or '_'): {@code dir} itself on the local file system, else this
   * JVM's cached copy (made on first use; a file changed since, by length or modification time, makes a new copy). A
   * directory that does not exist is returned as a local path that does not exist either, so the caller's own check
   * reports it.
   */
  public static java.nio.file.Path local(String dir, List<String> names, Configuration conf) {
    java.nio.file.Path inPlace = localPathOf(dir);
    if (inPlace != null) return inPlace;
    Path src = new Path(dir);
    try {
      FileSystem fs = src.getFileSystem(conf);
      if (!fs.isDirectory(src)) return cacheRoot().resolve(".absent");
      List<FileStatus> present = new ArrayList<>();
      StringBuilder key = new StringBuilder(fs.makeQualified(src).toString());
      List<FileStatus> candidates = new ArrayList<>();
      if (names == null) {
        for (FileStatus st : fs.listStatus(src)) {
          String n = st.getPath().getName();
          if (!n.startsWith(".") && !n.startsWith("_")) candidates.add(st);
        }
      } else {
        for (String name : names) {
          try {
            candidates.add(fs.getFileStatus(new Path(src, name)));
          } catch (FileNotFoundException e) {
            // absent: the caller decides whether it was needed
          }
        }
      }
      for (FileStatus st : candidates) {
        if (st.isFile()) {
          present.add(st);
          key.append('\n').append(st.getPath().getName()).append(' ').append(st.getLen()).append(' ')
              .append(st.getModificationTime());
        }
      }
      String k = StageOutput.sha256(key.toString());
      java.nio.file.Path cached = CACHE.get(k);
      if (cached != null && Files.isDirectory(cached)) return cached;
      synchronized (CACHE) { // one copy per key, even when several tasks of the JVM ask at once
        cached = CACHE.get(k);
        if (cached != null && Files.isDirectory(cached)) return cached;
        java.nio.file.Path root = cacheRoot();
        java.nio.file.Path copy = root.resolve(k.substring(0, 24));
        java.nio.file.Path temp = root.resolve(".tmp-" + UUID.randomUUID());
        Files.createDirectories(temp);
        try {
          for (FileStatus st : present) {
            fs.copyToLocalFile(false, st.getPath(), new Path(temp.resolve(st.getPath().getName()).toUri()), true);
          }
          deleteTree(copy);
          Files.move(temp, copy, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
          deleteTree(temp);
        }
        CACHE.put(k, copy);
        return copy;
      }
    } catch (IOException e) {
      throw new UncheckedIOException("copying " + dir + " to local disk: " + e.getMessage(), e);
    }
  }

  /** A single file on any Hadoop file system as a local file (see {@link #local}). */
  public static java.nio.file.Path localFile(String file, Configuration conf) {
    java.nio.file.Path inPlace = localPathOf(file);
    if (inPlace != null) return inPlace;
    Path p = new Path(file);
    return local(p.getParent().toString(), List.of(p.getName()), conf).resolve(p.getName());
  }

  /** Writes files into a local directory (java.nio writers). */
  @FunctionalInterface
  public interface LocalWriter {
    void write(java.nio.file.Path dir) throws IOException;
  }

  /**
   * Creates {@code dir} on {@code fs} and fills it with {@code writer}: in place on the local file system, else in a
   * local staging directory that is then uploaded (and deleted).
   */
  public static void writeDirectory(FileSystem fs, Path dir, LocalWriter writer) throws IOException {
    if (!fs.mkdirs(dir)) throw new IOException("cannot create " + dir);
    if (isLocal(fs)) {
      writer.write(java.nio.file.Path.of(fs.makeQualified(dir).toUri()));
      return;
    }
    java.nio.file.Path staging = Files.createTempDirectory("spark-dpo-upload-");
    try {
      writer.write(staging);
      upload(staging, fs, dir);
    } finally {
      deleteTree(staging);
    }
  }

  /** Copies every file and directory in {@code localDir} into {@code dir} (on {@code fs}), replacing files there. */
  public static void upload(java.nio.file.Path localDir, FileSystem fs, Path dir) throws IOException {
    try (Stream<java.nio.file.Path> entries = Files.list(localDir)) {
      for (java.nio.file.Path e : entries.sorted().toList()) {
        fs.copyFromLocalFile(false, true, new Path(e.toUri()), new Path(dir, e.getFileName().toString()));
      }
    }
  }

  public static String readText(FileSystem fs, Path file) throws IOException {
    try (InputStream in = fs.open(file)) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  /** Writes {@code text} to {@code file}, replacing it (not atomic: for files inside an output being written). */
  public static void writeText(FileSystem fs, Path file, String text) throws IOException {
    try (OutputStream out = fs.create(file, true)) {
      out.write(text.getBytes(StandardCharsets.UTF_8));
    }
  }

  /**
   * Renames the file {@code tmp} over {@code file} atomically: readers see the old or the new file, never none. The
   * local file system's rename replaces; HDFS's FileSystem.rename refuses an existing target, so elsewhere it is
   * FileContext's rename with OVERWRITE (one NameNode operation on HDFS).
   */
  public static void replaceFile(FileSystem fs, Path tmp, Path file) throws IOException {
    if (isLocal(fs)) {
      if (!fs.rename(tmp, file)) throw new IOException("cannot rename " + tmp + " to " + file);
      return;
    }
    org.apache.hadoop.fs.FileContext.getFileContext(fs.getUri(), fs.getConf()).rename(fs.makeQualified(tmp),
        fs.makeQualified(file), org.apache.hadoop.fs.Options.Rename.OVERWRITE);
  }

  /** Deletes a local directory tree (or file) if it exists. */
  public static void deleteTree(java.nio.file.Path p) {
    if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
    try (Stream<java.nio.file.Path> s = Files.walk(p)) {
      for (java.nio.file.Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
    } catch (IOException e) {
      throw new UncheckedIOException("deleting " + p + ": " + e.getMessage(), e);
    }
  }

  private static java.nio.file.Path cacheRoot() throws IOException {
    if (cacheRoot == null) {
      synchronized (HadoopFiles.class) {
        if (cacheRoot == null) {
          java.nio.file.Path root = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"),
              "spark-dpo-cache-" + ProcessHandle.current().pid());
          Files.createDirectories(root);
          Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
              deleteTree(root);
            } catch (RuntimeException ignored) {
              // the JVM is exiting: a leftover copy in the temporary directory is harmless
            }
          }, "spark-dpo-cache-cleanup"));
          cacheRoot = root;
        }
      }
    }
    return cacheRoot;
  }
}
