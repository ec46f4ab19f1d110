package dev.sparkdpo.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.reference.ReferenceStage;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;

/** Reference-output rows to the DataSets the DL4J layer trains on, and the per-pair input checks. */
class TrainingPairsTest {
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("training-pairs-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  static Row row(String id, int[] prompt, int[] chosen, int[] rejected, double refChosen, double refRejected) {
    return RowFactory.create(id, "p", "c", "r", "flat", "test", 1L, boxed(prompt), boxed(chosen), boxed(rejected),
        prompt.length, chosen.length, rejected.length, false, false, PairSchema.TRAIN, refChosen, refRejected);
  }

  static Dataset<Row> frame(Row... rows) {
    return spark.createDataFrame(Arrays.asList(rows), ReferenceStage.outputSchema(PairSchema.TOKENIZED_PAIRS, "fp"));
  }

  @Test
  void eachPairBecomesOneFixedWidthDataSetThatDecodesBack() {
    List<DataSet> sets = TrainingPairs.of(frame(
        row("a", new int[] {5, 6}, new int[] {7}, new int[] {8, 9, 10}, -1.5, -2.5),
        row("b", new int[] {1}, new int[] {2, 3}, new int[] {4}, -3.0, -4.0)), 6).collect();
    assertEquals(2, sets.size());
    List<DpoBatch> batches = new ArrayList<>();
    for (DataSet d : sets) {
      assertArrayEquals(new long[] {1, DpoBatch.featureColumns(6)}, d.getFeatures().shape());
      batches.add(DpoBatch.fromDataSet(d, 6));
    }
    DpoBatch a = batches.stream().filter(b -> b.promptLengths()[0] == 2).findFirst().orElseThrow();
    assertArrayEquals(new int[] {5, 6, 7}, a.chosen()[0]);
    assertArrayEquals(new int[] {5, 6, 8, 9, 10}, a.rejected()[0]);
    assertEquals(-1.5, a.refChosen()[0], 1e-6);
    assertEquals(-2.5, a.refRejected()[0], 1e-6);
  }

  @Test
  void badPairsFailNamingTheirIdAndTheFix() {
    assertFails("pair long: 7 tokens > the model's context of 6; re-ingest with --max-length 6",
        row("long", new int[] {1, 2, 3}, new int[] {4, 5, 6, 7}, new int[] {8}, -1, -1));
    assertFails("pair empty: empty chosen response",
        row("empty", new int[] {1}, new int[] {}, new int[] {2}, -1, -1));
    assertFails("pair nan: reference log-probs are not finite",
        row("nan", new int[] {1}, new int[] {2}, new int[] {3}, Double.NaN, -1));
  }

  @Test
  void dataWithoutReferenceLogProbsIsRejected() {
    Dataset<Row> ingestOnly = frame(row("a", new int[] {1}, new int[] {2}, new int[] {3}, -1, -1))
        .drop(ReferenceStage.REF_CHOSEN, ReferenceStage.REF_REJECTED);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainingPairs.of(ingestOnly, 8));
    assertTrue(e.getMessage().contains("no ref_chosen_logp column"), e.getMessage());
  }

  private static void assertFails(String expected, Row bad) {
    SparkException e = assertThrows(SparkException.class, () -> TrainingPairs.of(frame(bad), 6).collect());
    Throwable cause = e;
    while (cause.getCause() != null && !(cause instanceof IllegalArgumentException)) cause = cause.getCause();
    assertTrue(cause.getMessage().contains(expected), cause.getMessage());
  }

  private static List<Integer> boxed(int[] a) {
    return Arrays.stream(a).boxed().toList();
  }
}
