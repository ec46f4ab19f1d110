package dev.sparkdpo.data.read;

import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.util.Iterator;
import java.util.NoSuchElementException;

/** A streaming reader of one file's records: subclasses say how to read the next one. */
public abstract class RecordReader implements Iterator<RawRecord> {
  private RawRecord next;
  private boolean ended;

  /** The next record, or null at the end of the input. Never throws on bad data: returns a bad record instead. */
  protected abstract RawRecord read();

  /**
   * The one row for a file whose bytes stop being readable after {@code recordsBefore} records: those records were
   * real and are kept; {@code record} and {@code line} are where the unreadable part starts (line -1: no lines).
   */
  public static RawRecord unreadable(long record, long line, long recordsBefore, String raw, Throwable e) {
    String file = e instanceof UnreadableInputException u ? u.path() : "the input";
    Throwable cause = e instanceof UnreadableInputException && e.getCause() != null ? e.getCause() : e;
    return RawRecord.bad(record, line, raw == null || raw.isEmpty() ? null : raw, new RecordException(
        QuarantineReason.UNREADABLE_FILE, file + " cannot be read after " + recordsBefore
            + (recordsBefore == 1 ? " record" : " records") + (line > 0 ? " (at line " + line + ")" : "") + ": "
            + UnreadableInputException.oneLine(cause) + "; the records before were kept; re-download or re-compress "
            + "the file"));
  }

  /** A reader of one record (e.g. the {@link #unreadable} row of a file that cannot be read at all). */
  public static RecordReader of(RawRecord only) {
    return new RecordReader() {
      private RawRecord r = only;

      @Override
      protected RawRecord read() {
        RawRecord out = r;
        r = null;
        return out;
      }
    };
  }

  @Override
  public final boolean hasNext() {
    if (next == null && !ended) {
      next = read();
      ended = next == null;
    }
    return next != null;
  }

  @Override
  public final RawRecord next() {
    if (!hasNext()) throw new NoSuchElementException();
    RawRecord r = next;
    next = null;
    return r;
  }
}
