package dev.sparkdpo.data.formats;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PreferencePair;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * One prompt with scored completions, turned into pairs.
 *
 * <ul>
 *   <li>{@code {"prompt": "...", "completions": [{"text": "...", "score": 7.5}, ...]}}</li>
 *   <li>SHP: {@code history} (the prompt), {@code human_ref_A}, {@code human_ref_B}, and {@code score_A}/{@code score_B}
 *       or, without scores, {@code labels} (1 = A preferred).</li>
 * </ul>
 * By default the best completion is paired with each worse one; {@link FormatOptions#rankedAllPairs()} pairs every
 * better/worse combination. Ties never make a pair; {@code minScoreGap} and {@code minScoreRatio} filter weak ones.
 */
final class RankedFormat {
  private RankedFormat() {}

  record Scored(String text, double score, int index) {}

  static List<PreferencePair> pairs(JsonNode record, FormatOptions options) {
    String prompt;
    List<Scored> completions = new ArrayList<>();
    if (record.has("completions")) {
      prompt = Fields.string(record, "prompt", "ranked");
      JsonNode list = record.get("completions");
      if (!list.isArray()) {
        throw new RecordException(QuarantineReason.WRONG_TYPE,
            "field 'completions' is " + Fields.typeName(list) + ", expected a list of {text, score}");
      }
      for (int i = 0; i < list.size(); i++) {
        JsonNode c = list.get(i);
        String where = "completions[" + i + "]";
        if (!c.isObject()) {
          throw new RecordException(QuarantineReason.WRONG_TYPE, where + " is " + Fields.typeName(c) + ", expected {text, score}");
        }
        completions.add(new Scored(Fields.string(c, "text", "ranked (" + where + ")"), Fields.number(c, "score", where), i));
      }
    } else {
      prompt = Fields.string(record, "history", "ranked (SHP)");
      String a = Fields.string(record, "human_ref_A", "ranked (SHP)");
      String b = Fields.string(record, "human_ref_B", "ranked (SHP)");
      double scoreA;
      double scoreB;
      if (present(record, "score_A") && present(record, "score_B")) {
        scoreA = Fields.number(record, "score_A", "the record");
        scoreB = Fields.number(record, "score_B", "the record");
      } else {
        scoreA = Fields.number(record, "labels", "the record");
        scoreB = 1 - scoreA;
      }
      completions.add(new Scored(a, scoreA, 0));
      completions.add(new Scored(b, scoreB, 1));
    }
    if (completions.size() < 2) {
      throw new RecordException(QuarantineReason.NO_PREFERENCE,
          "a ranked record needs at least 2 completions, found " + completions.size());
    }
    completions.sort(Comparator.comparingDouble(Scored::score).reversed().thenComparingInt(Scored::index));

    List<PreferencePair> pairs = new ArrayList<>();
    int betterCount = options.rankedAllPairs() ? completions.size() : 1;
    for (int i = 0; i < betterCount; i++) {
      for (int j = i + 1; j < completions.size(); j++) {
        Scored better = completions.get(i);
        Scored worse = completions.get(j);
        if (strongEnough(better.score(), worse.score(), options)) {
          pairs.add(new PreferencePair(prompt, better.text(), worse.text()));
        }
      }
    }
    if (pairs.isEmpty()) {
      throw new RecordException(QuarantineReason.NO_PREFERENCE,
          "no two completions differ enough in score (ties never pair; min score gap " + options.minScoreGap()
              + ", min score ratio " + options.minScoreRatio() + ")");
    }
    return pairs;
  }

  /** Non-null and, for CSV, not an empty cell. */
  private static boolean present(JsonNode record, String field) {
    JsonNode v = record.get(field);
    return v != null && !v.isNull() && !(v.isTextual() && v.textValue().isBlank());
  }

  private static boolean strongEnough(double better, double worse, FormatOptions options) {
    if (!(better > worse) || better - worse < options.minScoreGap()) return false;
    return options.minScoreRatio() <= 1 || worse <= 0 || better / worse >= options.minScoreRatio();
  }
}
