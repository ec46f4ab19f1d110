package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

class DpoConfigTest {

  @Test
  void parsesTrlNames() {
    assertEquals(LossType.SIGMOID, LossType.parse("sigmoid"));
    assertEquals(LossType.EXO_PAIR, LossType.parse("exo_pair"));
    assertEquals(LossType.APO_DOWN, LossType.parse(" APO_DOWN "));
    assertEquals(LossType.SFT, LossType.parse("sft"));
    for (LossType t : LossType.values()) assertEquals(t, LossType.parse(t.trlName()));
  }

  @Test
  void unknownNameListsValidOnes() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> LossType.parse("sigmod"));
    assertTrue(e.getMessage().contains("'sigmod'"), e.getMessage());
    assertTrue(e.getMessage().contains("sigmoid, ipo, hinge, robust, exo_pair, nca_pair, bco_pair, sppo_hard, "
        + "apo_zero, apo_down, sft"), e.getMessage());
    IllegalArgumentException aot = assertThrows(IllegalArgumentException.class, () -> LossType.parse("aot"));
    assertTrue(aot.getMessage().contains("does not implement"), aot.getMessage());
    assertThrows(IllegalArgumentException.class, () -> LossType.parse(null));
  }

  @Test
  void defaultsWeightsToOneAndCopies() {
    DpoConfig cfg = new DpoConfig(0.1, 0, List.of(LossType.SIGMOID, LossType.SFT), null, false);
    assertArrayEquals(new double[] {1, 1}, cfg.weights());
    assertFalse(cfg.ipoLengthNormalized());
    double[] w = {1, 0.1};
    DpoConfig weighted = new DpoConfig(0.1, 0, List.of(LossType.SIGMOID, LossType.SFT), w, false);
    w[1] = 5;
    assertArrayEquals(new double[] {1, 0.1}, weighted.weights());
  }

  @Test
  void validatesWithClearMessages() {
    List<LossType> one = List.of(LossType.SIGMOID);
    assertMessage("loss_weights has 2 entries but loss_type has 1",
        () -> new DpoConfig(0.1, 0, one, new double[] {1, 2}, false));
    assertMessage("beta must be a finite number > 0", () -> new DpoConfig(0, 0, one, null, false));
    assertMessage("beta must be a finite number > 0", () -> new DpoConfig(Double.NaN, 0, one, null, false));
    assertMessage("label_smoothing must be in [0, 0.5]", () -> new DpoConfig(0.1, 0.6, one, null, false));
    assertMessage("label_smoothing must be in [0, 0.5]", () -> new DpoConfig(0.1, -0.1, one, null, false));
    assertMessage("must be < 0.5", () -> new DpoConfig(0.1, 0.5, List.of(LossType.ROBUST), null, false));
    assertMessage("at least one loss type", () -> new DpoConfig(0.1, 0, List.of(), null, false));
    assertMessage("(sigmoid) must be a finite number >= 0",
        () -> new DpoConfig(0.1, 0, one, new double[] {-1}, false));
  }

  private static void assertMessage(String expected, org.junit.jupiter.api.function.Executable body) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, body);
    assertTrue(e.getMessage().contains(expected), "message: " + e.getMessage());
  }
}
