package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.data.tokenize.TokenizedPair;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

class DpoBatchTest {
  static final int W = 6;

  /** Reference log-probs exact in float32. */
  static DpoBatch twoPairs() {
    return new DpoBatch(W, new int[] {2, 1}, new int[][] {{5, 6, 7, 8}, {9, 3}},
        new int[][] {{5, 6, 1}, {9, 4, 4, 4, 4, 4}}, new double[] {-3.5, -10.25}, new double[] {-2.0, -7.125});
  }

  @Test
  void encodesOneRowPerPairRightPadded() {
    DataSet ds = twoPairs().toDataSet();
    assertEquals(DataType.FLOAT, ds.getFeatures().dataType());
    assertArrayEquals(new long[] {2, 3 + 2 * W}, ds.getFeatures().shape());
    assertArrayEquals(new double[] {2, 4, 3, 5, 6, 7, 8, 0, 0, 5, 6, 1, 0, 0, 0},
        ds.getFeatures().getRow(0).toDoubleVector());
    assertArrayEquals(new double[] {1, 2, 6, 9, 3, 0, 0, 0, 0, 9, 4, 4, 4, 4, 4},
        ds.getFeatures().getRow(1).toDoubleVector());
    assertArrayEquals(new double[][] {{-3.5, -2.0}, {-10.25, -7.125}}, ds.getLabels().toDoubleMatrix());
  }

  @Test
  void decodesWhatItEncodes() {
    DpoBatch b = twoPairs();
    assertEquals(b, DpoBatch.fromDataSet(b.toDataSet(), W));
    DpoBatch odd = new DpoBatch(W, new int[] {1}, new int[][] {{DpoBatch.MAX_TOKEN_ID, 0}},
        new int[][] {{DpoBatch.MAX_TOKEN_ID}}, new double[] {-1.0 / 3}, new double[] {Math.PI});
    assertEquals(odd.chosen()[0][0], DpoBatch.fromDataSet(odd.toDataSet(), W).chosen()[0][0], "2^24 - 1 in float32");
    assertEquals(odd, DpoBatch.fromDataSet(odd.toDataSet(DataType.DOUBLE), W), "float64: exact references too");
    assertEquals(0.0, DpoBatch.decode(b.toDataSet().getFeatures(), null, W).refChosen()[1], "no labels: refs 0");
  }

  @Test
  void mergedAndSplitDataSetsStayBatches() {
    DpoBatch a = twoPairs();
    DpoBatch b = new DpoBatch(W, new int[] {3}, new int[][] {{1, 2, 3, 4}}, new int[][] {{1, 2, 3}},
        new double[] {-1}, new double[] {-2});
    DpoBatch merged = DpoBatch.fromDataSet(DataSet.merge(List.of(a.toDataSet(), b.toDataSet())), W);
    assertEquals(3, merged.size());
    assertArrayEquals(new int[] {2, 1, 3}, merged.promptLengths());
    assertArrayEquals(b.chosen()[0], merged.chosen()[2]);
    List<DataSet> single = a.toDataSet().asList();
    assertEquals(2, single.size());
    assertArrayEquals(a.rejected()[1], DpoBatch.fromDataSet(single.get(1), W).rejected()[0]);
  }

  @Test
  void sequencesAreChosenThenRejected() {
    DpoBatch b = twoPairs();
    assertArrayEquals(new int[][] {{5, 6, 7, 8}, {9, 3}, {5, 6, 1}, {9, 4, 4, 4, 4, 4}}, b.sequences());
    assertArrayEquals(new int[] {2, 1, 2, 1}, b.sequencePromptLengths());
    PairLogps p = b.pairLogps(new double[] {-1, -2, -3, -4});
    assertArrayEquals(new double[] {-1, -2}, p.policyChosen());
    assertArrayEquals(new double[] {-3, -4}, p.policyRejected());
    assertArrayEquals(new int[] {2, 1}, p.chosenTokens());
    assertArrayEquals(new int[] {1, 5}, p.rejectedTokens());
    assertArrayEquals(new double[] {-3.5, -10.25}, p.refChosen());
  }

