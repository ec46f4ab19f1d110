package dev.sparkdpo.data.read;

import java.util.Iterator;
import java.util.NoSuchElementException;

/** A streaming reader of one file's records: subclasses say how to read the next one. */
public abstract class RecordReader implements Iterator<RawRecord> {
  private RawRecord next;
  private boolean ended;

  /** The next record, or null at the end of the input. Never throws on bad data: returns a bad record instead. */
  protected abstract RawRecord read();

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
