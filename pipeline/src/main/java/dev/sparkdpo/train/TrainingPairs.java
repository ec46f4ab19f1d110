package dev.sparkdpo.train;

import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.reference.ReferenceStage;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Rows of a reference (or, for SFT, ingest) output as training pairs, and as the DL4J DataSets
 * {@link dev.sparkdpo.dpo.GptDpoOutputLayer} trains on: one pair per DataSet (DL4J Spark's workers re-batch them to
 * batchSizePerWorker), sequences padded to a fixed width. Each pair is checked on the way (an error names its id
 * and the fix): prompt and responses not empty, sequences within the width (the model's context), reference
 * log-probs finite.
 */
public final class TrainingPairs {
  private TrainingPairs() {}

  /** The pairs of {@code frame}; {@code withReference}: it must have the reference stage's log-prob columns. */
  public static JavaRDD<TrainPair> pairs(Dataset<Row> frame, boolean withReference) {
    List<String> columns = List.of(frame.columns());
    List<String> required = withReference
        ? List.of(PairSchema.ID, PairSchema.PROMPT_IDS, PairSchema.CHOSEN_IDS, PairSchema.REJECTED_IDS,
            ReferenceStage.REF_CHOSEN, ReferenceStage.REF_REJECTED)
        : List.of(PairSchema.ID, PairSchema.PROMPT_IDS, PairSchema.CHOSEN_IDS, PairSchema.REJECTED_IDS);
    for (String c : required) {
      if (!columns.contains(c)) {
        throw new IllegalArgumentException("training data has no " + c + " column: give --data "
            + (withReference ? "a reference output (bin/spark-dpo reference)" : "a tokenized ingest output"));
      }
    }
    return frame.javaRDD().map(row -> TrainPair.fromRow(row, withReference));
  }

  /** One DataSet per reference-output row, sequences padded to {@code width}. */
  public static JavaRDD<DataSet> of(Dataset<Row> referencePairs, int width) {
    return pairs(referencePairs, true).map(p -> p.toDataSet(width));
  }
}
