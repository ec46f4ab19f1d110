package dev.sparkdpo.data;

import static org.apache.spark.sql.functions.array_max;
import static org.apache.spark.sql.functions.array_min;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;

import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;

/**
 * The driver's check that a pairs/ table's token ids fit a model's vocabulary, before any job uses the model: data
 * tokenized with another tokenizer (e.g. GPT-2's 50,257 ids for a model of 1,000) would otherwise fail deep in an
 * executor with an index error that names neither the pair nor the fix. One aggregation over the three token columns
 * (Parquet reads only those columns); a second, small query finds an offending pair only when there is one.
 */
public final class TokenIds {
  private static final List<String> COLUMNS = List.of(PairSchema.PROMPT_IDS, PairSchema.CHOSEN_IDS,
      PairSchema.REJECTED_IDS);

  private TokenIds() {}

  /**
   * The problem of one pair's token column under a vocabulary of {@code vocabSize} ids (an id outside it), as an error
   * naming the pair, the column and the fix; null when every id fits. The per-pair twin of {@link #checkVocabulary},
   * for the executors' batches (reference scoring, training pairs).
   */
  public static String problem(String pairId, String column, int[] tokens, int vocabSize) {
    for (int t : tokens) {
      if (t < 0 || t >= vocabSize) {
        return "pair " + pairId + ": " + column + " holds token id " + t + ", but the model has a vocabulary of "
            + vocabSize + " ids: the data was tokenized with another tokenizer; tokenize with the model's tokenizer"
            + " (re-run ingest with --tokenizer <the model's tokenizer.json>)";
      }
    }
    return null;
  }

  /**
   * Throws an IllegalArgumentException naming a pair whose token ids fall outside {@code [0, vocabSize)}, its column,
   * the largest id of the data, the model's vocabulary size and the fix. {@code data} and {@code model} say which
   * input is which (e.g. "--data /x" and "--model /y").
   */
  public static void checkVocabulary(Dataset<Row> pairs, int vocabSize, String data, String model) {
    Column[] aggregates = new Column[2 * COLUMNS.size()];
    for (int i = 0; i < COLUMNS.size(); i++) {
      aggregates[2 * i] = max(array_max(col(COLUMNS.get(i))));
      aggregates[2 * i + 1] = min(array_min(col(COLUMNS.get(i))));
    }
    Row range = pairs.agg(aggregates[0], java.util.Arrays.copyOfRange(aggregates, 1, aggregates.length)).first();
    long largest = -1;
    for (int i = 0; i < COLUMNS.size(); i++) {
      if (!range.isNullAt(2 * i)) largest = Math.max(largest, ((Number) range.get(2 * i)).longValue());
    }
    for (int i = 0; i < COLUMNS.size(); i++) {
      String column = COLUMNS.get(i);
      boolean tooLarge = !range.isNullAt(2 * i) && ((Number) range.get(2 * i)).longValue() >= vocabSize;
      boolean negative = !range.isNullAt(2 * i + 1) && ((Number) range.get(2 * i + 1)).longValue() < 0;
      if (!tooLarge && !negative) continue;
      Column bad = array_max(col(column)).geq(vocabSize).or(array_min(col(column)).lt(0));
      Dataset<Row> offending = pairs.filter(bad);
      Row first = offending.select(col(PairSchema.ID), array_max(col(column)), array_min(col(column))).first();
      long affected = offending.count();
      long id = tooLarge ? ((Number) first.get(1)).longValue() : ((Number) first.get(2)).longValue();
      throw new IllegalArgumentException("pair " + first.get(0) + ": " + column + " holds token id " + id + ", but "
          + model + " has a vocabulary of " + vocabSize + " ids (vocab_size in its config.json; " + affected
          + " pair(s) of " + data + " are out of range, the largest id is " + largest + "): the data was tokenized"
          + " with another tokenizer; tokenize with the model's tokenizer (re-run ingest with --tokenizer"
          + " <the model's tokenizer.json>)");
    }
  }
}
