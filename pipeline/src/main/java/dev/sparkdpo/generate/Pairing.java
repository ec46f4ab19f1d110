package dev.sparkdpo.generate;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * How a prompt's scored completions become preference pairs. The completions are the usable, distinct ones (blank and
 * repeated texts are removed before, so no pair has two equal responses); a pair is (chosen, rejected) with chosen's
 * reward strictly higher. Ties are never paired (they state no preference), and a pair whose reward gap is below
 * {@code minRewardGap} is dropped (a small gap is mostly the reward's noise).
 */
public enum Pairing {
  /** The highest-rewarded completion vs the lowest (the first of each in sample order): at most one pair a prompt. */
  BEST_WORST,
  /** Every two completions whose rewards differ: up to K(K-1)/2 pairs a prompt. */
  ALL;

  /** The option's spelling: best-worst, all. */
  public String code() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  /** best-worst or all; anything else is an error naming the option. */
  public static Pairing parse(String code) {
    for (Pairing p : values()) if (p.code().equals(code)) return p;
    throw new IllegalArgumentException("--pairing " + code + ": use best-worst or all");
  }

  /** A pair of completions by index: {@code chosen} has the higher reward. */
  public record Pair(int chosen, int rejected) {}

  /** The pairs of one prompt, and the candidate pairs dropped as ties or for a gap below the minimum. */
  public record Result(List<Pair> pairs, int ties, int belowMinGap) {}

  /** Pairs the completions with these rewards (index = completion). */
  public Result pairs(double[] rewards, double minRewardGap) {
    List<Pair> pairs = new ArrayList<>();
    int[] dropped = new int[2];
    if (this == BEST_WORST) {
      if (rewards.length >= 2) {
        int best = 0, worst = 0;
        for (int i = 1; i < rewards.length; i++) {
          if (rewards[i] > rewards[best]) best = i;
          if (rewards[i] < rewards[worst]) worst = i;
        }
        consider(rewards, best, worst, minRewardGap, pairs, dropped);
      }
    } else {
      for (int i = 0; i < rewards.length; i++) {
        for (int j = i + 1; j < rewards.length; j++) {
          if (rewards[i] >= rewards[j]) consider(rewards, i, j, minRewardGap, pairs, dropped);
          else consider(rewards, j, i, minRewardGap, pairs, dropped);
        }
      }
    }
    return new Result(pairs, dropped[0], dropped[1]);
  }

  private static void consider(double[] rewards, int chosen, int rejected, double minGap, List<Pair> pairs,
      int[] dropped) {
    double gap = rewards[chosen] - rewards[rejected];
    if (gap == 0) dropped[0]++;
    else if (gap < minGap) dropped[1]++;
    else pairs.add(new Pair(chosen, rejected));
  }
}
