package dev.sparkdpo.data;

import static org.apache.spark.sql.functions.*;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.expressions.WindowSpec;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.hash.Murmur3_x86_32;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Near-duplicate pairs by banded MinHash LSH over character shingles of the pair's text (prompt, chosen and
 * rejected, lower-cased, runs of whitespace folded to one space), all on the executors:
 * <ol>
 *   <li><b>Signatures:</b> k = b·r min-hashes per pair, from the seeded universal family
 *       h_i(x) = (a_i·x + c_i) mod (2^61 − 1) over the 32-bit Murmur3 hashes x of the distinct shingles.</li>
 *   <li><b>Bands:</b> the signature is cut into b bands of r rows; two pairs are candidates when some band is equal
 *       in all r rows, so P(candidate | Jaccard s) = 1 − (1 − s^r)^b (the S-curve; see {@link Bands}).</li>
 *   <li><b>Buckets:</b> group by (band, band hash); a bucket of at most {@link #MAX_BUCKET} members is paired all to
 *       all, a larger one (a shared template) only star-wise to its smallest id, so no bucket costs more than
 *       MAX_BUCKET²/2 pairs; the capped buckets are counted and logged.</li>
 *   <li><b>Verification:</b> every candidate's exact Jaccard of the shingle sets is computed and kept only at or
 *       above the threshold, so no pair below the threshold is ever linked (precision 1).</li>
 *   <li><b>Connected components:</b> min-label propagation with pointer jumping on DataFrames until no label changes
 *       (lineage cut by a local checkpoint per round); each component keeps its smallest id.</li>
 * </ol>
 * The result is deterministic under the seed: the hash family is drawn from it and every later step is a set
 * operation.
 */
public final class NearDuplicates {
  /** Buckets larger than this are paired star-wise to their smallest id instead of all to all. */
  public static final int MAX_BUCKET = 200;
  /** The Mersenne prime 2^61 − 1 of the universal hash family. */
  static final long PRIME = (1L << 61) - 1;
  /** The most min-hashes the band search may choose: signature cost grows linearly in k. */
  static final int MAX_HASHES = 256;
  /** The shingle hash seed (the same as before the banded scheme, so shingles hash the same). */
  private static final int SHINGLE_SEED = 42;
  private static final Logger LOG = LoggerFactory.getLogger(NearDuplicates.class);

  private NearDuplicates() {}

  /**
   * b bands of r rows: k = b·r min-hashes; P(candidate | Jaccard s) = 1 − (1 − s^r)^b, whose steepest point (the
   * "midpoint") is near (1/b)^(1/r).
   */
  public record Bands(int bands, int rows) implements Serializable {
    public Bands {
      if (bands < 1) throw new IllegalArgumentException("near-dup bands must be >= 1, got " + bands);
      if (rows < 1) throw new IllegalArgumentException("near-dup rows per band must be >= 1, got " + rows);
    }

    public int hashes() {
      return bands * rows;
    }

    /** Probability that two pairs of Jaccard similarity s share at least one band. */
    public double candidateProbability(double s) {
      return 1 - Math.pow(1 - Math.pow(s, rows), bands);
    }

    public double midpoint() {
      return Math.pow(1.0 / bands, 1.0 / rows);
    }

    /**
     * The band shape for a threshold t. Recall first: P(candidate | t) ≥ 0.99 and the midpoint at or below t − 0.05,
     * so pairs at the threshold are missed at most 1% of the time and the curve is already high at t. Then cost:
     * among those shapes (k ≤ {@link #MAX_HASHES}), the fewest min-hashes k with P(candidate | t/2) ≤ 0.05, so that
     * pairs sharing only a template (Jaccard well below t) rarely become candidates; if none meets that, the
     * smallest P(candidate | t/2). For t = 0.9 this gives b = 8, r = 7 (k = 56, midpoint 0.743): the false-negative
     * probability is 0.55% at s = 0.9, 4.5% at 0.85 and 0.007% at 0.95; P(candidate) is 2.9% at 0.45, 0.18% at 0.3.
     * Thresholds too low to meet the recall bounds within k ≤ 256 take the shape of highest P(candidate | t).
     */
    public static Bands forThreshold(double t) {
      if (!(t > 0 && t <= 1)) throw new IllegalArgumentException("--near-dup-threshold must be in (0, 1], got " + t);
      Bands best = null;
      boolean bestPrecise = false;
      for (int r = 1; r <= MAX_HASHES; r++) {
        for (int b = 1; b * r <= MAX_HASHES; b++) {
          Bands c = new Bands(b, r);
          if (c.candidateProbability(t) < 0.99 || c.midpoint() > t - 0.05) continue;
          boolean precise = c.candidateProbability(t / 2) <= 0.05;
          if (best == null || (precise && !bestPrecise)
              || (precise && c.hashes() < best.hashes())
              || (!precise && !bestPrecise && c.candidateProbability(t / 2) < best.candidateProbability(t / 2))) {
            best = c;
            bestPrecise = precise;
          }
          break;   // larger b with the same r only adds hashes and false candidates
        }
      }
      if (best != null) return best;
      for (int r = 1; r <= MAX_HASHES; r++) {
        Bands c = new Bands(MAX_HASHES / r, r);
        if (best == null || c.candidateProbability(t) > best.candidateProbability(t)) best = c;
      }
      return best;
    }
  }

  /**
   * Returns {@code (id, kept_id, similarity)} for every pair that loses to a near-duplicate, similarity being the
   * exact Jaccard of its shingles with the kept pair's (below the threshold only when linked through a chain); the
   * input needs id, prompt, chosen, rejected.
   */
  public static Dataset<Row> find(Dataset<Row> pairs, double threshold, int shingle, long seed) {
    return find(pairs, threshold, shingle, seed, Bands.forThreshold(threshold), MAX_BUCKET);
  }

  static Dataset<Row> find(Dataset<Row> pairs, double threshold, int shingle, long seed, Bands shape, int maxBucket) {
    if (shingle < 1) throw new IllegalArgumentException("--near-dup-shingle must be >= 1, got " + shingle);
    if (maxBucket < 2) throw new IllegalArgumentException("near-dup bucket cap must be >= 2, got " + maxBucket);
    UserDefinedFunction jaccard = udf((UDF2<String, String, Double>) (a, b) ->
        jaccard(shingles(a, shingle), shingles(b, shingle)), DataTypes.DoubleType);
    Dataset<Row> docs = docs(pairs).persist(StorageLevel.MEMORY_AND_DISK_SER());
    Dataset<Row> buckets = null;
    try {
      buckets = buckets(docs, shingle, seed, shape).persist(StorageLevel.MEMORY_AND_DISK());
      Dataset<Row> candidates = candidates(buckets, maxBucket);

      // 4. verify: exact Jaccard of the shingle sets, at or above the threshold (1e-12 absorbs rounding)
      Dataset<Row> edges = withSimilarity(candidates, docs, jaccard, "a", "b")
          .where(col("similarity").geq(threshold - 1e-12)).select("a", "b")
          .localCheckpoint();
      long capped = buckets.where(col("n").gt(maxBucket)).select("band", "bucket").distinct().count();
      long edgeCount = edges.count();
      LOG.info("near-duplicates: b = {} bands x r = {} rows (k = {} min-hashes), {} verified edges, {} buckets over "
          + "{} members paired star-wise", shape.bands(), shape.rows(), shape.hashes(), edgeCount, capped, maxBucket);

      // 5. components, each labelled by its smallest id
      Dataset<Row> labels = components(edges);
      Dataset<Row> losers = labels.where(col("label").notEqual(col("id")))
          .select(col("id"), col("label").as("kept_id"));
      return withSimilarity(losers, docs, jaccard, "id", "kept_id")
          .select(col("id").as(PairSchema.ID), col("kept_id"), col("similarity"))
          .localCheckpoint();   // materialized here: docs is released below
    } finally {
      docs.unpersist();
      if (buckets != null) buckets.unpersist();
    }
  }

  /** {@code (id, text)}: the pair's prompt, chosen and rejected, normalized. */
  static Dataset<Row> docs(Dataset<Row> pairs) {
    UserDefinedFunction normalize = udf((UDF1<String, String>) NearDuplicates::normalize, DataTypes.StringType);
    return pairs.select(col(PairSchema.ID).as("id"), normalize.apply(concat_ws("\u0001",
        col(PairSchema.PROMPT), col(PairSchema.CHOSEN), col(PairSchema.REJECTED))).as("text"));
  }

  /**
   * Steps 1-2: {@code (id, band, bucket, n, first)} for every band of every pair that shares its bucket with
   * another, n being the bucket's size and first its smallest id.
   */
  static Dataset<Row> buckets(Dataset<Row> docs, int shingle, long seed, Bands shape) {
    long[][] family = hashFamily(shape.hashes(), seed);
    UserDefinedFunction bandHashes = udf((UDF1<String, long[]>) t -> bandHashes(signature(shingles(t, shingle), family),
        shape), DataTypes.createArrayType(DataTypes.LongType, false));
    WindowSpec bucket = Window.partitionBy("band", "bucket");
    return docs.select(col("id"), posexplode(bandHashes.apply(col("text"))).as(new String[] {"band", "bucket"}))
        .withColumn("n", count(lit(1)).over(bucket))
        .withColumn("first", min("id").over(bucket))
        .where(col("n").geq(2));
  }

  /**
   * Step 3: distinct candidate pairs {@code (a, b)}, a &lt; b: all pairs of a bucket of at most maxBucket members,
   * else each member with the bucket's smallest id, so a bucket costs at most max(maxBucket²/2, n − 1) pairs.
   */
  static Dataset<Row> candidates(Dataset<Row> buckets, int maxBucket) {
    Dataset<Row> small = buckets.where(col("n").leq(maxBucket)).select("band", "bucket", "id");
    Dataset<Row> allPairs = small.as("x").join(small.as("y"), col("x.band").equalTo(col("y.band"))
            .and(col("x.bucket").equalTo(col("y.bucket"))).and(col("x.id").lt(col("y.id"))))
        .select(col("x.id").as("a"), col("y.id").as("b"));
    Dataset<Row> star = buckets.where(col("n").gt(maxBucket).and(col("id").notEqual(col("first"))))
        .select(col("first").as("a"), col("id").as("b"));
    return allPairs.union(star).distinct();
  }

  /** Adds the exact Jaccard of the texts of {@code left} and {@code right} (both ids of {@code docs}). */
  private static Dataset<Row> withSimilarity(Dataset<Row> idPairs, Dataset<Row> docs, UserDefinedFunction jaccard,
      String left, String right) {
    Dataset<Row> l = docs.select(col("id").as("l_id"), col("text").as("l_text"));
    Dataset<Row> r = docs.select(col("id").as("r_id"), col("text").as("r_text"));
    return idPairs.join(l, col(left).equalTo(col("l_id"))).join(r, col(right).equalTo(col("r_id")))
        .select(col(left), col(right), jaccard.apply(col("l_text"), col("r_text")).as("similarity"));
  }

  /**
   * Connected components of an undirected edge list {@code (a, b)} as {@code (id, label)}, label = the component's
   * smallest id. Each round every node takes the smallest label among itself and its neighbours, then jumps to its
   * label's label (which is in the same component and no larger), so a chain of n nodes takes O(log n) rounds rather
   * than n. At a fixpoint labels agree across every edge, so each component carries one label, and its smallest id m
   * can only be labelled m: it is the fixpoint of the minimum. Each round's labels are checkpointed locally so the
   * lineage stays one round deep.
   */
  static Dataset<Row> components(Dataset<Row> edges) {
    Dataset<Row> labels = edges.select(col("a").as("id")).union(edges.select(col("b").as("id"))).distinct()
        .withColumn("label", col("id")).localCheckpoint();
    for (int round = 1; ; round++) {
      Dataset<Row> viaA = edges.join(labels, col("a").equalTo(col("id"))).select(col("b").as("id"), col("label"));
      Dataset<Row> viaB = edges.join(labels, col("b").equalTo(col("id"))).select(col("a").as("id"), col("label"));
      Dataset<Row> spread = labels.union(viaA).union(viaB).groupBy("id").agg(min("label").as("label"));
      Dataset<Row> hop = spread.select(col("id").as("hop_id"), col("label").as("hop_label"));
      Dataset<Row> next = spread.join(hop, col("label").equalTo(col("hop_id")))
          .select(col("id"), col("hop_label").as("label")).localCheckpoint();
      long changed = next.as("n").join(labels.as("o"), col("n.id").equalTo(col("o.id")))
          .where(col("n.label").notEqual(col("o.label"))).count();
      labels = next;
      if (changed == 0) {
        LOG.info("near-duplicates: components converged in {} rounds", round);
        return labels;
      }
    }
  }

  /** Lower-cased, runs of whitespace folded to one space, stripped. */
  static String normalize(String text) {
    return text == null ? "" : text.toLowerCase(Locale.ROOT).replaceAll("\\s+", " ").strip();
  }

  /** Sorted distinct 32-bit Murmur3 hashes of the character k-grams of normalized text; never empty. */
  static int[] shingles(String normalized, int k) {
    String t = normalized.length() < k ? String.format("%-" + k + "s", normalized) : normalized;
    int n = t.length() - k + 1;
    int[] h = new int[n];
    for (int i = 0; i < n; i++) {
      byte[] b = t.substring(i, i + k).getBytes(StandardCharsets.UTF_8);
      h[i] = Murmur3_x86_32.hashUnsafeBytes(b, Platform.BYTE_ARRAY_OFFSET, b.length, SHINGLE_SEED);
    }
    return Arrays.stream(h).sorted().distinct().toArray();
  }

  /** Exact Jaccard similarity of two sorted distinct sets. */
  static double jaccard(int[] a, int[] b) {
    int i = 0;
    int j = 0;
    int common = 0;
    while (i < a.length && j < b.length) {
      if (a[i] == b[j]) {
        common++;
        i++;
        j++;
      } else if (a[i] < b[j]) i++;
      else j++;
    }
    int union = a.length + b.length - common;
    return union == 0 ? 1.0 : (double) common / union;
  }

  /**
   * {a_i} and {c_i} of h_i(x) = (a_i·x + c_i) mod (2^61 − 1), drawn from the seed. a_i < 2^31 keeps a_i·x below 2^63
   * for 32-bit x, so the product needs no 128-bit arithmetic.
   */
  static long[][] hashFamily(int k, long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    long[] a = new long[k];
    long[] c = new long[k];
    for (int i = 0; i < k; i++) {
      a[i] = 1 + random.nextLong(Integer.MAX_VALUE);
      c[i] = random.nextLong(PRIME);
    }
    return new long[][] {a, c};
  }

  /** The k min-hashes of a shingle set (each folded to 32 bits: a false equality has probability 2^-32). */
  static int[] signature(int[] shingles, long[][] family) {
    long[] a = family[0];
    long[] c = family[1];
    long[] min = new long[a.length];
    Arrays.fill(min, Long.MAX_VALUE);
    for (int s : shingles) {
      long x = s & 0xffffffffL;
      for (int i = 0; i < a.length; i++) {
        long h = ((a[i] * x) % PRIME + c[i]) % PRIME;
        if (h < min[i]) min[i] = h;
      }
    }
    int[] sig = new int[a.length];
    for (int i = 0; i < a.length; i++) sig[i] = (int) (min[i] ^ (min[i] >>> 32));
    return sig;
  }

  /** One 64-bit hash per band of r rows; equal bands hash equal, unequal ones collide with probability ~2^-64. */
  static long[] bandHashes(int[] signature, Bands shape) {
    long[] out = new long[shape.bands()];
    for (int band = 0; band < shape.bands(); band++) {
      long h = 0x9E3779B97F4A7C15L * (band + 1);
      for (int row = 0; row < shape.rows(); row++) {
        h = mix(h ^ (signature[band * shape.rows() + row] & 0xffffffffL));
      }
      out[band] = h;
    }
    return out;
  }

  /** Murmur3's 64-bit finalizer. */
  private static long mix(long h) {
    h = (h ^ (h >>> 33)) * 0xff51afd7ed558ccdL;
    h = (h ^ (h >>> 33)) * 0xc4ceb9fe1a85ec53L;
    return h ^ (h >>> 33);
  }
}
