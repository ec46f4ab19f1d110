package dev.sparkdpo.data;

import java.util.Comparator;

/**
 * What scan 1 shuffles per record: four longs, not the text. A pair's marker holds the low 64 bits of its pair key
 * (the high 64 are the shuffle key, so a 64-bit collision never merges two pairs), its file and orientation, its
 * record number and the first 64 bits of its id; a bad record's marker holds only where it is.
 */
final class Markers {
  private Markers() {}

  private static final int KEY_TAIL = 0;
  private static final int FILE_FLAGS = 1;   // file index << 2 | bad << 1 | swapped
  private static final int RECORD = 2;
  private static final int ID_PREFIX = 3;

  static long shuffleKey(ParsedRecord r, int file) {
    if (!r.isPair()) {                      // spread bad records by where they are: each is alone in its group
      long h = (file * 0x9E3779B97F4A7C15L) ^ r.record();
      return h ^ (h >>> 29) * 0xBF58476D1CE4E5B9L;
    }
    return Long.parseUnsignedLong(r.pairKey().substring(0, 16), 16);
  }

  static long[] of(ParsedRecord r, int file) {
    // a bad record's last long says whether the file is unreadable from it on (see RescanCheck)
    if (!r.isPair()) return new long[] {0, ((long) file << 2) | 2, r.record(), unreadable(r) ? 1 : 0};
    return new long[] {Long.parseUnsignedLong(r.pairKey().substring(16, 32), 16),
        ((long) file << 2) | (r.swapped() ? 1 : 0), r.record(), Long.parseUnsignedLong(r.id().substring(0, 16), 16)};
  }

  /** By full pair key, then input order (file, record). */
  static final Comparator<long[]> ORDER = Comparator.<long[]>comparingLong(m -> m[KEY_TAIL])
      .thenComparingLong(m -> m[FILE_FLAGS] >>> 2).thenComparingLong(m -> m[RECORD])
      .thenComparingLong(m -> m[ID_PREFIX]);

  static boolean isBad(long[] m) {
    return (m[FILE_FLAGS] & 2) != 0;
  }

  private static boolean unreadable(ParsedRecord r) {
    return QuarantineReason.UNREADABLE_FILE.code().equals(r.reason());
  }

  /** A bad record where its file stops being readable. */
  static boolean unreadable(long[] m) {
    return isBad(m) && m[ID_PREFIX] == 1;
  }

  static boolean swapped(long[] m) {
    return (m[FILE_FLAGS] & 1) != 0;
  }

  static int file(long[] m) {
    return (int) (m[FILE_FLAGS] >>> 2);
  }

  static long record(long[] m) {
    return m[RECORD];
  }

  static boolean sameKey(long[] a, long[] b) {
    return a[KEY_TAIL] == b[KEY_TAIL];
  }

  /** The pair's key in its file's drop list; equals {@link #position(ParsedRecord)} for the same pair. */
  static String position(long[] m) {
    return position(m[RECORD], m[ID_PREFIX]);
  }

  static String position(ParsedRecord r) {
    return r.record() + ":" + r.id().substring(0, 16);
  }

  private static String position(long record, long idPrefix) {
    String hex = Long.toHexString(idPrefix);
    return record + ":" + "0".repeat(16 - hex.length()) + hex;
  }
}
