package dev.sparkdpo.dpo;

import dev.sparkdpo.data.tokenize.TokenizedPair;
import java.util.Arrays;
import java.util.List;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A minibatch of preference pairs as a DL4J {@link DataSet}, the input of {@link GptDpoOutputLayer}.
 *
 * <p>Features {@code [n, 3 + 2W]}, one row per pair: prompt length, chosen length, rejected length, then the chosen
 * sequence (prompt + chosen response token ids) right-padded with 0 to width W, then the rejected sequence likewise.
 * Labels {@code [n, 2]}: the reference model's summed response log-probs (chosen, rejected), read as 0 when the loss
 * is reference-free. W is fixed per run (e.g. the maximum sequence length), so DL4J can merge and split DataSets
 * row-wise (Spark's training workers re-batch them to {@code batchSizePerWorker}).
 *
 * <p>Token ids travel as floating point numbers: float32 holds every integer below 2^24 = 16,777,216 exactly, which
 * {@link #MAX_TOKEN_ID} enforces (GPT-2's vocabulary has 50,257 ids).
 *
 * <p>{@code chosen[i]} and {@code rejected[i]} are full sequences: they start with the same {@code promptLengths[i]}
 * prompt tokens.
 */
public record DpoBatch(int width, int[] promptLengths, int[][] chosen, int[][] rejected, double[] refChosen,
    double[] refRejected) {

  /** Columns before the token ids: prompt length, chosen length, rejected length. */
  public static final int HEADER_COLUMNS = 3;
  /** Largest id (and length) float32 features represent exactly: 2^24 - 1. */
  public static final int MAX_TOKEN_ID = (1 << 24) - 1;

  public DpoBatch {
    if (width < 1) throw new IllegalArgumentException("width must be >= 1, got " + width);
    int n = promptLengths.length;
    if (n == 0) throw new IllegalArgumentException("a batch needs at least one pair");
    if (chosen.length != n || rejected.length != n || refChosen.length != n || refRejected.length != n) {
      throw new IllegalArgumentException("promptLengths, chosen, rejected, refChosen, refRejected must have one entry"
          + " per pair; got " + n + ", " + chosen.length + ", " + rejected.length + ", " + refChosen.length + ", "
          + refRejected.length);
    }
    for (int i = 0; i < n; i++) {
      checkSequence(i, "chosen", chosen[i], promptLengths[i], width);
      checkSequence(i, "rejected", rejected[i], promptLengths[i], width);
      if (!Arrays.equals(chosen[i], 0, promptLengths[i], rejected[i], 0, promptLengths[i])) {
        throw new IllegalArgumentException("pair " + i + ": chosen and rejected differ within the first "
            + promptLengths[i] + " (prompt) tokens");
      }
      if (!Double.isFinite(refChosen[i]) || !Double.isFinite(refRejected[i])) {
        throw new IllegalArgumentException("pair " + i + ": reference log-probs must be finite, got " + refChosen[i]
            + ", " + refRejected[i]);
      }
    }
  }

  private static void checkSequence(int pair, String which, int[] ids, int promptLength, int width) {
    if (ids.length > width) {
      throw new IllegalArgumentException("pair " + pair + ": " + which + " length " + ids.length + " > width " + width);
    }
    if (promptLength < 1 || promptLength > ids.length) {
      throw new IllegalArgumentException("pair " + pair + ": prompt length " + promptLength + " not in [1, "
          + ids.length + "] (" + which + " length)");
    }
    for (int t = 0; t < ids.length; t++) {
      if (ids[t] < 0 || ids[t] > MAX_TOKEN_ID) {
        throw new IllegalArgumentException("pair " + pair + ": " + which + " token id " + ids[t] + " at position " + t
            + " not in [0, " + MAX_TOKEN_ID + "] (float32 features hold integers exactly only below 2^24)");
      }
    }
  }

  /** Pairs from tokenized prompts and responses (sequence = prompt + response), with their reference log-probs. */
  public static DpoBatch of(List<TokenizedPair> pairs, double[] refChosen, double[] refRejected, int width) {
    int n = pairs.size();
    int[] prompts = new int[n];
    int[][] chosen = new int[n][], rejected = new int[n][];
    for (int i = 0; i < n; i++) {
      TokenizedPair p = pairs.get(i);
      prompts[i] = p.promptIds().length;
      chosen[i] = concat(p.promptIds(), p.chosenIds());
      rejected[i] = concat(p.promptIds(), p.rejectedIds());
    }
    return new DpoBatch(width, prompts, chosen, rejected, refChosen, refRejected);
  }

  /** A model input row: prompt ids followed by response ids. */
  public static int[] sequence(int[] prompt, int[] response) {
    return concat(prompt, response);
  }

  private static int[] concat(int[] a, int[] b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** Feature columns for sequences of width W: 3 + 2W. */
  public static int featureColumns(int width) {
    return HEADER_COLUMNS + 2 * width;
  }

  public int size() {
    return promptLengths.length;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // to and from DL4J arrays

  /** float32 features and labels. */
  public DataSet toDataSet() {
    return toDataSet(DataType.FLOAT);
  }

  public DataSet toDataSet(DataType dataType) {
    int n = size();
    double[][] features = new double[n][featureColumns(width)];
    double[][] labels = new double[n][2];
    for (int i = 0; i < n; i++) {
      double[] row = features[i];
      row[0] = promptLengths[i];
      row[1] = chosen[i].length;
      row[2] = rejected[i].length;
      for (int t = 0; t < chosen[i].length; t++) row[HEADER_COLUMNS + t] = chosen[i][t];
      for (int t = 0; t < rejected[i].length; t++) row[HEADER_COLUMNS + width + t] = rejected[i][t];
      labels[i][0] = refChosen[i];
      labels[i][1] = refRejected[i];
    }
    return new DataSet(Nd4j.createFromArray(features).castTo(dataType), Nd4j.createFromArray(labels).castTo(dataType));
  }

  public static DpoBatch fromDataSet(DataSet dataSet, int width) {
    return decode(dataSet.getFeatures(), dataSet.getLabels(), width);
  }

  /**
   * The batch encoded in {@code features} (any numeric type) and {@code labels} (null: reference log-probs 0), with
   * an error naming the pair and column for a malformed row.
   */
  public static DpoBatch decode(INDArray features, INDArray labels, int width) {
    if (features == null) throw new IllegalArgumentException("no features");
    int columns = featureColumns(width);
    if (features.rank() != 2 || features.size(1) != columns) {
      throw new IllegalArgumentException("DPO features must be [pairs, 3 + 2 * width] = [n, " + columns + "] for width "
          + width + ", got shape " + Arrays.toString(features.shape()));
    }
    int n = (int) features.size(0);
    if (n == 0) throw new IllegalArgumentException("features have no rows");
    if (labels != null && (labels.rank() != 2 || labels.size(0) != n || labels.size(1) != 2)) {
      throw new IllegalArgumentException("DPO labels must be [pairs, 2] = [" + n + ", 2] (reference log-probs of"
          + " chosen, rejected), got shape " + Arrays.toString(labels.shape()));
    }
    double[][] f = features.toDoubleMatrix();
    double[][] l = labels == null ? new double[n][2] : labels.toDoubleMatrix();
    int[] prompts = new int[n];
    int[][] chosen = new int[n][], rejected = new int[n][];
    double[] refChosen = new double[n], refRejected = new double[n];
    for (int i = 0; i < n; i++) {
      prompts[i] = integer(f[i], 0, i, "prompt length");
      chosen[i] = sequence(f[i], i, "chosen", integer(f[i], 1, i, "chosen length"), HEADER_COLUMNS, width);
      rejected[i] = sequence(f[i], i, "rejected", integer(f[i], 2, i, "rejected length"), HEADER_COLUMNS + width,
          width);
      refChosen[i] = l[i][0];
      refRejected[i] = l[i][1];
    }
    return new DpoBatch(width, prompts, chosen, rejected, refChosen, refRejected);
  }

  private static int[] sequence(double[] row, int pair, String which, int length, int from, int width) {
    if (length < 1 || length > width) {
      throw new IllegalArgumentException("pair " + pair + ": " + which + " length " + length + " not in [1, width "
          + width + "]");
    }
    int[] ids = new int[length];
    for (int t = 0; t < length; t++) ids[t] = integer(row, from + t, pair, which + " token " + t);
    return ids;
  }

  private static int integer(double[] row, int column, int pair, String what) {
    double v = row[column];
    if (!(v >= 0 && v <= MAX_TOKEN_ID) || v != Math.rint(v)) {
      throw new IllegalArgumentException("pair " + pair + ": " + what + " (column " + column + ") is " + v
          + ", not an integer in [0, " + MAX_TOKEN_ID + "]");
    }
    return (int) v;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // what the model and the loss read

  /** The 2n sequences the model scores: chosen of pairs 0..n-1, then rejected of pairs 0..n-1. */
  public int[][] sequences() {
    int n = size();
    int[][] out = new int[2 * n][];
    System.arraycopy(chosen, 0, out, 0, n);
    System.arraycopy(rejected, 0, out, n, n);
    return out;
  }

  /** Prompt length of each of {@link #sequences()}. */
  public int[] sequencePromptLengths() {
    int n = size();
    int[] out = new int[2 * n];
    System.arraycopy(promptLengths, 0, out, 0, n);
    System.arraycopy(promptLengths, 0, out, n, n);
    return out;
  }

  /** The loss inputs, given the policy's summed response log-prob of each of {@link #sequences()}. */
  public PairLogps pairLogps(double[] sequenceLogps) {
    int n = size();
    if (sequenceLogps.length != 2 * n) {
      throw new IllegalArgumentException("expected " + 2 * n + " sequence log-probs, got " + sequenceLogps.length);
    }
    int[] chosenTokens = new int[n], rejectedTokens = new int[n];
    for (int i = 0; i < n; i++) {
      chosenTokens[i] = chosen[i].length - promptLengths[i];
      rejectedTokens[i] = rejected[i].length - promptLengths[i];
    }
    return new PairLogps(Arrays.copyOfRange(sequenceLogps, 0, n), Arrays.copyOfRange(sequenceLogps, n, 2 * n),
        refChosen, refRejected, chosenTokens, rejectedTokens);
  }

  /** Throws if a token id is outside a model's vocabulary. */
  public void checkVocabulary(int vocabSize) {
    for (int i = 0; i < size(); i++) {
      for (int[] ids : new int[][] {chosen[i], rejected[i]}) {
        for (int t = 0; t < ids.length; t++) {
          if (ids[t] >= vocabSize) {
            throw new IllegalArgumentException("pair " + i + ": token id " + ids[t] + " at position " + t
                + " >= vocab size " + vocabSize);
          }
        }
      }
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof DpoBatch b && width == b.width && Arrays.equals(promptLengths, b.promptLengths)
        && Arrays.deepEquals(chosen, b.chosen) && Arrays.deepEquals(rejected, b.rejected)
        && Arrays.equals(refChosen, b.refChosen) && Arrays.equals(refRejected, b.refRejected);
  }

  @Override
  public int hashCode() {
    int h = 31 * width + Arrays.hashCode(promptLengths);
    h = 31 * h + Arrays.deepHashCode(chosen);
    h = 31 * h + Arrays.deepHashCode(rejected);
    return 31 * (31 * h + Arrays.hashCode(refChosen)) + Arrays.hashCode(refRejected);
  }

  @Override
  public String toString() {
    return "DpoBatch[width=" + width + ", pairs=" + size() + ", promptLengths=" + Arrays.toString(promptLengths) + "]";
  }
}
