package dev.sparkdpo.data.read;

/** Records read, and what readers repair or skip without it being a record: reported in stats.json. */
public final class ReadCounters {
  public long records;
  public long blankLines;
  public long byteOrderMarks;
  public long crlfLines;
}
