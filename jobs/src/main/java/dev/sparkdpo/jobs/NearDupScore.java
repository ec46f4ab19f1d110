package dev.sparkdpo.jobs;

import dev.sparkdpo.jobs.SyntheticPreferences.Planted;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * How well a near-duplicate run found the planted near-duplicates of a synthetic corpus ({@link SyntheticPreferences}).
 * Records are named by (file name, 1-based record). A planted pair counts as found when the run put the copy and its
 * original in one component, i.e. one of them was removed in favour of the other's component (both carry the same
 * label: the kept record's key, or their own when kept).
 */
final class NearDupScore {
  /** Planted pairs at or above this true Jaccard must be found (recall bar 0.95). */
  static final double HIGH = 0.95;
  /** Planted pairs below this true Jaccard must never be removed. */
  static final double LOW = 0.85;

  record Key(String file, long record) {}

  /** The true Jaccard of a removed record and the record kept in its place. */
  interface TrueJaccard {
    double of(Key removed, Key kept);
  }

  record Score(long planted, long plantedHigh, long foundHigh, long plantedAtThreshold, long foundAtThreshold,
      long plantedLowRemoved, long removed, long removedCorrect) {
    double recallHigh() {
      return plantedHigh == 0 ? Double.NaN : (double) foundHigh / plantedHigh;
    }

    double recallAtThreshold() {
      return plantedAtThreshold == 0 ? Double.NaN : (double) foundAtThreshold / plantedAtThreshold;
    }

    double precision() {
      return removed == 0 ? Double.NaN : (double) removedCorrect / removed;
    }

    /** The bench's JSON fields. */
    Map<String, Object> json(double threshold) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("removed", removed);
      m.put("planted", planted);
      m.put("planted_jaccard_ge_0_95", plantedHigh);
      m.put("recall_jaccard_ge_0_95", recallHigh());
      m.put("recall_jaccard_ge_0_95_bar", 0.95);
      m.put("planted_jaccard_ge_threshold", plantedAtThreshold);
      m.put("recall_jaccard_ge_threshold", recallAtThreshold());
      m.put("threshold", threshold);
      m.put("planted_jaccard_lt_0_85_removed", plantedLowRemoved);
      m.put("planted_jaccard_lt_0_85_removed_bar", 0);
      m.put("precision", precision());
      return m;
    }
  }

  private NearDupScore() {}

  /**
   * @param removedToKept every record removed as a near-duplicate → the record kept in its place
   * @param trueJaccard computes the exact Jaccard of a removed record and its kept record (asked once per removed)
   */
  static Score score(List<Planted> truth, Map<Key, Key> removedToKept, TrueJaccard trueJaccard, double threshold) {
    long high = 0;
    long foundHigh = 0;
    long atThreshold = 0;
    long foundAtThreshold = 0;
    long lowRemoved = 0;
    Map<Key, Boolean> linkedPlantAtThreshold = new HashMap<>();   // either side of a found pair at J >= threshold
    for (Planted p : truth) {
      Key copy = new Key(p.file(), p.record());
      Key original = new Key(p.originalFile(), p.originalRecord());
      boolean found = label(copy, removedToKept).equals(label(original, removedToKept));
      if (p.jaccard() >= HIGH) {
        high++;
        if (found) foundHigh++;
      }
      if (p.jaccard() >= threshold) {
        atThreshold++;
        if (found) {
          foundAtThreshold++;
          linkedPlantAtThreshold.put(copy, true);
          linkedPlantAtThreshold.put(original, true);
        }
      }
      if (p.jaccard() < LOW && found) lowRemoved++;
    }
    long correct = 0;
    for (Map.Entry<Key, Key> e : removedToKept.entrySet()) {
      if (linkedPlantAtThreshold.containsKey(e.getKey())
          || trueJaccard.of(e.getKey(), e.getValue()) >= threshold - 1e-12) {
        correct++;
      }
    }
    return new Score(truth.size(), high, foundHigh, atThreshold, foundAtThreshold, lowRemoved, removedToKept.size(),
        correct);
  }

  /** The key of the record that represents {@code k}'s component: its kept record, or itself. */
  private static Key label(Key k, Map<Key, Key> removedToKept) {
    return removedToKept.getOrDefault(k, k);
  }
}
