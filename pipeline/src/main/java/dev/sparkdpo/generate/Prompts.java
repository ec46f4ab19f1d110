package dev.sparkdpo.generate;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.when;
import static org.apache.spark.sql.functions.lit;

import dev.sparkdpo.data.Ingest;
import dev.sparkdpo.data.PairNormalizer;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.io.StageOutput;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.LongAccumulator;
import scala.Tuple2;

/**
 * The prompts of generate-pairs, from one of two sources:
 * <ul>
 *   <li>an ingest output (a directory with {@code pairs/}): its distinct prompts, each in its pairs' split (eval when
 *       any of its pairs is: an eval prompt is never trained on);</li>
 *   <li>text files: split into sentences, each cut to a seeded prefix of MIN..MAX words (the DPO paper's IMDb
 *       prefixes), deduplicated, and split train/eval by a seeded hash of the prompt's text, as ingest splits pairs.</li>
 * </ul>
 * A prompt's id is a hash of its text alone, so its split, its place in the order and its samples' seeds do not
 * depend on where the files live.
 */
public final class Prompts {
  private Prompts() {}

  /** A prompt: id (32 hex digits of SHA-256 of the text), text, split, and where it was first found. */
  public record Prompt(String id, String text, String split, String source, long record) implements Serializable {}

  /** The prompts and how they were read. */
  public record Read(List<Prompt> prompts, String kind, long files, long sentences, long shortSentences) {}

  /** Sentence ends: . ! or ? (and a closing quote or bracket), then space, then a capital, digit or opening quote. */
  private static final Pattern SENTENCE_END =
      Pattern.compile("(?<=[.!?][\"'\u201d\u2019)\\]]?)\\s+(?=[\"'\u201c\u2018(\\[]?[\\p{Lu}\\p{N}])");
  private static final Pattern SPACE = Pattern.compile("\\s+");

  /** The id of a prompt: 32 hex digits of SHA-256 of its text. */
  public static String id(String text) {
    return StageOutput.sha256(text).substring(0, 32);
  }

  /** Whether {@code path} is a spark-dpo output holding pairs/ (ingest's, or another pairs output). */
  public static boolean isPairsOutput(String path, Configuration conf) {
    try {
      Path p = new Path(path);
      FileSystem fs = p.getFileSystem(conf);
      return fs.isDirectory(p) && fs.exists(new Path(p, StageOutput.MANIFEST)) && fs.isDirectory(new Path(p, "pairs"));
    } catch (IOException e) {
      throw new UncheckedIOException("checking --prompts " + path + ": " + e.getMessage(), e);
    }
  }

  /** Reads the prompts of {@code paths}: one ingest output, or text files. */
  public static Read read(SparkSession spark, List<String> paths, long seed, int minWords, int maxWords,
      double evalFraction) {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    boolean pairs = paths.size() == 1 && isPairsOutput(paths.get(0), conf);
    if (pairs) {
      StageOutput.requireComplete("--prompts", paths.get(0), conf, "ingest", GeneratePairs.STAGE);
      return fromPairs(spark, paths.get(0));
    }
    for (String p : paths) {
      if (isPairsOutput(p, conf)) {
        throw new IllegalArgumentException("--prompts " + p + " is a spark-dpo output: give it alone (its prompts),"
            + " not beside text files");
      }
    }
    return fromText(spark, paths, seed, minWords, maxWords, evalFraction);
  }

  // ------------------------------------------------------------------------------------------------ ingest output

  private static Read fromPairs(SparkSession spark, String dir) {
    Dataset<Row> pairs = spark.read().parquet(new Path(dir, "pairs").toString());
    List<Row> rows = pairs.groupBy(col(PairSchema.PROMPT))
        .agg(max(when(col(PairSchema.SPLIT).equalTo(PairSchema.EVAL), lit(1)).otherwise(lit(0))).as("eval"),
            min(struct(col(PairSchema.SOURCE), col(PairSchema.RECORD))).as("first"))
        .collectAsList();
    List<Prompt> prompts = new ArrayList<>(rows.size());
    for (Row r : rows) {
      String text = r.getString(0);
      Row first = r.getStruct(2);
      prompts.add(new Prompt(id(text), text, r.getInt(1) == 1 ? PairSchema.EVAL : PairSchema.TRAIN,
          first.getString(0), first.getLong(1)));
    }
    prompts.sort(Comparator.comparing(Prompt::id));
    return new Read(prompts, "pairs", 0, 0, 0);
  }

  // ------------------------------------------------------------------------------------------------ text files

