package dev.sparkdpo.eval;

import java.io.Serializable;
import org.apache.hadoop.conf.Configuration;

/**
 * Scores a completion of a prompt (higher is better). Built on the driver from a {@code --reward} spec and shipped to
 * the executors (Serializable: an implementation carries what it needs, e.g. the lexicon's word scores, so executors
 * read no file).
 */
public interface RewardModel extends Serializable {
  /** The built-in kinds of {@link #parse}. */
  String KINDS = "lexicon:<word->score JSON> (e.g. AFINN-165), none (every reward 0)";

  double score(String prompt, String completion);

  /** The spec this model was parsed from (eval.json's settings.reward). */
  String spec();

  /** A hash of what the scores depend on (the lexicon's bytes), part of the evaluate stage's fingerprint. */
  String fingerprint();

  /** {@code lexicon:<path>} (any Hadoop file system) or {@code none}; anything else is a one-line error. */
  static RewardModel parse(String spec, Configuration conf) {
    if (spec == null || spec.isBlank()) throw new IllegalArgumentException("--reward is empty; built-in kinds: " + KINDS);
    if (spec.equals("none")) return new NoReward();
    int colon = spec.indexOf(':');
    String kind = colon < 0 ? spec : spec.substring(0, colon);
    if (kind.equals("lexicon")) {
      String path = spec.substring(colon + 1);
      if (colon < 0 || path.isBlank()) {
        throw new IllegalArgumentException("--reward lexicon needs a file: lexicon:<path to a word->score JSON>");
      }
      return LexiconReward.read(path, conf);
    }
    throw new IllegalArgumentException("--reward " + spec + ": unknown kind " + kind + "; built-in kinds: " + KINDS);
  }

  /** Every completion scores 0 (no reward model: win rate is then 0.5 by definition). */
  record NoReward() implements RewardModel {
    @Override
    public double score(String prompt, String completion) {
      return 0;
    }

    @Override
    public String spec() {
      return "none";
    }

    @Override
    public String fingerprint() {
      return "none";
    }
  }
}
