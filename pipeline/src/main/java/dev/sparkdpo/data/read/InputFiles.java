package dev.sparkdpo.data.read;

import java.io.BufferedInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
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

  /** Result of {@link #expand}: the files, sorted by path, and files in directories that were not inputs. */
  public record Listing(List<InputFile> files, List<String> skipped) {}

  /**
   * Files named directly or by a glob must have a supported extension (else an error says which); inside a directory,
   * hidden files ({@code .x}, {@code _x}) are ignored and files of other types are skipped and reported.
   */
  public static Listing expand(List<String> inputs, Configuration conf) {
    List<InputFile> files = new ArrayList<>();
    List<String> skipped = new ArrayList<>();
    try {
      for (String input : inputs) {
        Path p = new Path(input);
        FileSystem fs = p.getFileSystem(conf);
        FileStatus[] matches = fs.globStatus(p);
        if (matches == null || matches.length == 0) {
          throw new IllegalArgumentException("--input " + input + ": no such file or directory (nothing matches)");
        }
        for (FileStatus st : matches) {
          if (st.isDirectory()) {
            RemoteIterator<LocatedFileStatus> it = fs.listFiles(st.getPath(), true);
            while (it.hasNext()) {
              LocatedFileStatus f = it.next();
              if (hidden(f.getPath(), st.getPath())) continue;
              InputFile.Container c = InputFile.Container.of(f.getPath().getName());
              if (c == null) skipped.add(f.getPath().toString());
              else files.add(new InputFile(f.getPath().toString(), c, f.getLen()));
            }
          } else {
            InputFile.Container c = InputFile.Container.of(st.getPath().getName());
            if (c == null) {
              throw new IllegalArgumentException("--input " + st.getPath() + ": unsupported file type; use .jsonl, "
                  + ".ndjson, .json, .csv or .parquet (optionally compressed, e.g. .jsonl.gz)");
            }
            files.add(new InputFile(st.getPath().toString(), c, st.getLen()));
          }
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("listing --input " + inputs + ": " + e.getMessage(), e);
    }
    files.sort(Comparator.comparing(InputFile::path));
    List<InputFile> unique = new ArrayList<>();
    for (InputFile f : files) if (unique.isEmpty() || !unique.get(unique.size() - 1).path().equals(f.path())) unique.add(f);
    if (unique.isEmpty()) throw new IllegalArgumentException("--input " + inputs + ": no input files found");
    return new Listing(unique, skipped);
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