  private static Read fromText(SparkSession spark, List<String> paths, long seed, int minWords, int maxWords,
      double evalFraction) {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    List<String> roots = new ArrayList<>();
    for (String p : paths) roots.add(qualifiedDir(p, conf));
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    LongAccumulator files = jsc.sc().longAccumulator("generate-pairs prompt files");
    LongAccumulator sentences = jsc.sc().longAccumulator("generate-pairs sentences");
    LongAccumulator shortOnes = jsc.sc().longAccumulator("generate-pairs short sentences");
    jsc.setJobDescription("generate-pairs: prompts from " + String.join(", ", paths));
    try {
      List<Tuple2<String, Tuple2<String, Long>>> found = jsc.wholeTextFiles(String.join(",", paths))
          .flatMapToPair(file -> {
            files.add(1);
            String source = sourceName(file._1(), roots);
            List<String> s = sentences(file._2());
            sentences.add(s.size());
            List<Tuple2<String, Tuple2<String, Long>>> out = new ArrayList<>();
            for (int i = 0; i < s.size(); i++) {
              String prefix = prefix(s.get(i), seed, minWords, maxWords);
              if (prefix == null) shortOnes.add(1);
              else out.add(new Tuple2<>(prefix, new Tuple2<>(source, i + 1L)));
            }
            return out.iterator();
          })
          .reduceByKey((a, b) -> Prompts.firstOf(a, b))
          .collect();
      List<Prompt> prompts = new ArrayList<>(found.size());
      for (Tuple2<String, Tuple2<String, Long>> f : found) {
        String id = id(f._1());
        prompts.add(new Prompt(id, f._1(), Ingest.isEval(id, seed, evalFraction) ? PairSchema.EVAL : PairSchema.TRAIN,
            f._2()._1(), f._2()._2()));
      }
      prompts.sort(Comparator.comparing(Prompt::id));
      return new Read(prompts, "text", files.value(), sentences.value(), shortOnes.value());
    } finally {
      jsc.setJobDescription(null);
    }
  }

  private static Tuple2<String, Long> firstOf(Tuple2<String, Long> a, Tuple2<String, Long> b) {
    int bySource = a._1().compareTo(b._1());
    return bySource < 0 || (bySource == 0 && a._2() <= b._2()) ? a : b;
  }

  /**
   * A text's sentences: Unicode NFC and line ends as ingest normalises text, whitespace runs folded to one space, cut
   * after . ! or ? (and a closing quote or bracket) where the next sentence starts with a capital, a digit or an
   * opening quote. Simple on purpose (an abbreviation such as "Mr." ends a sentence): the prompts are prefixes.
   */
  public static List<String> sentences(String text) {
    String folded = SPACE.matcher(PairNormalizer.normalizeText(text)).replaceAll(" ").strip();
    if (folded.isEmpty()) return List.of();
    return Arrays.stream(SENTENCE_END.split(folded)).map(String::strip).filter(s -> !s.isEmpty()).toList();
  }

  /**
   * The prompt of a sentence: its first k words (split at spaces, joined by one space), k drawn from MIN..MAX by a
   * hash of the seed and the sentence (so the same sentence always gets the same prefix), at most the sentence's
   * length; null when the sentence has fewer than MIN words.
   */
  public static String prefix(String sentence, long seed, int minWords, int maxWords) {
    if (sentence.isBlank()) return null;
    String[] words = SPACE.split(sentence.strip());
    if (words.length < minWords) return null;
    String h = StageOutput.sha256(seed + ":" + sentence).substring(0, 15);
    int k = minWords + (int) (Long.parseLong(h, 16) % (maxWords - minWords + 1));
    return String.join(" ", Arrays.copyOf(words, Math.min(k, words.length)));
  }

  /** A file's name in the output's source column: its path below the --prompts path it was found under. */
  static String sourceName(String file, List<String> roots) {
    String path = new Path(file).toUri().getPath();
    for (String root : roots) {
      String dir = root.endsWith("/") ? root : root + "/";
      if (path.startsWith(dir)) return path.substring(dir.length());
    }
    return path.substring(path.lastIndexOf('/') + 1);
  }

  /** The directory part of a --prompts path (a directory itself, else its parent), as a qualified path's path. */
  private static String qualifiedDir(String given, Configuration conf) {
    try {
      Path p = new Path(given);
      FileSystem fs = p.getFileSystem(conf);
      FileStatus[] matched = fs.globStatus(p);
      if (matched == null || matched.length == 0) {
        throw new IllegalArgumentException("--prompts " + given + " does not exist: give text files, directories or"
            + " globs, or an ingest output");
      }
      Path q = fs.makeQualified(p);
      boolean dir = matched.length == 1 && matched[0].isDirectory() && matched[0].getPath().equals(q);
      return (dir ? q : q.getParent()).toUri().getPath();
    } catch (IOException e) {
      throw new UncheckedIOException("listing --prompts " + given + ": " + e.getMessage(), e);
    }
  }

  /** A digest of the prompts (ids, splits, where found), part of generate-pairs' fingerprint. */
  static String digest(List<Prompt> prompts) {
    StringBuilder b = new StringBuilder();
    for (Prompt p : prompts) {
      b.append(p.id()).append('\t').append(p.split()).append('\t').append(p.source()).append('\t').append(p.record())
          .append('\n');
    }
    return StageOutput.sha256(b.toString());
  }
}
