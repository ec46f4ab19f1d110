package dev.sparkdpo.data.read;

import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.io.Serializable;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Comparator;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.hadoop.io.compress.CompressionCodec;
import org.apache.hadoop.io.compress.CompressionCodecFactory;

/** Expands {@code --input} values (files, directories, globs; any Hadoop file system) into input files. */
public final class InputFiles {
  private InputFiles() {}

  /** Something in an input directory that is not read, and why; {@code symlink}: a link that was not followed. */
  public record Skipped(String path, String why, boolean symlink) implements Serializable {}

  /** Result of {@link #expand}: the files, sorted by path, and what the directory walks did not read. */
  public record Listing(List<InputFile> files, List<Skipped> skipped) {
    /** Files of no supported type (or not regular files) inside input directories. */
    public long skippedFiles() {
      return skipped.stream().filter(s -> !s.symlink()).count();
    }

    /** Symlinks not followed: to directories, out of the input, broken, or to a file read already. */
    public long skippedSymlinks() {
      return skipped.stream().filter(Skipped::symlink).count();
    }
  }

  /**
   * Files named directly or by a glob must have a supported extension (else an error says which); inside a directory,
   * hidden files ({@code .x}, {@code _x}) are ignored and files of other types are skipped and reported.
   *
   * <p>Symlinks: a file or directory named by {@code --input} may be one (it is what the user asked for). Inside a
   * directory, on the local file system, a symlink to a directory is never followed (inside the input it is walked
   * anyway or loops; outside it is not input), and a symlink to a file is read only when the file's real path is
   * inside an input (a directory or file named by {@code --input}, symlinks resolved). No file is read twice: files
   * are deduplicated by real path across all {@code --input} values (a file beats a symlink to it). Each skipped
   * symlink is reported. On other file systems the Hadoop listing is used and symlinks are skipped.
   */
  public static Listing expand(List<String> inputs, Configuration conf) {
    List<Found> found = new ArrayList<>();
    List<Skipped> skipped = new ArrayList<>();
    List<java.nio.file.Path> realRoots = new ArrayList<>();
    List<java.nio.file.Path[]> localDirs = new ArrayList<>();   // {as given, real}
    try {
      for (String input : inputs) {
        Path p = new Path(input);
        FileSystem fs = p.getFileSystem(conf);
        FileStatus[] matches = fs.globStatus(p);
        if (matches == null || matches.length == 0) {
          throw new IllegalArgumentException("--input " + input + ": no such file or directory (nothing matches)");
        }
        boolean local = "file".equals(fs.getUri().getScheme());
        for (FileStatus st : matches) {
          if (local) {
            java.nio.file.Path given = Paths.get(fs.makeQualified(st.getPath()).toUri());
            java.nio.file.Path real = given.toRealPath();   // a root may be a symlink
            realRoots.add(real);
            if (Files.isDirectory(real)) {
              localDirs.add(new java.nio.file.Path[] {given, real});
            } else {
              if (!Files.isRegularFile(real)) throw new IllegalArgumentException("--input " + given + ": not a regular file");
              found.add(new Found(directFile(st.getPath(), Files.size(real)), real.toString(), false));
            }
          } else if (st.isDirectory()) {
            RemoteIterator<LocatedFileStatus> it = fs.listFiles(st.getPath(), true);
            while (it.hasNext()) {
              LocatedFileStatus f = it.next();
              if (hidden(f.getPath(), st.getPath())) continue;
              String path = f.getPath().toString();
              if (f.isSymlink()) {
                skipped.add(new Skipped(path, "a symlink (not followed)", true));
                continue;
              }
              InputFile.Container c = InputFile.Container.of(f.getPath().getName());
              if (c == null) skipped.add(new Skipped(path, "not a supported input type", false));
              else found.add(new Found(new InputFile(path, c, f.getLen()), path, false));
            }
          } else {
            found.add(new Found(directFile(st.getPath(), st.getLen()), st.getPath().toString(), false));
          }
        }
      }
      for (java.nio.file.Path[] dir : localDirs) walk(dir[0], dir[1], realRoots, found, skipped);
    } catch (IOException e) {
      throw new UncheckedIOException("listing --input " + inputs + ": " + e.getMessage(), e);
    }
    // one file per real path: files before symlinks, then by path
    found.sort(Comparator.comparing(Found::viaSymlink).thenComparing(f -> f.file().path()));
    Map<String, InputFile> byReal = new LinkedHashMap<>();
    for (Found f : found) {
      InputFile first = byReal.putIfAbsent(f.real(), f.file());
      if (first != null && f.viaSymlink()) {
        skipped.add(new Skipped(f.file().path(), "a symlink to " + first.path() + ", which is read already", true));
      }
    }
    List<InputFile> files = new ArrayList<>(byReal.values());
    files.sort(Comparator.comparing(InputFile::path));
    if (files.isEmpty()) throw new IllegalArgumentException("--input " + inputs + ": no input files found");
    skipped.sort(Comparator.comparing(Skipped::path));
    return new Listing(files, skipped);
  }

  /** A file found by a listing: {@code real} is its real path (the key that keeps it from being read twice). */
  private record Found(InputFile file, String real, boolean viaSymlink) {}

  /** A file named by --input (directly or by a glob): its type must be supported. */
  private static InputFile directFile(Path path, long size) {
    InputFile.Container c = InputFile.Container.of(path.getName());
    if (c == null) {
      throw new IllegalArgumentException("--input " + path + ": unsupported file type; use .jsonl, "
          + ".ndjson, .json, .csv or .parquet (optionally compressed, e.g. .jsonl.gz)");
    }
    return new InputFile(path.toString(), c, size);
  }

