package dev.sparkdpo.train;

import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.data.tokenize.TokenizedPair;
import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.reference.ReferenceStage;
import java.io.Serializable;
import java.util.List;
import org.apache.spark.sql.Row;
import org.nd4j.linalg.dataset.DataSet;

/**
 * One training example as it travels through the data-order shuffle: the pair's id, its token ids and (DPO) its
 * reference log-probs. A plain class with a no-arg constructor, so both Kryo and Java serialization handle it.
 */
public final class TrainPair implements Serializable {
  private static final long serialVersionUID = 1L;

  public String id;
  public int[] prompt;
  public int[] chosen;
  public int[] rejected;
  public double refChosen;
  public double refRejected;

  public TrainPair() {}

  public TrainPair(String id, int[] prompt, int[] chosen, int[] rejected, double refChosen, double refRejected) {
    this.id = id;
    this.prompt = prompt;
    this.chosen = chosen;
    this.rejected = rejected;
    this.refChosen = refChosen;
    this.refRejected = refRejected;
  }

  /** A pairs/ row of an ingest or reference output; without reference columns the log-probs are 0. */
  public static TrainPair fromRow(Row row, boolean withReference) {
    return new TrainPair(row.getAs(PairSchema.ID), PairSchema.ids(row, PairSchema.PROMPT_IDS),
        PairSchema.ids(row, PairSchema.CHOSEN_IDS), PairSchema.ids(row, PairSchema.REJECTED_IDS),
        withReference ? row.<Double>getAs(ReferenceStage.REF_CHOSEN) : 0,
        withReference ? row.<Double>getAs(ReferenceStage.REF_REJECTED) : 0);
  }

  /** Tokens of the longer of the two sequences (prompt + response). */
  public int longestSequence() {
    return prompt.length + Math.max(chosen.length, rejected.length);
  }

  /** Tokens the model runs on for this pair (both sequences). */
  public int tokens() {
    return 2 * prompt.length + chosen.length + rejected.length;
  }

  /** What makes this pair untrainable with a model of context {@code context}, as an error naming it and the fix; else null. */
  public String problem(int context) {
    return problem(context, Integer.MAX_VALUE);
  }

  /** {@link #problem(int)}, and token ids outside a vocabulary of {@code vocabSize}. */
  public String problem(int context, int vocabSize) {
    String[] columns = {PairSchema.PROMPT_IDS, PairSchema.CHOSEN_IDS, PairSchema.REJECTED_IDS};
    int[][] tokens = {prompt, chosen, rejected};
    for (int c = 0; c < columns.length; c++) {
      String problem = dev.sparkdpo.data.TokenIds.problem(id, columns[c], tokens[c], vocabSize);
      if (problem != null) return problem;
    }
    if (prompt.length == 0) {
      return "pair " + id + ": empty prompt, so the first response token has no context; re-ingest with a non-empty"
          + " prompt (or a BOS token)";
    }
    if (chosen.length == 0 || rejected.length == 0) {
      return "pair " + id + ": empty " + (chosen.length == 0 ? "chosen" : "rejected")
          + " response; re-ingest (ingest quarantines empty responses) and recompute the reference";
    }
    if (longestSequence() > context) {
      return "pair " + id + ": " + longestSequence() + " tokens > the model's context of " + context
          + "; re-ingest with --max-length " + context;
    }
    if (!Double.isFinite(refChosen) || !Double.isFinite(refRejected)) {
      return "pair " + id + ": reference log-probs are not finite (" + refChosen + ", " + refRejected
          + "); recompute them with bin/spark-dpo reference";
    }
    return null;
  }

  /** This pair as a one-row DpoBatch DataSet of sequence width {@code width} (checked first). */
  public DataSet toDataSet(int width) {
    String problem = problem(width);
    if (problem != null) throw new IllegalArgumentException(problem);
    TokenizedPair pair = new TokenizedPair(prompt, chosen, rejected, false, false);
    return DpoBatch.of(List.of(pair), new double[] {refChosen}, new double[] {refRejected}, width).toDataSet();
  }
}
