package dev.sparkdpo.train;

import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.data.tokenize.TokenizedPair;
import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.reference.ReferenceStage;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Rows of a reference output as the DL4J DataSets {@link dev.sparkdpo.dpo.GptDpoOutputLayer} trains on: one pair
 * per DataSet (DL4J Spark's workers re-batch them to batchSizePerWorker), sequences padded to a fixed width. Checks
 * each pair on the way (an error names its id and the fix): responses not empty, sequences within the width (the
 * model's context), reference log-probs finite.
 */
public final class TrainingPairs {
  private TrainingPairs() {}

  public static JavaRDD<DataSet> of(Dataset<Row> referencePairs, int width) {
    List<String> columns = List.of(referencePairs.columns());
    for (String c : List.of(PairSchema.ID, PairSchema.PROMPT_IDS, PairSchema.CHOSEN_IDS, PairSchema.REJECTED_IDS,
        ReferenceStage.REF_CHOSEN, ReferenceStage.REF_REJECTED)) {
      if (!columns.contains(c)) {
        throw new IllegalArgumentException("training data has no " + c + " column: give --data a reference output"
            + " (bin/spark-dpo reference)");
      }
    }
    return referencePairs.javaRDD().map(row -> toDataSet(row, width));
  }

  static DataSet toDataSet(Row row, int width) {
    String id = row.getAs(PairSchema.ID);
    TokenizedPair pair = new TokenizedPair(PairSchema.ids(row, PairSchema.PROMPT_IDS),
        PairSchema.ids(row, PairSchema.CHOSEN_IDS), PairSchema.ids(row, PairSchema.REJECTED_IDS), false, false);
    if (pair.chosenIds().length == 0 || pair.rejectedIds().length == 0) {
      throw new IllegalArgumentException("pair " + id + ": empty " + (pair.chosenIds().length == 0 ? "chosen" : "rejected")
          + " response; re-ingest (ingest quarantines empty responses) and recompute the reference");
    }
    int longest = pair.promptIds().length + Math.max(pair.chosenIds().length, pair.rejectedIds().length);
    if (longest > width) {
      throw new IllegalArgumentException("pair " + id + ": " + longest + " tokens > the model's context of " + width
          + "; re-ingest with --max-length " + width);
    }
    double refChosen = row.getAs(ReferenceStage.REF_CHOSEN), refRejected = row.getAs(ReferenceStage.REF_REJECTED);
    if (!Double.isFinite(refChosen) || !Double.isFinite(refRejected)) {
      throw new IllegalArgumentException("pair " + id + ": reference log-probs are not finite (" + refChosen + ", "
          + refRejected + "); recompute them with bin/spark-dpo reference");
    }
    return DpoBatch.of(List.of(pair), new double[] {refChosen}, new double[] {refRejected}, width).toDataSet();
  }

}
