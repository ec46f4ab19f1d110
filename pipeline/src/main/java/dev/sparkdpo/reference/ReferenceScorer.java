package dev.sparkdpo.reference;

import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.model.LanguageModel;
import dev.sparkdpo.model.NativeThreads;
import dev.sparkdpo.executor.ExecutorModels;
import dev.sparkdpo.io.HadoopConf;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.util.LongAccumulator;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The executor side of the reference stage: scores a partition's pairs with the frozen model, a buffer of pairs at
 * a time (sorted by length and packed into batches under a token budget, chosen and rejected of a pair in the
 * same batch), and returns each input row with the two log-probs appended.
 */
public final class ReferenceScorer implements Serializable {
  /** Pairs buffered, sorted and packed together; bounds the partition's memory. */
  static final int BUFFER_PAIRS = 4096;
  /**
   * Budget of one batch's attention probabilities [rows, heads, T, T] (float32, off-heap): long sequences get fewer
   * rows than the token budget alone allows (GPT-2 at T = 1024 and 16,384 tokens would need 0.8 GB).
   */
  public static final long DEFAULT_ATTENTION_BYTES = 256L << 20;

  private final String modelDir;
  private final String modelFingerprint;
  private final HadoopConf hadoopConf;
  private final long batchTokens;
  private final long attentionBytes;
  private final Progress progress;

  /** Counters the driver reads for progress and reference.json. */
  public record Progress(LongAccumulator pairs, LongAccumulator realTokens, LongAccumulator paddedTokens,
      LongAccumulator batches, LongAccumulator modelLoads) implements Serializable {}

  public ReferenceScorer(String modelDir, String modelFingerprint, HadoopConf hadoopConf, long batchTokens,
      long attentionBytes, Progress progress) {
    if (batchTokens < 1) throw new IllegalArgumentException("--batch-tokens must be >= 1, got " + batchTokens);
    this.modelDir = modelDir;
    this.modelFingerprint = modelFingerprint;
    this.hadoopConf = hadoopConf;
    this.batchTokens = batchTokens;
    this.attentionBytes = attentionBytes;
    this.progress = progress;
  }

  /** The rows of one partition with ref_chosen_logp and ref_rejected_logp appended (in length order per buffer). */
  public Iterator<Row> score(Iterator<Row> rows) {
    TaskContext task = TaskContext.get();
    if (task != null) {
      NativeThreads.set(Math.max(1, task.cpus()), 1); // this task's cores, not the machine's
      // this thread's ND4J workspaces grew to its largest batch: give the memory back when the task ends
      task.addTaskCompletionListener(
          (org.apache.spark.util.TaskCompletionListener) c -> Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread());
    }
    LanguageModel gpt = ExecutorModels.get(modelDir, modelFingerprint, hadoopConf.get(), progress.modelLoads());
    return new Iterator<>() {
      private Iterator<Row> scored = List.<Row>of().iterator();

      @Override
      public boolean hasNext() {
        while (!scored.hasNext() && rows.hasNext()) {
          List<Row> buffer = new ArrayList<>(BUFFER_PAIRS);
          while (buffer.size() < BUFFER_PAIRS && rows.hasNext()) buffer.add(rows.next());
          scored = scoreBuffer(gpt, buffer).iterator();
        }
        return scored.hasNext();
      }

      @Override
      public Row next() {
        if (!hasNext()) throw new NoSuchElementException();
        return scored.next();
      }
    };
  }

  List<Row> scoreBuffer(LanguageModel gpt, List<Row> buffer) {
    int n = buffer.size();
    int[][] prompt = new int[n][], chosen = new int[n][], rejected = new int[n][];
    String[] ids = new String[n];
    for (int i = 0; i < n; i++) {
      Row r = buffer.get(i);
      ids[i] = r.getAs(PairSchema.ID);
      prompt[i] = PairSchema.ids(r, PairSchema.PROMPT_IDS);
      chosen[i] = PairSchema.ids(r, PairSchema.CHOSEN_IDS);
      rejected[i] = PairSchema.ids(r, PairSchema.REJECTED_IDS);
    }
    List<Row> out = new ArrayList<>(n);
    pairLogps(gpt, ids, prompt, chosen, rejected, batchTokens, attentionBytes, (batch, logps) -> {
      int m = batch.pairs().length;
      for (int j = 0; j < m; j++) {
        Row r = buffer.get(batch.pairs()[j]);
        double c = logps[j], rj = logps[m + j];
        if (!Double.isFinite(c) || !Double.isFinite(rj)) {
          throw new IllegalArgumentException("pair " + r.getAs(PairSchema.ID) + ": reference log-prob is not finite"
              + " (chosen " + c + ", rejected " + rj + "); the model at " + modelDir + " gives NaN/inf on this input"
              + " (check its weights, e.g. an fp16 overflow when it was saved)");
        }
        out.add(withLogps(r, c, rj));
      }
      progress.pairs().add(m);
      progress.realTokens().add(batch.realTokens());
      progress.paddedTokens().add(batch.paddedTokens());
      progress.batches().add(1);
    });
    return out;
  }

