package dev.sparkdpo.data;

import java.util.Iterator;

/**
 * Ingest reads each file three times (see {@link Ingest}); a file that becomes unreadable part-way must do so at the
 * same record in every scan, or the pairs, the quarantine and the counts would disagree. Scan 1 finds where (its
 * {@code unreadable_file} row's record number, or none); this wraps the parse of a later scan and fails the task when
 * the file reads differently (it changed during the run, or a read failed only once): Spark then retries the task,
 * and a run never commits counts that do not add up.
 */
final class RescanCheck implements Iterator<ParsedRecord> {
  private final Iterator<ParsedRecord> in;
  private final String path;
  private final long unreadableAt;   // -1: scan 1 read the whole file
  private boolean seen;

  RescanCheck(Iterator<ParsedRecord> in, String path, long unreadableAt) {
    this.in = in;
    this.path = path;
    this.unreadableAt = unreadableAt;
  }

  @Override
  public boolean hasNext() {
    boolean more = in.hasNext();
    if (!more && unreadableAt >= 0 && !seen) {
      throw differs("the first scan could not read it from record " + unreadableAt + " on, this scan read it to the end");
    }
    return more;
  }

  @Override
  public ParsedRecord next() {
    ParsedRecord r = in.next();
    if (QuarantineReason.UNREADABLE_FILE.code().equals(r.reason())) {
      if (r.record() != unreadableAt) {
        throw differs(unreadableAt < 0 ? "the first scan read it to the end, this scan could not read it from record "
            + r.record() + " on (" + r.detail() + ")" : "the first scan could not read it from record " + unreadableAt
            + " on, this scan from record " + r.record() + " on");
      }
      seen = true;
    } else if (unreadableAt >= 0 && r.record() >= unreadableAt) {
      throw differs("the first scan could not read it from record " + unreadableAt + " on, this scan read record "
          + r.record());
    }
    return r;
  }

  private IllegalStateException differs(String how) {
    return new IllegalStateException("input " + path + " read differently in two scans of the same run: " + how
        + "; it changed during the run or a read failed only once (the task fails and Spark retries it)");
  }
}
