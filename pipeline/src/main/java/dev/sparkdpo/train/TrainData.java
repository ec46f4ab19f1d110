package dev.sparkdpo.train;

import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.data.TokenIds;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import dev.sparkdpo.io.InputFingerprint;
import dev.sparkdpo.reference.ReferenceStage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * A run's training and eval pairs (persisted), and where they came from:
 * <ul>
 *   <li>DPO: a reference output ({@code pairs/} with ref_chosen_logp, ref_rejected_logp, split=train|eval), whose
 *       reference model must be the policy's starting model ({@link ReferenceStage#checkPolicy}).</li>
 *   <li>SFT on prompt + chosen: an ingest or reference output (reference log-probs are not used).</li>
 *   <li>SFT on raw text: text files (a file, directory or glob), tokenized with the model's tokenizer and cut into
 *       chunks of the model's context; a chunk's first token is its "prompt" and the rest is learned.</li>
 * </ul>
 */
final class TrainData {
  private static final Logger LOG = LoggerFactory.getLogger(TrainData.class);

  private final JavaRDD<TrainPair> train;
  private final JavaRDD<TrainPair> eval;
  private final long trainCount;
  private final long evalCount;
  private final String fingerprint;
  private final int vocabSize;

  private TrainData(JavaRDD<TrainPair> train, JavaRDD<TrainPair> eval, String fingerprint, int vocabSize) {
    this.train = train.persist(StorageLevel.MEMORY_AND_DISK_SER());
    this.eval = eval.persist(StorageLevel.MEMORY_AND_DISK_SER());
    this.trainCount = this.train.count();
    this.evalCount = this.eval.count();
    this.fingerprint = fingerprint;
    this.vocabSize = vocabSize;
    if (trainCount == 0) throw new IllegalArgumentException("the training data has no train pairs");
  }

  JavaRDD<TrainPair> train() {
    return train;
  }

  JavaRDD<TrainPair> eval() {
    return eval;
  }

  long trainCount() {
    return trainCount;
  }

  long evalCount() {
    return evalCount;
  }

  /** Identifies the data: the reference stage's fingerprint, or a digest of the input files' names, sizes and times. */
  String fingerprint() {
    return fingerprint;
  }

  /** {@code modelUri}: the starting model's directory as a file: URI (it is read as a local path everywhere). */
  static TrainData read(SparkSession spark, TrainOptions opts, String modelUri, dev.sparkdpo.model.GptConfig gpt,
      Configuration conf) {
    String data = opts.data();
    boolean pairsDir = exists(data + "/pairs", conf);
    if (opts.objective() == TrainOptions.Objective.DPO) {
      ReferenceStage.checkPolicy(data, modelUri, opts.allowRefMismatch(), conf);
      return fromPairs(spark, data, true, ReferenceStage.fingerprintOf(data, conf), opts, gpt);
    }
    if (pairsDir) {
      dev.sparkdpo.io.StageOutput.requireComplete("--data", data, conf, "ingest", "reference", "generate-pairs");
      return fromPairs(spark, data, false, InputFingerprint.files(data + "/pairs", conf), opts, gpt);
    }
    return fromText(spark, opts, modelUri, gpt, conf);
  }

  private static TrainData fromPairs(SparkSession spark, String data, boolean withReference, String fingerprint,
      TrainOptions opts, dev.sparkdpo.model.GptConfig gpt) {
    Dataset<Row> frame = spark.read().parquet(data + "/pairs");
    if (!List.of(frame.columns()).contains(PairSchema.SPLIT)) {
      throw new IllegalArgumentException(data + "/pairs has no " + PairSchema.SPLIT + " column: give --data an ingest or"
          + " reference output");
    }
    for (String column : List.of(PairSchema.PROMPT_IDS, PairSchema.CHOSEN_IDS, PairSchema.REJECTED_IDS)) {
      if (!List.of(frame.columns()).contains(column)) {
        throw new IllegalArgumentException("--data " + data + " has no token columns (" + column + "): run ingest with"
            + " --tokenizer (the model's tokenizer.json) first");
      }
    }
    // before the data is persisted and shuffled: a foreign tokenizer's ids fail here, naming a pair and the fix
    TokenIds.checkVocabulary(frame, gpt.vocabSize(), "--data " + data, "--model " + opts.model());
    JavaRDD<TrainPair> train = TrainingPairs.pairs(frame.filter(frame.col(PairSchema.SPLIT).equalTo(PairSchema.TRAIN)),
        withReference);
    JavaRDD<TrainPair> eval = TrainingPairs.pairs(frame.filter(frame.col(PairSchema.SPLIT).equalTo(PairSchema.EVAL)),
        withReference);
    return new TrainData(train, limitEval(eval, opts), fingerprint, gpt.vocabSize());
  }