  private static void checkVocabulary(String id, String column, int[] tokens, int vocabSize) {
    String problem = dev.sparkdpo.data.TokenIds.problem(id, column, tokens, vocabSize);
    if (problem != null) throw new IllegalArgumentException(problem);
  }

  /** Receives each packed batch with its log-probs: chosen of the batch's pairs, then rejected. */
  public interface BatchScores {
    void accept(LengthBatches.Batch batch, double[] logps);
  }

  /**
   * Summed response log-probs of the pairs (prompt i + chosen i, prompt i + rejected i) under {@code gpt}: pairs sorted
   * by length and packed into batches of at most {@code batchTokens} padded tokens and {@code attentionBytes} of
   * attention, chosen and rejected of a pair in one batch. Checks each pair first (an error names its id).
   */
  public static void pairLogps(LanguageModel gpt, String[] ids, int[][] prompt, int[][] chosen, int[][] rejected,
      long batchTokens, long attentionBytes, BatchScores scores) {
    int n = prompt.length;
    int[] chosenLengths = new int[n], rejectedLengths = new int[n];
    for (int i = 0; i < n; i++) {
      if (prompt[i].length < 1) {
        throw new IllegalArgumentException("pair " + ids[i] + ": empty prompt, so the first response token has no"
            + " context to be scored in; re-ingest with a non-empty prompt (or a BOS token)");
      }
      chosenLengths[i] = prompt[i].length + chosen[i].length;
      rejectedLengths[i] = prompt[i].length + rejected[i].length;
      int longest = Math.max(chosenLengths[i], rejectedLengths[i]);
      if (longest > gpt.config().contextLength()) {
        throw new IllegalArgumentException("pair " + ids[i] + ": " + longest + " tokens > the model's context of "
            + gpt.config().contextLength() + "; re-ingest with --max-length " + gpt.config().contextLength());
      }
      // the driver checks this before the job (TokenIds); here it guards every other caller
      checkVocabulary(ids[i], PairSchema.PROMPT_IDS, prompt[i], gpt.config().vocabSize());
      checkVocabulary(ids[i], PairSchema.CHOSEN_IDS, chosen[i], gpt.config().vocabSize());
      checkVocabulary(ids[i], PairSchema.REJECTED_IDS, rejected[i], gpt.config().vocabSize());
    }
    int heads = gpt.config().attentionHeads();
    java.util.function.IntUnaryOperator maxPairs = longest ->
        (int) Math.max(1, Math.min(Integer.MAX_VALUE, attentionBytes / (2L * heads * longest * longest * 4)));
    for (LengthBatches.Batch batch : LengthBatches.pack(chosenLengths, rejectedLengths, batchTokens, maxPairs)) {
      int m = batch.pairs().length;
      int[][] tokens = new int[2 * m][];
      int[] promptLengths = new int[2 * m];
      for (int j = 0; j < m; j++) {
        int i = batch.pairs()[j];
        tokens[j] = DpoBatch.sequence(prompt[i], chosen[i]);
        tokens[m + j] = DpoBatch.sequence(prompt[i], rejected[i]);
        promptLengths[j] = promptLengths[m + j] = prompt[i].length;
      }
      scores.accept(batch, gpt.responseLogProbs(tokens, promptLengths));
    }
  }

  private static Row withLogps(Row r, double chosen, double rejected) {
    Object[] values = new Object[r.length() + 2];
    for (int k = 0; k < r.length(); k++) values[k] = r.get(k);
    values[r.length()] = chosen;
    values[r.length() + 1] = rejected;
    return RowFactory.create(values);
  }
}
