package dev.sparkdpo.jobs;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import dev.sparkdpo.data.NearDuplicates;
import java.io.BufferedOutputStream;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A synthetic flat JSONL preference corpus for benchmarks: English-like word salad with prompt ~40 words and
 * responses ~60 words, 30% of prompts and 20% of responses opening with one of a few shared templates (as real corpora
 * do: system-prompt boilerplate, "Sure, here is ..."), plus the hazards ingest must handle at rate: 1% exact
 * duplicates, 0.1% swapped (conflicting) pairs, 0.1% malformed lines, and a chosen fraction of <em>planted
 * near-duplicates</em>: an earlier pair re-emitted with a few words replaced, at a spread of known exact Jaccard
 * similarities (about 0.78-1.0), listed in a ground-truth file beside (not inside) the corpus directory. Public for
 * the end-to-end tests, which plant near-duplicates the same way.
 *
 * <p>Distinct fresh pairs are not near-duplicates of each other: with ~300 words drawn independently, two fresh pairs
 * share few 5-character shingles beyond their templates (Jaccard well under 0.5).
 */
public final class SyntheticPreferences {
  private static final String[] WORDS = (
      "the of and to a in is it you that he was for on are with as his they be at one have this from or had by "
      + "word but what some we can out other were all there when up use your how said an each she which do their "
      + "time if will way about many then them write would like so these her long make thing see him two has look "
      + "more day could go come did number sound no most people my over know water than call first who may down "
      + "side been now find any new work part take get place made live where after back little only round man year "
      + "came show every good me give our under name very through just form sentence great think say help low line "
      + "differ turn cause much mean before move right boy old too same tell does set three want air well also play "
      + "small end put home read hand port large spell add even land here must big high such follow act why ask men "
      + "change went light kind off need house picture try us again animal point mother world near build self earth "
      + "father head stand own page should country found answer school grow study still learn plant cover food sun "
      + "four between state keep eye never last let thought city tree cross farm hard start might story saw far sea "
      + "draw left late run while press close night real life few north open seem together next white children begin")
      .split(" ");
  /** Shared openings, fixed whatever the seed (templates are a property of the corpus style, not of a run). */
  private static final String[] PROMPT_TEMPLATES = templates(40, 15, 1);
  private static final String[] RESPONSE_TEMPLATES = templates(20, 8, 2);
  /** Recent fresh pairs a planted near-duplicate may copy: spreads originals and copies over shards. */
  private static final int POOL = 4096;
  /** Planted edits aim at a Jaccard drawn uniformly from [LOWEST_TARGET, 1): both sides of 0.85 and of 0.95. */
  static final double LOWEST_TARGET = 0.78;
  static final int SHINGLE = 5;

  /** {@code planted}: near-duplicate records written (each listed in the ground truth). */
  public record Summary(long records, long bytes, long planted) {}

  /** A planted near-duplicate: its record and the original's, as (file name, 1-based line), and their true Jaccard. */
  public record Planted(String file, long record, String originalFile, long originalRecord, double jaccard) {
    String tsv() {
      return file + '\t' + record + '\t' + originalFile + '\t' + originalRecord + '\t'
          + String.format(Locale.ROOT, "%.6f", jaccard);
    }

    public static Planted parse(String line) {
      String[] f = line.split("\t");
      return new Planted(f[0], Long.parseLong(f[1]), f[2], Long.parseLong(f[3]), Double.parseDouble(f[4]));
    }
  }

  /** A fresh pair where it was written; {@code used} once a hazard or a plant copied it (each original once). */
  private static final class Fresh {
    final String[] pair;
    final String file;
    final long record;
    boolean used;

    Fresh(String[] pair, String file, long record) {
      this.pair = pair;
      this.file = file;
      this.record = record;
    }
  }

  private SyntheticPreferences() {}

  static Summary write(Path dir, long pairs, int shards, long seed) throws IOException {
    return write(dir, pairs, shards, seed, 0, null);
  }

