package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.*;

import dev.sparkdpo.jobs.NearDupScore.Key;
import dev.sparkdpo.jobs.SyntheticPreferences.Planted;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Recall and precision of a near-duplicate run against planted pairs. */
class NearDupScoreTest {
  private static Key k(long record) {
    return new Key("f", record);
  }

  @Test
  void countsFoundPlantsByComponentAndJudgesRemovalsOnTheirTrueJaccard() {
    List<Planted> truth = List.of(
        new Planted("f", 2, "f", 1, 0.97),    // found: the copy removed in favour of its original
        new Planted("f", 4, "f", 3, 0.96),    // found the other way round: the original removed, kept = the copy
        new Planted("f", 6, "f", 5, 0.99),    // missed
        new Planted("f", 8, "f", 7, 0.91),    // found through a third record: both removed in favour of record 20
        new Planted("f", 10, "f", 9, 0.82),   // wrongly removed: below 0.85
        new Planted("f", 12, "f", 11, 0.80)); // rightly kept
    Map<Key, Key> removed = Map.of(k(2), k(1), k(3), k(4), k(8), k(20), k(7), k(20), k(10), k(9), k(30), k(31));
    // true Jaccard of each removal: record 30 is a real near-duplicate of 31 that nobody planted; 7 → 20 is not
    Map<Key, Double> jaccard = Map.of(k(2), 0.97, k(3), 0.96, k(8), 0.92, k(7), 0.7, k(10), 0.82, k(30), 0.93);
    NearDupScore.Score s = NearDupScore.score(truth, removed, (r, kept) -> jaccard.get(r), 0.9);
    assertEquals(6, s.planted());
    assertEquals(3, s.plantedHigh());
    assertEquals(2, s.foundHigh());
    assertEquals(2.0 / 3, s.recallHigh(), 1e-12);
    assertEquals(4, s.plantedAtThreshold());
    assertEquals(3, s.foundAtThreshold());
    assertEquals(1, s.plantedLowRemoved());
    assertEquals(6, s.removed());
    // correct: 2, 3 (planted, linked); 8 (J 0.92 to its kept record); 7 (one side of a linked plant at 0.91); 30
    // (true near-duplicate); wrong: 10 (0.82)
    assertEquals(5, s.removedCorrect());
    assertEquals(5.0 / 6, s.precision(), 1e-12);
    assertEquals(5.0 / 6, s.json(0.9).get("precision"));
  }

  @Test
  void nothingRemovedMeansNoPrecisionAndZeroRecall() {
    NearDupScore.Score s = NearDupScore.score(List.of(new Planted("f", 2, "f", 1, 0.99)), Map.of(),
        (r, kept) -> fail("no removal to judge"), 0.9);
    assertEquals(0.0, s.recallHigh());
    assertTrue(Double.isNaN(s.precision()));
  }
}