  /**
   * Walks a local directory without following symlinks ({@code real} is its real path; files are named under
   * {@code given}, the path as the user wrote it).
   */
  private static void walk(java.nio.file.Path given, java.nio.file.Path real, List<java.nio.file.Path> realRoots,
      List<Found> found, List<Skipped> skipped) throws IOException {
    Files.walkFileTree(real, new SimpleFileVisitor<>() {
      @Override
      public FileVisitResult preVisitDirectory(java.nio.file.Path dir, BasicFileAttributes attrs) {
        return !dir.equals(real) && hiddenName(dir) ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
      }

      @Override
      public FileVisitResult visitFile(java.nio.file.Path file, BasicFileAttributes attrs) throws IOException {
        if (hiddenName(file)) return FileVisitResult.CONTINUE;
        java.nio.file.Path shown = given.resolve(real.relativize(file));
        String path = hadoopPath(shown);
        String name = file.getFileName().toString();
        if (attrs.isSymbolicLink()) {
          java.nio.file.Path target;
          try {
            target = file.toRealPath();
          } catch (IOException e) {
            skipped.add(new Skipped(path, "a broken symlink", true));
            return FileVisitResult.CONTINUE;
          }
          if (Files.isDirectory(target)) {
            skipped.add(new Skipped(path, "a symlink to a directory (not followed)", true));
          } else if (realRoots.stream().noneMatch(target::startsWith)) {
            skipped.add(new Skipped(path, "a symlink to " + target + ", outside the input (pass that file or its "
                + "directory as --input to read it)", true));
          } else if (!Files.isRegularFile(target)) {
            skipped.add(new Skipped(path, "a symlink to " + target + ", not a regular file", true));
          } else if (InputFile.Container.of(name) == null) {
            skipped.add(new Skipped(path, "not a supported input type", false));
          } else {
            found.add(new Found(new InputFile(path, InputFile.Container.of(name), Files.size(target)),
                target.toString(), true));
          }
        } else if (!attrs.isRegularFile()) {
          skipped.add(new Skipped(path, "not a regular file", false));
        } else if (InputFile.Container.of(name) == null) {
          skipped.add(new Skipped(path, "not a supported input type", false));
        } else {
          // no symlink was followed to get here: the walked path is the real path
          found.add(new Found(new InputFile(path, InputFile.Container.of(name), attrs.size()), file.toString(), false));
        }
        return FileVisitResult.CONTINUE;
      }
    });
  }

  private static boolean hiddenName(java.nio.file.Path p) {
    String n = p.getFileName().toString();
    return n.startsWith(".") || n.startsWith("_");
  }

  /** The path as Hadoop writes it ({@code file:/x/y}), which is what readers open and pairs name as their source. */
  private static String hadoopPath(java.nio.file.Path p) {
    return new Path(p.toUri()).toString();
  }

  private static boolean hidden(Path file, Path root) {
    for (Path p = file; p != null && !p.equals(root); p = p.getParent()) {
      String n = p.getName();
      if (n.startsWith(".") || n.startsWith("_")) return true;
    }
    return false;
  }

  /**
   * Opens a file for reading, decompressing by its suffix. Opening errors (no such file, no permission, a codec that
   * needs a missing native library) are thrown here and fail the task: the file is not corrupt, the setup is wrong.
   * Errors while reading or decompressing its bytes (a truncated or corrupt .gz) come from the stream as
   * {@link UnreadableInputException}, which readers turn into one {@code unreadable_file} row.
   */
  public static InputStream open(String path, Configuration conf) throws IOException {
    Path p = new Path(path);
    FileSystem fs = p.getFileSystem(conf);
    InputStream raw = fs.open(p, 1 << 20);
    CompressionCodec codec = new CompressionCodecFactory(conf).getCodec(p);
    InputStream decoded;
    try {
      decoded = codec == null ? raw : codec.createInputStream(raw);
    } catch (IOException e) {   // a codec that reads its header eagerly: the file is corrupt, say so on the first read
      raw.close();
      UnreadableInputException error = new UnreadableInputException(path, e);
      decoded = new InputStream() {
        @Override
        public int read() throws IOException {
          throw error;
        }
      };
    }
    return new BufferedInputStream(new ReadErrors(decoded, path), 1 << 16);
  }

  /** Reports every failure to read (decompressors also throw unchecked exceptions on corrupt input) as unreadable. */
  private static final class ReadErrors extends FilterInputStream {
    private final String path;

    ReadErrors(InputStream in, String path) {
      super(in);
      this.path = path;
    }

    @Override
    public int read() throws IOException {
      try {
        return in.read();
      } catch (UnreadableInputException e) {
        throw e;
      } catch (IOException | RuntimeException e) {
        throw new UnreadableInputException(path, e);
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        return in.read(b, off, len);
      } catch (UnreadableInputException e) {
        throw e;
      } catch (IOException | RuntimeException e) {
        throw new UnreadableInputException(path, e);
      }
    }

    /**
     * None known: BufferedInputStream.read loops over the underlying reads while this is positive, and a failure in a
     * later one throws away the bytes the earlier ones gave. With 0 each of its reads is one read here, so every byte
     * decompressed before a corruption reaches the reader (and the records in it are kept).
     */
    @Override
    public int available() {
      return 0;
    }

    @Override
    public long skip(long n) throws IOException {
      try {
        return in.skip(n);
      } catch (UnreadableInputException e) {
        throw e;
      } catch (IOException | RuntimeException e) {
        throw new UnreadableInputException(path, e);
      }
    }
  }
}
