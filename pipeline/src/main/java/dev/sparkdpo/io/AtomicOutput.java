package dev.sparkdpo.io;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * A stage's output directory, written so that a killed run never looks complete: everything goes to a temporary
 * sibling ({@code .<name>.tmp-<uuid>}), which is renamed into place, and {@code _SUCCESS} is written last.
 * Readers must check {@link #isComplete}.
 */
public final class AtomicOutput {
  public static final String SUCCESS = "_SUCCESS";

  private final FileSystem fs;
  private final Path target;
  private final Path temp;
  private boolean committed;

  private AtomicOutput(FileSystem fs, Path target, Path temp) {
    this.fs = fs;
    this.target = target;
    this.temp = temp;
  }

  /**
   * Starts an output at {@code dir}. An existing directory is an error unless {@code overwrite}, in which case it is
   * replaced only at {@link #commit}.
   */
  public static AtomicOutput begin(String dir, boolean overwrite, Configuration conf) {
    try {
      Path target = new Path(dir);
      FileSystem fs = target.getFileSystem(conf);
      target = fs.makeQualified(target);
      if (fs.exists(target) && !overwrite) {
        throw new IllegalArgumentException("output " + target + " already exists"
            + (isComplete(fs, target) ? " (a complete run)" : " (an incomplete run: no _SUCCESS)")
            + "; pass --overwrite to replace it, or choose another --output");
      }
      Path temp = new Path(target.getParent(), "." + target.getName() + ".tmp-" + UUID.randomUUID());
      fs.mkdirs(temp);
      return new AtomicOutput(fs, target, temp);
    } catch (IOException e) {
      throw new UncheckedIOException("preparing output " + dir + ": " + e.getMessage(), e);
    }
  }

  /** Where to write a part of the output before commit, e.g. {@code path("pairs")}. */
  public String path(String child) {
    return new Path(temp, child).toString();
  }

  public Path target() {
    return target;
  }

  public void writeText(String child, String text) {
    try (OutputStream out = fs.create(new Path(temp, child), true)) {
      out.write(text.getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + child + " under " + temp + ": " + e.getMessage(), e);
    }
  }

  /** Moves the temporary directory into place (replacing an old output) and writes {@code _SUCCESS}. */
  public void commit() {
    try {
      if (fs.exists(target) && !fs.delete(target, true)) throw new IOException("cannot delete old " + target);
      if (!fs.rename(temp, target)) throw new IOException("cannot rename " + temp + " to " + target);
      fs.create(new Path(target, SUCCESS), true).close();
      committed = true;
    } catch (IOException e) {
      throw new UncheckedIOException("committing output " + target + ": " + e.getMessage(), e);
    }
  }

  public boolean committed() {
    return committed;
  }

  /** Removes the temporary directory after a failure (best effort; the target is untouched). */
  public void abort() {
    try {
      fs.delete(temp, true);
    } catch (IOException ignored) {
      // nothing more to do: an orphaned .tmp directory never looks complete
    }
  }

  public static boolean isComplete(FileSystem fs, Path dir) throws IOException {
    return fs.exists(new Path(dir, SUCCESS));
  }
}
