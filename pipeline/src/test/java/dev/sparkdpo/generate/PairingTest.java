package dev.sparkdpo.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sparkdpo.generate.Pairing.Pair;
import java.util.List;
import org.junit.jupiter.api.Test;

class PairingTest {
  @Test
  void bestWorstPairsTheHighestWithTheLowestFirstOfEach() {
    Pairing.Result r = Pairing.BEST_WORST.pairs(new double[] {1, 3, -2, 3, -2}, 0);
    assertEquals(List.of(new Pair(1, 2)), r.pairs());
    assertEquals(0, r.ties());
    assertEquals(0, r.belowMinGap());
  }

  @Test
  void tiesAreNeverPaired() {
    Pairing.Result r = Pairing.BEST_WORST.pairs(new double[] {2, 2, 2}, 0);
    assertEquals(List.of(), r.pairs());
    assertEquals(1, r.ties());
    r = Pairing.ALL.pairs(new double[] {2, 2, 1}, 0);
    assertEquals(List.of(new Pair(0, 2), new Pair(1, 2)), r.pairs());
    assertEquals(1, r.ties());
  }

  @Test
  void allPairsEveryTwoWhoseRewardsDifferHigherChosen() {
    Pairing.Result r = Pairing.ALL.pairs(new double[] {0, 5, 1}, 0);
    assertEquals(List.of(new Pair(1, 0), new Pair(2, 0), new Pair(1, 2)), r.pairs());
  }

  @Test
  void aGapBelowTheMinimumIsDropped() {
    Pairing.Result r = Pairing.ALL.pairs(new double[] {0, 5, 1}, 1.5);
    assertEquals(List.of(new Pair(1, 0), new Pair(1, 2)), r.pairs());
    assertEquals(1, r.belowMinGap());
    r = Pairing.BEST_WORST.pairs(new double[] {0, 1}, 1);  // a gap equal to the minimum is kept
    assertEquals(List.of(new Pair(1, 0)), r.pairs());
    r = Pairing.BEST_WORST.pairs(new double[] {0, 0.5}, 1);
    assertEquals(List.of(), r.pairs());
    assertEquals(1, r.belowMinGap());
  }

  @Test
  void fewerThanTwoCompletionsGiveNothing() {
    assertEquals(new Pairing.Result(List.of(), 0, 0), Pairing.BEST_WORST.pairs(new double[] {1}, 0));
    assertEquals(new Pairing.Result(List.of(), 0, 0), Pairing.ALL.pairs(new double[] {}, 0));
  }

  @Test
  void codesParseAndAnUnknownOneNamesTheOption() {
    assertEquals(Pairing.BEST_WORST, Pairing.parse("best-worst"));
    assertEquals(Pairing.ALL, Pairing.parse("all"));
    assertEquals("--pairing best: use best-worst or all",
        assertThrows(IllegalArgumentException.class, () -> Pairing.parse("best")).getMessage());
  }
}
