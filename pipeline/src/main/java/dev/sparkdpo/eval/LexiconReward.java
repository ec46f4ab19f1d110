package dev.sparkdpo.eval;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.io.StageOutput;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;

/**
 * A sentiment-lexicon reward: a JSON object of word -> score (AFINN-165's format, {@code {"abandon": -2, ...}}).
 *
 * <p>Words: the completion lower-cased (Locale.ROOT), split on every character that is not a letter, except that an
 * apostrophe between two letters stays inside the word ("don't", "o'brien" are one word each; "'quoted'" is
 * "quoted"): AFINN lists contractions such as "don't" and "can't". Reward = the sum of the scores of the completion's
 * words (a word listed twice counts twice; unlisted words 0). A sum, not a mean: a mean would reward padding a short
 * positive text with neutral words less than a sum does, but it also makes one positive word in a one-word completion
 * the best possible answer; with max-new-tokens bounding the length, the sum keeps "more positive words is better",
 * which is what a DPO run on sentiment pairs is meant to learn. AFINN's multi-word entries ("cool stuff") never match
 * a single word and are ignored.
 */
public final class LexiconReward implements RewardModel {
  private static final long serialVersionUID = 1L;

  private final String spec;
  private final String fingerprint;
  private final Map<String, Double> scores;

  LexiconReward(String spec, String fingerprint, Map<String, Double> scores) {
    this.spec = spec;
    this.fingerprint = fingerprint;
    this.scores = scores;
  }

  /** Reads the lexicon at {@code path} (any Hadoop file system); errors name the file and the expected format. */
  public static LexiconReward read(String path, Configuration conf) {
    byte[] bytes;
    try {
      Path p = new Path(path);
      try (InputStream in = p.getFileSystem(conf).open(p)) {
        bytes = in.readAllBytes();
      }
    } catch (IOException e) {
      throw new IllegalArgumentException("--reward lexicon:" + path + ": cannot read it (" + e.getMessage()
          + "); give a word->score JSON file such as AFINN-165's afinn-165.json");
    }
    return parse("lexicon:" + path, new String(bytes, StandardCharsets.UTF_8));
  }

  static LexiconReward parse(String spec, String json) {
    JsonNode root;
    try {
      root = new ObjectMapper().readTree(json);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException("--reward " + spec + " is not valid JSON (" + e.getOriginalMessage()
          + "); expected an object of word -> score, e.g. {\"abandon\": -2}");
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("--reward " + spec + " is not a JSON object; expected word -> score, e.g."
          + " {\"abandon\": -2}");
    }
    Map<String, Double> scores = new HashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isNumber()) {
        throw new IllegalArgumentException("--reward " + spec + ": the score of \"" + e.getKey() + "\" is "
            + e.getValue() + ", not a number; expected word -> score, e.g. {\"abandon\": -2}");
      }
      scores.put(e.getKey().toLowerCase(Locale.ROOT), e.getValue().asDouble());
    }
    return new LexiconReward(spec, StageOutput.sha256(json), scores);
  }

  /** The completion's words as this reward sees them (lower-cased; letters and inner apostrophes). */
  public static List<String> words(String text) {
    String s = text.toLowerCase(Locale.ROOT);
    List<String> words = new ArrayList<>();
    StringBuilder word = new StringBuilder();
    for (int i = 0; i < s.length(); ) {
      int c = s.codePointAt(i);
      int next = i + Character.charCount(c);
      boolean innerApostrophe = (c == '\'' || c == '\u2019') && word.length() > 0 && next < s.length()
          && Character.isLetter(s.codePointAt(next));
      if (Character.isLetter(c)) {
        word.appendCodePoint(c);
      } else if (innerApostrophe) {
        word.append('\''); // the typographic apostrophe reads as AFINN's ASCII one
      } else if (word.length() > 0) {
        words.add(word.toString());
        word.setLength(0);
      }
      i = next;
    }
    if (word.length() > 0) words.add(word.toString());
    return words;
  }

  @Override
  public double score(String prompt, String completion) {
    double sum = 0;
    for (String w : words(completion)) sum += scores.getOrDefault(w, 0.0);
    return sum;
  }

  @Override
  public String spec() {
    return spec;
  }

  @Override
  public String fingerprint() {
    return fingerprint;
  }

  /** Number of words in the lexicon. */
  public int size() {
    return scores.size();
  }
}
