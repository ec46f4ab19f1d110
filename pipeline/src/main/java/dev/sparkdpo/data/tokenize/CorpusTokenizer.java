package dev.sparkdpo.data.tokenize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.io.InputFingerprint;
import dev.sparkdpo.io.StageOutput;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * A word-level tokenizer built from a text corpus ({@code spark-dpo tokenizer}): the corpus's words counted across
 * the executors, the {@code vocab-size - 2} most frequent kept (ties by word), plus the words of an optional word list
 * (e.g. a reward lexicon) that occur in the corpus at least min-count times, which replace the least frequent kept
 * words; everything else is
 * {@code <unk>}. Why word-level and small: a 2-core SFT of a GPT-2-shaped model over the GPT-2 BPE's 50,257 tokens
 * spends most of its time in the vocabulary projection (d x V per token); at 8k words the same model trains ~5x faster,
 * and whole words make the lexicon reward's words single tokens the policy can learn to emit.
 *
 * <p>Output ({@link StageOutput}, stage {@code tokenizer}): {@code tokenizer.json} (see {@link WordLevelTokenizer})
 * and {@code stats.json} (files, word tokens, distinct words, vocabulary size, coverage: the share of the corpus's
 * word tokens that are in the vocabulary, included words).
 */
public final class CorpusTokenizer {
  private static final Logger LOG = LoggerFactory.getLogger(CorpusTokenizer.class);
  private static final ObjectMapper JSON = new ObjectMapper();
  public static final String STAGE = "tokenizer";
  public static final String TOKENIZER = "tokenizer.json";

  /** What to build: text files (a directory or glob, any Hadoop file system), the output, the vocabulary. */
  public record Options(String data, String output, int vocabSize, String keepWords, int minCount, boolean lowercase) {
    public Options {
      if (data == null || data.isBlank()) throw new IllegalArgumentException("give --data (text files: a directory or glob)");
      if (output == null || output.isBlank()) throw new IllegalArgumentException("give --output (or tokenizer.output)");
      if (vocabSize < 3) throw new IllegalArgumentException("--vocab-size must be >= 3, got " + vocabSize);
      if (minCount < 1) throw new IllegalArgumentException("--min-count must be >= 1, got " + minCount);
      if (keepWords != null && keepWords.isBlank()) keepWords = null;
    }
  }

  /** {@code coverage}: the share of the corpus's word tokens the vocabulary holds. */
  public record Result(boolean skipped, String output, String fingerprint, int vocabSize, double coverage) {}

  private CorpusTokenizer() {}

  public static Result run(SparkSession spark, Options opts, boolean force) {
    Configuration conf = spark.sparkContext().hadoopConfiguration();
    String fingerprint = StageOutput.sha256("tokenizer/1 data=" + InputFingerprint.files(opts.data(), conf)
        + " keep-words=" + (opts.keepWords() == null ? "" : InputFingerprint.files(opts.keepWords(), conf))
        + " vocab=" + opts.vocabSize() + " min-count=" + opts.minCount() + " lowercase=" + opts.lowercase());
    List<StageOutput.Input> inputs = new ArrayList<>(List.of(new StageOutput.Input("--data", opts.data())));
    if (opts.keepWords() != null) inputs.add(new StageOutput.Input("--keep-words", opts.keepWords()));
    try (StageOutput out = StageOutput.open(STAGE, "--output", opts.output(), inputs, conf)) {
      if (!force && fingerprint.equals(out.completeFingerprint())) {
        LOG.info("tokenizer: {} is complete with the same settings: nothing to do", opts.output());
        JsonNode stats = readJson(new Path(out.target(), "stats.json"), conf);
        return new Result(true, out.target().toString(), fingerprint, stats.path("vocab_size").asInt(),
            stats.path("coverage").asDouble());
      }
      long t0 = System.nanoTime();
      boolean lowercase = opts.lowercase();
      JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
      // files counted in the same pass as the words (a second wholeTextFiles would read the corpus again)
      org.apache.spark.util.LongAccumulator fileCount = jsc.sc().longAccumulator("tokenizer files");
      List<Tuple2<String, Long>> counted = jsc.wholeTextFiles(opts.data())
          .flatMap(f -> {
            fileCount.add(1);
            return WordLevelTokenizer.words(f._2(), lowercase).iterator();
          })
          .mapToPair(w -> new Tuple2<>(w, 1L)).reduceByKey(Long::sum).collect();
      long files = fileCount.value();
      Map<String, Long> counts = new HashMap<>();
      counted.forEach(t -> counts.put(t._1(), t._2()));
      Set<String> include = opts.keepWords() == null ? Set.of() : wordList(opts.keepWords(), conf, lowercase);
      Vocabulary v = vocabulary(counts, opts.vocabSize(), opts.minCount(), include);
      out.begin(fingerprint);
      out.writeText(TOKENIZER, WordLevelTokenizer.json(v.words(), lowercase));
      ObjectNode stats = JSON.createObjectNode();
      stats.put("files", files);
      stats.put("word_tokens", v.tokens());
      stats.put("distinct_words", counts.size());
      stats.put("vocab_size", v.words().size());
      stats.put("coverage", v.coverage());
      stats.put("kept_words", v.included());
      stats.put("seconds", (System.nanoTime() - t0) / 1e9);
      ObjectNode settings = stats.putObject("settings");
      settings.put("data", opts.data());
      settings.put("vocab_size", opts.vocabSize());
      settings.put("min_count", opts.minCount());
      settings.put("lowercase", lowercase);
      settings.put("keep_words", opts.keepWords());
      out.writeText("stats.json", stats.toPrettyString());
      out.commit();
      LOG.info("tokenizer: {} words ({} from {}) over {} files, {} distinct; {}% of the corpus's {} word tokens in the"
              + " vocabulary -> {}", v.words().size(), v.included(), opts.keepWords(), files, counts.size(),
          String.format(Locale.ROOT, "%.2f", 100 * v.coverage()), v.tokens(), opts.output());
      return new Result(false, out.target().toString(), fingerprint, v.words().size(), v.coverage());
    }
  }