  /** At most max-eval-pairs eval pairs: the first by a seeded hash of their ids (the same ones every run). */
  private static JavaRDD<TrainPair> limitEval(JavaRDD<TrainPair> eval, TrainOptions opts) {
    long max = opts.schedule().maxEvalPairs();
    if (max == 0) return eval;
    long seed = opts.seed();
    return eval.mapToPair(p -> new Tuple2<>(DataOrder.orderKey(seed, -1, p.id), p)).sortByKey().values()
        .zipWithIndex().filter(t -> t._2() < max).keys();
  }

  // ---------------------------------------------------------------------------------------------------------- text

  private static TrainData fromText(SparkSession spark, TrainOptions opts, String modelUri,
      dev.sparkdpo.model.GptConfig gpt, Configuration conf) {
    TrainOptions.Text text = opts.text();
    // executors open the tokenizer through their local copy (TokenizerFiles); a file: model must be on a shared disk
    String tokenizer = text.tokenizer() != null ? text.tokenizer() : modelUri;
    int context = gpt.nPositions();
    int chunk = text.chunkTokens() > 0 ? Math.min(text.chunkTokens(), context) : context;
    if (chunk < 2) throw new IllegalArgumentException("chunk-tokens must be >= 2");
    double evalFraction = text.evalFraction();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    String root = qualifiedPath(opts.data(), conf);
    JavaRDD<TrainPair> chunks = jsc.wholeTextFiles(opts.data()).flatMap(file -> {
      PairTokenizer tok = PairTokenizer.open(new TokenizerSpec(tokenizer, 0, 0, Truncation.KEEP_END, false));
      return chunks(chunkName(file._1(), root), tok.encodeText(file._2()), chunk).iterator();
    });
    JavaRDD<TrainPair> train = chunks.filter(p -> !heldOut(p.id, evalFraction));
    JavaRDD<TrainPair> eval = chunks.filter(p -> heldOut(p.id, evalFraction));
    LOG.info("train: SFT on text {} in chunks of {} tokens ({} held out)", opts.data(), chunk, evalFraction);
    return new TrainData(train, limitEval(eval, opts), InputFingerprint.files(opts.data(), conf) + ":" + chunk,
        gpt.vocabSize());
  }

  /**
   * A text file's name in its chunks' ids: its path below the data directory (else its file name), so that the
   * held-out split and the data order do not depend on where the corpus lives (measured: the same demo run under
   * two run roots held out 74 and 82 different chunks and trained to different models).
   */
  static String chunkName(String file, String dataRoot) {
    String path = new org.apache.hadoop.fs.Path(file).toUri().getPath();
    String dir = dataRoot.endsWith("/") ? dataRoot : dataRoot + "/";
    return path.startsWith(dir) ? path.substring(dir.length()) : path.substring(path.lastIndexOf('/') + 1);
  }

  private static String qualifiedPath(String data, Configuration conf) {
    return new org.apache.hadoop.fs.Path(dev.sparkdpo.io.HadoopFiles.qualified(data, conf)).toUri().getPath();
  }

  /** A file's tokens in chunks of {@code chunk} (the last may be shorter, >= 2 tokens): first token = prompt. */
  static List<TrainPair> chunks(String file, int[] ids, int chunk) {
    List<TrainPair> out = new ArrayList<>();
    for (int from = 0, i = 0; from + 1 < ids.length; from += chunk, i++) {
      int to = Math.min(ids.length, from + chunk);
      int[] rest = Arrays.copyOfRange(ids, from + 1, to);
      out.add(new TrainPair(file + "#" + i, new int[] {ids[from]}, rest, rest, 0, 0));
    }
    return out;
  }

  /** Deterministic held-out choice: the chunk's id hashed to [0, 1). */
  static boolean heldOut(String id, double fraction) {
    if (fraction == 0) return false;
    long h = Long.parseUnsignedLong(DataOrder.orderKey(0, -2, id).substring(0, 15), 16);
    return (double) h / (1L << 60) < fraction;
  }

  // -------------------------------------------------------------------------------------------------- checks

  /**
   * The input checks before the first step, across the executors: every pair (train and eval) has a prompt,
   * non-empty responses, finite reference log-probs and fits the model's context. Returns the longest sequence
   * (the DataSets' width). Throws naming up to 5 bad pairs and the fix.
   */
  int checkAndMeasure(int context) {
    JavaRDD<TrainPair> all = train.union(eval);
    int vocab = vocabSize;
    List<String> problems = all.map(p -> p.problem(context, vocab)).filter(Objects::nonNull).take(5);
    if (!problems.isEmpty()) { // one line: the CLI prints an error as a single line
      throw new IllegalArgumentException("the training data has pairs the model cannot train on: "
          + String.join("; ", problems));
    }
    return all.map(TrainPair::longestSequence).reduce(Math::max);
  }

  // -------------------------------------------------------------------------------------------------- files

  private static boolean exists(String path, Configuration conf) {
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
      return p.getFileSystem(conf).exists(p);
    } catch (IOException e) {
      throw new UncheckedIOException("checking " + path + ": " + e.getMessage(), e);
    }
  }


}