  @Test
  void fromTokenizedPairsPrependsThePrompt() {
    DpoBatch b = DpoBatch.of(List.of(new TokenizedPair(new int[] {5, 6}, new int[] {7, 8}, new int[] {1}, false,
        false)), new double[] {-1}, new double[] {-2}, W);
    assertArrayEquals(new int[] {5, 6, 7, 8}, b.chosen()[0]);
    assertArrayEquals(new int[] {5, 6, 1}, b.rejected()[0]);
    assertEquals(2, b.promptLengths()[0]);
  }

  @Test
  void rejectsPairsItCannotEncode() {
    assertMessage("chosen length 7 > width 6", () -> new DpoBatch(W, new int[] {1}, new int[][] {{1, 2, 3, 4, 5, 6, 7}},
        new int[][] {{1, 2}}, new double[1], new double[1]));
    assertMessage("prompt length 3 not in [1, 2]", () -> new DpoBatch(W, new int[] {3}, new int[][] {{1, 2, 3}},
        new int[][] {{1, 2}}, new double[1], new double[1]));
    assertMessage("prompt length 0 not in [1, 3]", () -> new DpoBatch(W, new int[] {0}, new int[][] {{1, 2, 3}},
        new int[][] {{1, 2}}, new double[1], new double[1]));
    assertMessage("token id 16777216", () -> new DpoBatch(W, new int[] {1}, new int[][] {{1, 1 << 24}},
        new int[][] {{1, 2}}, new double[1], new double[1]));
    assertMessage("differ within the first 2 (prompt) tokens", () -> new DpoBatch(W, new int[] {2},
        new int[][] {{1, 2, 3}}, new int[][] {{1, 3, 3}}, new double[1], new double[1]));
    assertMessage("reference log-probs must be finite", () -> new DpoBatch(W, new int[] {1}, new int[][] {{1, 2}},
        new int[][] {{1, 3}}, new double[] {Double.NaN}, new double[1]));
  }

  @Test
  void rejectsMalformedRowsNamingThePair() {
    INDArray good = twoPairs().toDataSet().getFeatures();
    assertMessage("pair 1: chosen token 1 (column 4) is 3.5", () -> DpoBatch.decode(with(good, 1, 4, 3.5), null, W));
    assertMessage("pair 0: rejected token 0 (column 9) is -1.0", () -> DpoBatch.decode(with(good, 0, 9, -1), null, W));
    assertMessage("pair 0: chosen length 7 not in [1, width 6]", () -> DpoBatch.decode(with(good, 0, 1, 7), null, W));
    assertMessage("pair 1: rejected length 0 not in [1, width 6]", () -> DpoBatch.decode(with(good, 1, 2, 0), null, W));
    assertMessage("pair 0: prompt length 0 not in [1, 4]", () -> DpoBatch.decode(with(good, 0, 0, 0), null, W));
    assertMessage("pair 1: prompt length (column 0) is 2.5", () -> DpoBatch.decode(with(good, 1, 0, 2.5), null, W));
    assertMessage("pair 0: prompt length (column 0) is NaN", () -> DpoBatch.decode(with(good, 0, 0, Double.NaN), null,
        W));
    assertMessage("[n, 17] for width 7", () -> DpoBatch.decode(good, null, 7));
    assertMessage("labels must be [pairs, 2]", () -> DpoBatch.decode(good, Nd4j.zeros(2, 3), W));
  }

  private static INDArray with(INDArray features, int row, int column, double value) {
    INDArray f = features.dup();
    f.putScalar(row, column, value);
    return f;
  }

  private static void assertMessage(String part, org.junit.jupiter.api.function.Executable e) {
    IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
    assertTrue(ex.getMessage().contains(part), "message '" + ex.getMessage() + "' should contain '" + part + "'");
  }
}
