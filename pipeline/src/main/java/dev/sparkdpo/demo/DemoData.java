package dev.sparkdpo.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.data.tokenize.WordLevelTokenizer;
import dev.sparkdpo.io.StageOutput;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.hadoop.conf.Configuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The embedded demo's data, made from a seed with nothing downloaded: a word-level Hugging Face tokenizer over a small
 * grammar's vocabulary, an SFT corpus of the grammar's sentences, preference pairs whose chosen continuation carries
 * more positive sentiment words than the rejected one, and the lexicon (word -> score) that defines that preference
 * (evaluate's reward {@code lexicon:<output>/lexicon.json}).
 *
 * <p>A sentence is {@code the A1 SUBJECT VERB the A2 OBJECT and it was A3 .}; the prompt is its first four words and
 * the continuation the rest, so the only thing a preference can teach is the choice of A2 and A3. In the corpus the
 * adjectives are drawn uniformly from positive, negative and neutral words (the SFT model is neutral); a pair's chosen
 * continuation draws them with probability 0.8 from the positive words, its rejected one from the negative words, and
 * a pair is kept only when the lexicon scores chosen strictly above rejected.
 *
 * <p>Output ({@link StageOutput}, stage {@code demo-data}): {@code tokenizer.json}, {@code corpus/sentences.txt}
 * (sentences each ended by {@code <|endoftext|>}), {@code preferences/pairs.jsonl} (flat: id, prompt, chosen,
 * rejected), {@code lexicon.json}. Vocabulary 51 words (with EOS and unk).
 */
public final class DemoData {
  private static final Logger LOG = LoggerFactory.getLogger(DemoData.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  public static final String EOS = WordLevelTokenizer.EOS;
  public static final String UNK = WordLevelTokenizer.UNK;
  public static final String TOKENIZER = "tokenizer.json";
  public static final String CORPUS = "corpus";
  public static final String PREFERENCES = "preferences";
  public static final String LEXICON = "lexicon.json";

  static final List<String> SUBJECTS = List.of("cat", "dog", "child", "teacher", "farmer", "robot", "bird", "king");
  static final List<String> VERBS = List.of("sees", "finds", "likes", "brings", "paints", "watches");
  static final List<String> OBJECTS = List.of("garden", "house", "river", "song", "book", "tree", "city", "ball");
  /** Sentiment words and their lexicon scores (AFINN-like, -3..3). */
  static final Map<String, Integer> POSITIVE = ordered("good", 2, "happy", 3, "lovely", 3, "bright", 1, "kind", 2,
      "wonderful", 3, "great", 3, "nice", 2);
  static final Map<String, Integer> NEGATIVE = ordered("bad", -2, "sad", -2, "awful", -3, "dark", -1, "cruel", -3,
      "terrible", -3, "ugly", -2, "nasty", -3);
  static final List<String> NEUTRAL = List.of("old", "small", "big", "red", "green", "quiet");
  static final List<String> GLUE = List.of("the", "and", "it", "was", ".");
  /** Probability that a chosen (rejected) adjective comes from the positive (negative) words. */
  static final double SKEW = 0.8;

  /** What to write: a seed, the corpus size in sentences and the number of preference pairs. */
  public record Options(String output, long seed, int sentences, int pairs) {
    public Options {
      if (output == null || output.isBlank()) throw new IllegalArgumentException("give --output (or demo.output)");
      if (sentences < 1) throw new IllegalArgumentException("--sentences / demo.sentences must be >= 1, got " + sentences);
      if (pairs < 1) throw new IllegalArgumentException("--pairs / demo.pairs must be >= 1, got " + pairs);
    }
  }

  /** {@code skipped}: a complete output with the same settings was there. */
  public record Result(boolean skipped, String output, String fingerprint, int pairs, int sentences, int vocabSize) {}

  private DemoData() {}

  public static Result run(Options opts, Configuration conf) {
    return run(opts, conf, false);
  }

  /** {@code force}: rewrite even when a complete output with the same settings is there. */
  public static Result run(Options opts, Configuration conf, boolean force) {
    String fingerprint = StageOutput.sha256("demo-data/1 seed=" + opts.seed() + " sentences=" + opts.sentences()
        + " pairs=" + opts.pairs());
    List<String> vocab = vocabulary();
    try (StageOutput out = StageOutput.open("demo-data", "--output", opts.output(), List.of(), conf)) {
      if (!force && fingerprint.equals(out.completeFingerprint())) {
        LOG.info("demo-data: {} is complete with the same settings: nothing to do", opts.output());
        return new Result(true, out.target().toString(), fingerprint, opts.pairs(), opts.sentences(), vocab.size());
      }
      out.begin(fingerprint);
      SplittableRandom rng = new SplittableRandom(opts.seed());
      out.writeText(TOKENIZER, tokenizerJson(vocab));
      out.writeText(LEXICON, lexiconJson());
      StringBuilder corpus = new StringBuilder();
      for (int i = 0; i < opts.sentences(); i++) corpus.append(sentence(rng, Mood.ANY)).append(' ').append(EOS).append('\n');
      out.writeText(CORPUS + "/sentences.txt", corpus.toString());
      StringBuilder prefs = new StringBuilder();
      int written = 0;
      while (written < opts.pairs()) {
        String[] prompt = prompt(rng);
        String chosen = continuation(rng, Mood.POSITIVE);
        String rejected = continuation(rng, Mood.NEGATIVE);
        if (score(chosen) <= score(rejected)) continue; // the lexicon must prefer chosen: that is the preference
        ObjectNode pair = JSON.createObjectNode();
        pair.put("id", "demo-" + written);
        pair.put("prompt", String.join(" ", prompt));
        pair.put("chosen", chosen);
        pair.put("rejected", rejected);
        prefs.append(pair).append('\n');
        written++;
      }
      out.writeText(PREFERENCES + "/pairs.jsonl", prefs.toString());
      out.commit();
      LOG.info("demo-data: wrote {} sentences, {} pairs, a {}-word tokenizer and the lexicon to {}",
          opts.sentences(), opts.pairs(), vocab.size(), opts.output());
      return new Result(false, out.target().toString(), fingerprint, opts.pairs(), opts.sentences(), vocab.size());
    }
  }

  // ------------------------------------------------------------------------------------------------ the grammar

  enum Mood { ANY, POSITIVE, NEGATIVE }

  static String[] prompt(SplittableRandom rng) {
    return new String[] {"the", adjective(rng, Mood.ANY), pick(rng, SUBJECTS), pick(rng, VERBS)};
  }

  static String continuation(SplittableRandom rng, Mood mood) {
    return "the " + adjective(rng, mood) + " " + pick(rng, OBJECTS) + " and it was " + adjective(rng, mood) + " .";
  }

  static String sentence(SplittableRandom rng, Mood mood) {
    return String.join(" ", prompt(rng)) + " " + continuation(rng, mood);
  }

  /** ANY: uniform over the three classes; POSITIVE/NEGATIVE: that class with probability {@link #SKEW}. */
  static String adjective(SplittableRandom rng, Mood mood) {
    List<String> pos = List.copyOf(POSITIVE.keySet());
    List<String> neg = List.copyOf(NEGATIVE.keySet());
    if (mood == Mood.ANY) {
      int c = rng.nextInt(3);
      return pick(rng, c == 0 ? pos : c == 1 ? neg : NEUTRAL);
    }
    if (rng.nextDouble() < SKEW) return pick(rng, mood == Mood.POSITIVE ? pos : neg);
    int c = rng.nextInt(3);
    return pick(rng, c == 0 ? pos : c == 1 ? neg : NEUTRAL);
  }

  private static String pick(SplittableRandom rng, List<String> words) {
    return words.get(rng.nextInt(words.size()));
  }

  /** The lexicon reward of a text: the sum of its words' scores (words not in the lexicon score 0). */
  public static double score(String text) {
    double s = 0;
    for (String w : text.split("\\s+")) {
      s += POSITIVE.getOrDefault(w, NEGATIVE.getOrDefault(w, 0));
    }
    return s;
  }

  // ------------------------------------------------------------------------------------------------ the files

  /** Every word of the grammar, EOS first (id 0) and the unknown token second: ids are list positions. */
  static List<String> vocabulary() {
    List<String> v = new ArrayList<>(List.of(EOS, UNK));
    for (List<String> words : List.of(GLUE, SUBJECTS, VERBS, OBJECTS, List.copyOf(POSITIVE.keySet()),
        List.copyOf(NEGATIVE.keySet()), NEUTRAL)) {
      for (String w : words) if (!v.contains(w)) v.add(w);
    }
    return v;
  }

  /** The demo's tokenizer.json: a WordLevel tokenizer over {@link #vocabulary()}, case kept. */
  static String tokenizerJson(List<String> vocab) {
    return WordLevelTokenizer.json(vocab, false);
  }

  static String lexiconJson() {
    ObjectNode lex = JSON.createObjectNode();
    POSITIVE.forEach(lex::put);
    NEGATIVE.forEach(lex::put);
    return lex.toPrettyString();
  }

  private static Map<String, Integer> ordered(Object... kv) {
    Map<String, Integer> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], (Integer) kv[i + 1]);
    return m;
  }
}
