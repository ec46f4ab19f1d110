package dev.sparkdpo.tests.ingest;

import java.io.IOException;
import java.net.URI;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.RawLocalFileSystem;

/**
 * The local file system under the scheme {@code failopen:}, whose open() fails for files named {@code fail-*}: an error
 * in a task after the driver listed the input. (Corrupt data no longer fails a run: it becomes quarantine rows. A file
 * that cannot be opened still does, and that is what the failing-run test needs.) Enable with
 * {@code --conf spark.hadoop.fs.failopen.impl=dev.sparkdpo.tests.ingest.FailingOpenFileSystem}.
 */
public class FailingOpenFileSystem extends RawLocalFileSystem {
  private static final URI NAME = URI.create("failopen:///");

  @Override
  public URI getUri() {
    return NAME;
  }

  @Override
  public String getScheme() {
    return "failopen";
  }

  /** Plain statuses: RawLocalFileSystem's own load permissions through java.io.File(URI), which wants file:. */
  @Override
  public FileStatus getFileStatus(Path f) throws IOException {
    return plain(super.getFileStatus(f));
  }

  @Override
  public FileStatus[] listStatus(Path f) throws IOException {
    FileStatus[] all = super.listStatus(f);
    for (int i = 0; i < all.length; i++) all[i] = plain(all[i]);
    return all;
  }

  private static FileStatus plain(FileStatus s) {
    return new FileStatus(s.getLen(), s.isDirectory(), 1, s.getBlockSize(), s.getModificationTime(), s.getPath());
  }

  @Override
  public FSDataInputStream open(Path f, int bufferSize) throws IOException {
    if (f.getName().startsWith("fail-")) throw new IOException("injected failure: cannot open " + f);
    return super.open(f, bufferSize);
  }
}
