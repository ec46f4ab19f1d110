package dev.sparkdpo.data.formats;

import java.io.Serializable;

/**
 * Settings that change how records become pairs.
 *
 * @param rankedAllPairs ranked records: every ordered pair (true) or best vs each worse completion (false)
 * @param minScoreGap ranked records: a pair needs {@code score(better) - score(worse) >= minScoreGap} (and > 0)
 * @param minScoreRatio ranked records: a pair needs {@code score(better) / score(worse) >= minScoreRatio} when
 *     both scores are positive (SHP's score ratio); 1 = off
 */
public record FormatOptions(boolean rankedAllPairs, double minScoreGap, double minScoreRatio) implements Serializable {
  public static final FormatOptions DEFAULTS = new FormatOptions(false, 0.0, 1.0);
}