  /**
   * Writes the corpus to {@code dir}; with {@code plantedFraction} > 0, that fraction of records are planted
   * near-duplicates, listed one per line ({@link Planted#tsv()}) in {@code groundTruth}, which must lie outside dir.
   */
  public static Summary write(Path dir, long pairs, int shards, long seed, double plantedFraction, Path groundTruth)
      throws IOException {
    if (plantedFraction < 0 || plantedFraction > 0.5) {
      throw new IllegalArgumentException("--planted-fraction must be in [0, 0.5], got " + plantedFraction);
    }
    if (plantedFraction > 0 && groundTruth == null) {
      throw new IllegalArgumentException("planted near-duplicates need a ground-truth file");
    }
    Files.createDirectories(dir);
    SplittableRandom rnd = new SplittableRandom(seed);
    JsonFactory json = new JsonFactory();
    List<Fresh> pool = new ArrayList<>();
    long records = 0;
    long bytes = 0;
    long planted = 0;
    try (BufferedWriter truth = groundTruth == null ? null : Files.newBufferedWriter(groundTruth)) {
      for (int s = 0; s < shards; s++) {
        String name = String.format("part-%05d.jsonl", s);
        Path file = dir.resolve(name);
        long n = pairs / shards + (s < pairs % shards ? 1 : 0);
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
          Fresh previous = null;                 // the last fresh pair, while no hazard has used it
          for (long i = 0; i < n; i++) {
            long line = i + 1;
            Fresh original;
            double hazard = rnd.nextDouble();
            String[] pair;
            if (hazard > 0.999) {
              out.write("{\"prompt\": \"broken line\n".getBytes(StandardCharsets.UTF_8));
              previous = null;
              records++;
              continue;
            } else if (previous != null && hazard < 0.01) {
              pair = previous.pair;                                               // exact duplicate
              previous.used = true;
              previous = null;
            } else if (previous != null && hazard < 0.011) {
              pair = new String[] {previous.pair[0], previous.pair[2], previous.pair[1]};   // swapped: conflicting
              previous.used = true;
              previous = null;
            } else if (hazard >= 0.011 && hazard < 0.011 + plantedFraction
                && (original = takeOriginal(pool, rnd)) != null) {
              pair = edited(original.pair, rnd);
              truth.write(new Planted(name, line, original.file, original.record, jaccard(original.pair, pair)).tsv());
              truth.write('\n');
              planted++;
              previous = null;
            } else {
              pair = fresh(rnd);
              previous = new Fresh(pair, name, line);
              if (pool.size() == POOL) pool.set(rnd.nextInt(POOL), previous);
              else pool.add(previous);
            }
            writePair(json, out, pair);
            records++;
          }
        }
        bytes += Files.size(file);
      }
    }
    return new Summary(records, bytes, planted);
  }

  /**
   * Takes a random unused pair out of the pool (marked used: each original is copied once, so no two plants of one
   * original link through each other), dropping used ones it meets; null when none is left.
   */
  private static Fresh takeOriginal(List<Fresh> pool, SplittableRandom rnd) {
    while (!pool.isEmpty()) {
      int at = rnd.nextInt(pool.size());
      Fresh f = pool.get(at);
      pool.set(at, pool.get(pool.size() - 1));   // swap-remove: O(1), the pool's order does not matter
      pool.remove(pool.size() - 1);
      if (!f.used) {
        f.used = true;
        return f;
      }
    }
    return null;
  }

  private static void writePair(JsonFactory json, OutputStream out, String[] pair) throws IOException {
    try (JsonGenerator g = json.createGenerator(out)) {
      g.configure(JsonGenerator.Feature.AUTO_CLOSE_TARGET, false);
      g.writeStartObject();
      g.writeStringField("prompt", pair[0]);
      g.writeStringField("chosen", pair[1]);
      g.writeStringField("rejected", pair[2]);
      g.writeEndObject();
    }
    out.write('\n');
  }

  private static String[] fresh(SplittableRandom rnd) {
    String prompt = words(rnd, 40);
    String chosen = words(rnd, 60);
    String rejected = words(rnd, 60);
    if (rnd.nextDouble() < 0.3) prompt = PROMPT_TEMPLATES[rnd.nextInt(PROMPT_TEMPLATES.length)] + ' ' + prompt;
    if (rnd.nextDouble() < 0.2) chosen = RESPONSE_TEMPLATES[rnd.nextInt(RESPONSE_TEMPLATES.length)] + ' ' + chosen;
    return new String[] {prompt, chosen, rejected};
  }

  /**
   * {@code original} with words replaced at random places, as many as should bring the Jaccard to a target drawn from
   * [LOWEST_TARGET, 1): a replaced word of w letters changes about w + 4 of the ~n shingles on each side, so m of them
   * give J ≈ (n − 9m) / (n + 9m). At least one word changes, so the copy is never an exact duplicate; the true
   * Jaccard is computed afterwards, not assumed.
   */
  static String[] edited(String[] original, SplittableRandom rnd) {
    double target = LOWEST_TARGET + (1 - LOWEST_TARGET) * rnd.nextDouble();
    int shingles = original[0].length() + original[1].length() + original[2].length();
    int edits = Math.max(1, (int) Math.round(shingles * (1 - target) / (1 + target) / 9));
    String[][] words = {original[0].split(" "), original[1].split(" "), original[2].split(" ")};
    int total = words[0].length + words[1].length + words[2].length;
    for (int e = 0; e < edits; e++) {
      int at = rnd.nextInt(total);
      int field = at < words[0].length ? 0 : at < words[0].length + words[1].length ? 1 : 2;
      int w = at - (field > 0 ? words[0].length : 0) - (field > 1 ? words[1].length : 0);
      String replacement;
      do replacement = WORDS[rnd.nextInt(WORDS.length)]; while (replacement.equals(words[field][w]));
      words[field][w] = replacement;
    }
    return new String[] {String.join(" ", words[0]), String.join(" ", words[1]), String.join(" ", words[2])};
  }

  /** The exact Jaccard NearDuplicates computes for these two pairs (its text, normalization and shingles). */
  static double jaccard(String[] a, String[] b) {
    return NearDuplicates.similarity(a[0], a[1], a[2], b[0], b[1], b[2], SHINGLE);
  }

  private static String[] templates(int count, int words, long seed) {
    SplittableRandom rnd = new SplittableRandom(seed);
    String[] out = new String[count];
    for (int i = 0; i < count; i++) {
      StringBuilder sb = new StringBuilder();
      for (int w = 0; w < words; w++) sb.append(w > 0 ? " " : "").append(WORDS[rnd.nextInt(WORDS.length)]);
      out[i] = sb.append(':').toString();
    }
    return out;
  }

  private static String words(SplittableRandom rnd, int mean) {
    int n = mean / 2 + rnd.nextInt(mean);
    StringBuilder sb = new StringBuilder(n * 6);
    for (int i = 0; i < n; i++) {
      if (i > 0) sb.append(' ');
      sb.append(WORDS[rnd.nextInt(WORDS.length)]);
    }
    return sb.append('.').toString();
  }
}