  /** The vocabulary: EOS, UNK, then words by falling count; {@code included} words came in from the word list. */
  record Vocabulary(List<String> words, int included, long tokens, double coverage) {}

  static Vocabulary vocabulary(Map<String, Long> counts, int vocabSize, int minCount, Set<String> include) {
    List<Map.Entry<String, Long>> ranked = new ArrayList<>(counts.entrySet());
    ranked.removeIf(e -> e.getValue() < minCount || e.getKey().equals(WordLevelTokenizer.EOS)
        || e.getKey().equals(WordLevelTokenizer.UNK));
    ranked.sort(Map.Entry.<String, Long>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()));
    int room = vocabSize - 2;
    List<String> kept = new ArrayList<>();
    for (int i = 0; i < Math.min(room, ranked.size()); i++) kept.add(ranked.get(i).getKey());
    Set<String> keptSet = new LinkedHashSet<>(kept);
    List<String> extra = include.stream()
        .filter(w -> counts.getOrDefault(w, 0L) >= minCount && !keptSet.contains(w)).sorted().toList();
    extra = extra.subList(0, Math.min(extra.size(), room));
    // the least frequent kept words make room for the list's words
    while (kept.size() + extra.size() > room) kept.remove(kept.size() - 1);
    List<String> words = new ArrayList<>(List.of(WordLevelTokenizer.EOS, WordLevelTokenizer.UNK));
    words.addAll(kept);
    words.addAll(extra);
    long tokens = counts.values().stream().mapToLong(Long::longValue).sum();
    long covered = words.stream().mapToLong(w -> counts.getOrDefault(w, 0L)).sum();
    return new Vocabulary(List.copyOf(words), extra.size(), tokens, tokens == 0 ? 0 : (double) covered / tokens);
  }

  /** The keys of a JSON object (a lexicon: word -> score) or the lines of a text file. */
  static Set<String> wordList(String path, Configuration conf, boolean lowercase) {
    String text = new String(readBytes(new Path(path), conf, "--keep-words"), StandardCharsets.UTF_8);
    Set<String> words = new LinkedHashSet<>();
    if (text.stripLeading().startsWith("{")) {
      JsonNode root;
      try {
        root = JSON.readTree(text);
      } catch (IOException e) {
        throw new IllegalArgumentException("--keep-words " + path + " is not valid JSON: give a word -> score object"
            + " (e.g. AFINN-165's afinn-165.json) or a text file of one word per line");
      }
      for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) words.add(it.next());
    } else {
      text.lines().map(String::strip).filter(l -> !l.isEmpty()).forEach(words::add);
    }
    Set<String> out = new LinkedHashSet<>();
    for (String w : words) {
      // a multi-word entry ("not good") cannot be one word-level token: its words are kept one by one
      out.addAll(WordLevelTokenizer.words(w, lowercase));
    }
    return out;
  }

  private static JsonNode readJson(Path p, Configuration conf) {
    try {
      return JSON.readTree(readBytes(p, conf, "stats"));
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static byte[] readBytes(Path p, Configuration conf, String option) {
    try (InputStream in = p.getFileSystem(conf).open(p)) {
      return in.readAllBytes();
    } catch (IOException e) {
      throw new IllegalArgumentException(option + " " + p + ": cannot read it (" + e.getMessage() + ")");
    }
  }
}
