package dev.sparkdpo.data.read;

import java.io.IOException;

/**
 * Reading an input file's bytes failed after it was opened: a truncated or corrupt compressed stream, or an I/O
 * error. Thrown by the streams of {@link InputFiles#open}, so that readers can tell it from a syntax error (which
 * a JSON parser also reports as an IOException) and turn it into one {@code unreadable_file} row.
 */
public final class UnreadableInputException extends IOException {
  private final String path;

  public UnreadableInputException(String path, Throwable cause) {
    super(path + ": " + oneLine(cause), cause);
    this.path = path;
  }

  public String path() {
    return path;
  }

  /** The first line of an error's message, or its type when it has none. */
  static String oneLine(Throwable e) {
    String m = e.getMessage();
    if (m == null || m.isBlank()) return e.getClass().getSimpleName();
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }
}
