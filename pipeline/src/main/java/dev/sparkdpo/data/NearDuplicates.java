package dev.sparkdpo.data;

import static org.apache.spark.sql.functions.*;

import java.io.Serializable;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.SplittableRandom;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.rdd.PartitionPruningRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.api.java.UDF2;
import org.apache.spark.sql.api.java.UDF3;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.unsafe.types.UTF8String;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;
import scala.Tuple3;

/**
 * Near-duplicate pairs by banded MinHash LSH over character shingles of the pair's text (prompt, chosen and
 * rejected, lower-cased, runs of whitespace folded to one space), all on the executors:
 * <ol>
 *   <li><b>Signatures:</b> k = b·r min-hashes per pair by one-permutation hashing with densification (one seeded
 *       64-bit hash per shingle; see {@link #signature}), computed in the same pass as the band keys.</li>
 *   <li><b>Bands:</b> the signature is cut into b bands of r rows; two pairs are candidates when some band is equal
 *       in all r rows, so P(candidate | Jaccard s) = 1 − (1 − s^r)^b (the S-curve; see {@link Bands}).</li>
 *   <li><b>Buckets:</b> one shuffle of (band key, id hash) as blocks of primitive longs; per bucket partition the
 *       keys met more than once are sorted, so a bucket is a run of rows; a bucket of at most {@link #MAX_BUCKET}
 *       members is paired all to all, a larger one (a shared template) only star-wise to its smallest id hash, so no bucket costs more than
 *       MAX_BUCKET²/2 pairs; the capped buckets are counted and logged.</li>
 *   <li><b>Verification:</b> every candidate's exact Jaccard of the shingle sets is computed and kept only at or
 *       above the threshold, so no pair below the threshold is ever linked (precision 1). Only the texts of pairs in
 *       some candidate pair are read again and shuffled for it (a few percent of the corpus), not every text. Up to
 *       {@link #BROADCAST_HASHES} / 2 candidates (the usual case) the candidate pairs are broadcast as a
 *       {@link CandidateIndex}: the re-read keeps the texts whose id hash it holds, and one shuffle of them keyed by
 *       candidate pair brings both texts of a pair together; beyond that, a semi-join and two joins. When the caller
 *       gives each pair a {@link #POSITION} and a {@link Reread} (Ingest: file and record), the band shuffle also
 *       carries one (id hash, position) row per pair, the positions of the candidates' id hashes are collected from
 *       it, and only the records there are parsed again instead of the whole input.</li>
 *   <li><b>Connected components:</b> over the verified edges only; each component keeps its smallest id. Up to
 *       {@link #LOCAL_EDGES} edges (the usual case: a few percent of the pairs) by union-find in one executor task,
 *       which also takes each loser's similarity from its edge; beyond that by min-label propagation with pointer
 *       jumping on DataFrames until no label changes (lineage cut by a local checkpoint per round). With no
 *       candidates or no verified edges the later steps are skipped.</li>
 * </ol>
 * The result is deterministic under the seed: the permutation is drawn from it, buckets are sorted by id before
 * pairing, and every later step is a set operation, so it does not depend on partitioning or the number of cores.
 */
public final class NearDuplicates {
  /** Buckets larger than this are paired star-wise to their smallest id instead of all to all. */
  public static final int MAX_BUCKET = 200;
  /** The most min-hashes the band search may choose (a signature of k ints per pair lives in the first pass). */
  static final int MAX_HASHES = 256;
  /** The highest P(candidate) the band choice allows at half the threshold (see {@link Bands#forThreshold}). */
  static final double BACKGROUND = 1e-3;
  /** The shingle hash's starting value (any constant: the seeded part is the permutation over the shingles). */
  private static final long SHINGLE_SEED = 42;
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
     * so pairs at the threshold are missed at most 1% of the time and the curve is already high at t. Then precision:
     * P(candidate | t/2) ≤ {@link #BACKGROUND}, because false candidates grow with the square of the corpus: the
     * bench corpus's distinct pairs sit at Jaccard 0.1-0.2 of each other, and b = 8, r = 7 (the fewest hashes with
     * P(candidate | t/2) ≤ 0.05) made 32,674 candidates for 5,484 true edges at 200k pairs and would make ~1M at 1M
     * pairs; b = 14, r = 12 makes ~50. Then cost: the fewest bands b (each pair shuffles one row per band; min-hashes
     * cost one hash per shingle whatever k, see {@link #signature}), then the fewest min-hashes. If no shape within
     * k ≤ {@link #MAX_HASHES} meets the precision bound, the smallest P(candidate | t/2). For t = 0.9 this gives
     * b = 14, r = 12 (k = 168, midpoint 0.803): the false-negative probability is 0.96% at s = 0.9, 11.7% at 0.85
     * and 0.002% at 0.95; P(candidate) is 0.1% at 0.45 and 6e-8 at 0.2.
     */
    public static Bands forThreshold(double t) {
      if (!(t > 0 && t <= 1)) throw new IllegalArgumentException("--near-dup-threshold must be in (0, 1], got " + t);
      Bands best = null;
      boolean bestPrecise = false;
      for (int r = 1; r <= MAX_HASHES; r++) {
        for (int b = 1; b * r <= MAX_HASHES; b++) {
          Bands c = new Bands(b, r);
          if (c.candidateProbability(t) < 0.99 || c.midpoint() > t - 0.05) continue;
          boolean precise = c.candidateProbability(t / 2) <= BACKGROUND;
          if (best == null || (precise && !bestPrecise)
              || (precise && (c.bands() < best.bands() || c.bands() == best.bands() && c.hashes() < best.hashes()))
              || (!precise && !bestPrecise && c.candidateProbability(t / 2) < best.candidateProbability(t / 2))) {
            best = c;
            bestPrecise = precise;
          }
          break;   // larger b with the same r only adds band rows and false candidates
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
   * input needs id, prompt, chosen, rejected. The input is read twice (signatures, then the texts of the candidate
   * pairs only), so a cheap-to-recompute input (Ingest's file scan) needs no caching.
   */
  public static Dataset<Row> find(Dataset<Row> pairs, double threshold, int shingle, long seed) {
    return find(pairs, threshold, shingle, seed, null);
  }

  /**
   * As {@link #find(Dataset, double, int, long)}, but the second read is {@code reread} at the candidates' positions
   * (the input then also needs {@link #POSITION}): only the records of the candidates are parsed again, not the whole
   * input. Null: the input is read again and filtered.
   */
  public static Dataset<Row> find(Dataset<Row> pairs, double threshold, int shingle, long seed, Reread reread) {
    return find(pairs, threshold, shingle, seed, Bands.forThreshold(threshold), MAX_BUCKET, BROADCAST_HASHES / 2,
        LOCAL_EDGES, reread);
  }

  /** The input's column that says where a pair is, for a {@link Reread}: one long, chosen by the caller. */
  public static final String POSITION = "position";

  /**
   * The second read of the input, by position: given the sorted distinct {@link #POSITION}s of the candidates' id
   * hashes, a Dataset of id, prompt, chosen, rejected holding every row of the input at those positions with the
   * same values (rows at other positions may come along: they are filtered out by id hash, as in a full re-read).
   */
  @FunctionalInterface
  public interface Reread {
    Dataset<Row> at(long[] positions);
  }

  static Dataset<Row> find(Dataset<Row> pairs, double threshold, int shingle, long seed, Bands shape, int maxBucket,
      long indexedCandidates, long localEdges) {
    return find(pairs, threshold, shingle, seed, shape, maxBucket, indexedCandidates, localEdges, null);
  }

  /**
   * {@code indexedCandidates}: the most candidate pairs verified through a broadcast {@link CandidateIndex};
   * {@code localEdges}: the most verified edges whose components are found in one task (see {@link #LOCAL_EDGES});
   * {@code reread}: the second read by position (used with a candidate index), or null.
   */
  static Dataset<Row> find(Dataset<Row> pairs, double threshold, int shingle, long seed, Bands shape, int maxBucket,
      long indexedCandidates, long localEdges, Reread reread) {
    if (shingle < 1) throw new IllegalArgumentException("--near-dup-shingle must be >= 1, got " + shingle);
    if (maxBucket < 2) throw new IllegalArgumentException("near-dup bucket cap must be >= 2, got " + maxBucket);
    long t0 = System.nanoTime();
    SparkSession spark = pairs.sparkSession();
    LongAccumulator capped = spark.sparkContext().longAccumulator("near-dup buckets paired star-wise");

    // 1-3. signatures, band keys and bucket pairs: one pass over the text, one shuffle of (key, id hash) (and, for a
    // reread, of (id hash, position) into partitions of their own, read after the candidates are known)
    int buckets = bucketPartitions(pairs);
    int positionPartitions = reread == null ? 0 : spark.sparkContext().defaultParallelism();
    JavaPairRDD<Integer, long[]> blocks = bandBlocks(pairs, shingle, seed, shape, buckets, positionPartitions);
    Dataset<Row> candidates = candidates(spark, partitions(blocks, 0, buckets), maxBucket, capped).localCheckpoint();
    long candidateCount = candidates.count();
    LOG.info("near-duplicates: b = {} bands x r = {} rows (k = {} one-permutation min-hashes): {} candidate pairs, {} "
        + "buckets over {} members paired star-wise ({} s)", shape.bands(), shape.rows(), shape.hashes(),
        candidateCount, capped.value(), maxBucket, seconds(t0));
    if (candidateCount == 0) return spark.createDataFrame(List.of(), LOSERS);
    String partitions = spark.conf().get("spark.sql.shuffle.partitions");
    Dataset<Row> texts = null;
    Broadcast<CandidateIndex> indexed = null;
    try {
      spark.conf().set("spark.sql.shuffle.partitions", smallShuffles(spark, candidateCount, partitions));
      // 4. verify on the exact Jaccard: only the candidates' texts are read again and shuffled, not the corpus's
      if (candidateCount <= indexedCandidates) {
        indexed = JavaSparkContext.fromSparkContext(spark.sparkContext()).broadcast(CandidateIndex.of(candidates));
      }
      Dataset<Row> source = pairs;
      String reparsed = "the whole input";
      if (indexed != null && reread != null) {
        // only the candidates' records are parsed again: at 1M pairs the full re-read parsed and normalized every
        // record to keep the ~10% in candidate pairs (5.0 s)
        long[] positions = candidatePositions(partitions(blocks, buckets, buckets + positionPartitions), indexed);
        source = reread.at(positions);
        reparsed = positions.length + " positions";
      }
      // with the index the re-read feeds the verification's shuffle directly, read once: caching it first (a
      // columnar cache with compression stats over the texts, a count job) cost ~1.5 s of CPU at 1M pairs. The joins
      // of the fallback read it twice, so there it is cached
      texts = candidateTexts(source, candidates, indexed);
      if (indexed == null) texts = texts.persist(StorageLevel.MEMORY_AND_DISK_SER());
      // kept with their similarity, ends in id order: most losers' kept pair is their own edge's other end
      Dataset<Row> edges = (indexed != null ? edgesByPair(texts, indexed, shingle, threshold)
          : withSimilarity(candidates, texts, shingle, "a", "b", "h")
              .where(col("similarity").geq(threshold - 1e-12))
              .select(least(col("a"), col("b")).as("a"), greatest(col("a"), col("b")).as("b"), col("similarity")))
          .localCheckpoint();
      long edgeCount = edges.count();
      LOG.info("near-duplicates: {} verified edges among {} candidate pairs, their texts read from {} ({} s)",
          edgeCount, candidateCount, reparsed, seconds(t0));
      if (edgeCount == 0) return spark.createDataFrame(List.of(), LOSERS);

      // 5. components, each labelled by its smallest id; the losers (id, kept_id, similarity or null)
      LongAccumulator chained = spark.sparkContext().longAccumulator("near-dup losers linked through a chain");
      Dataset<Row> known = edgeCount <= localEdges ? losersInOneTask(edges, chained) : distributedLosers(edges, chained);
      Dataset<Row> scored = known.where(col("similarity").isNotNull()).select("id", "kept_id", "similarity");
      // chain-linked losers are rare (none in the bench corpus): skip the join when there are none, which shuffled all
      // candidate texts twice for nothing (2.5 s at 1M pairs on a loaded machine)
      if (chained.value() > 0) {
        Dataset<Row> unscored = known.where(col("similarity").isNull()).select("id", "kept_id");
        // texts is read again here unless cached (the fallback): rare enough not to cache it for every run
        scored = scored.union(withSimilarity(unscored, texts, shingle, "id", "kept_id", "id"));
        scored = scored.localCheckpoint();   // materialized here: texts is released below
      }
      Dataset<Row> result = scored.select(col("id").as(PairSchema.ID), col("kept_id"), col("similarity"));
      LOG.info("near-duplicates: components done ({} s)", seconds(t0));
      return result;
    } finally {
      if (texts != null) texts.unpersist();
      if (indexed != null) indexed.destroy();
      spark.conf().set("spark.sql.shuffle.partitions", partitions);
    }
  }

  /**
   * Components up to this many verified edges are found by union-find in one executor task (~300 bytes of heap per
   * edge: ~150 MB at the limit) instead of by label propagation: the bench corpus has ~5.5k edges at 200k pairs and
   * ~27k at 1M, where the propagation's rounds (each 3 joins, a group-by, a checkpoint and a count) and the join back
   * to the edges for the similarity cost ~8 s of small jobs at 1M pairs for what one task does in milliseconds.
   * Larger edge sets keep the distributed path, so no single task or the driver ever holds an unbounded graph.
   */
  static final long LOCAL_EDGES = 500_000;

  /**
   * The losers {@code (id, kept_id, similarity)} of the verified edges {@code (a, b, similarity)}, a &lt; b, by
   * union-find in one task (the edges' partitions coalesced, no shuffle), each component's root being its smallest id
   * in Spark's string order, as in {@link #components}. The similarity comes from the edge (kept, loser) when there
   * is one, else it is null and counted in {@code chained}. Checkpointed: one job.
   */
  static Dataset<Row> losersInOneTask(Dataset<Row> edges, LongAccumulator chained) {
    JavaRDD<Row> rows = edges.select("a", "b", "similarity").javaRDD().coalesce(1).mapPartitions(it -> {
      UnionFind components = new UnionFind();
      Map<Edge, Double> similarity = new HashMap<>();
      it.forEachRemaining(r -> {
        components.union(r.getString(0), r.getString(1));
        similarity.put(new Edge(r.getString(0), r.getString(1)), r.getDouble(2));
      });
      List<Row> out = new ArrayList<>();
      for (String id : components.ids()) {
        String kept = components.find(id);
        if (kept.equals(id)) continue;
        Double s = similarity.get(new Edge(kept, id));
        if (s == null) chained.add(1);
        out.add(RowFactory.create(id, kept, s));
      }
      return out.iterator();
    });
    return edges.sparkSession().createDataFrame(rows, KNOWN).localCheckpoint();
  }

  /** Spark's order of strings (by UTF-8 bytes, i.e. code points), which least, greatest and min follow. */
  static int compareIds(String x, String y) {
    return UTF8String.fromString(x).compareTo(UTF8String.fromString(y));
  }

  /** An undirected verified edge, a &lt; b. */
  private record Edge(String a, String b) {}

  /** Union-find over string ids whose roots are the smallest ids of their sets in Spark's (UTF-8 byte) order. */
  static final class UnionFind {
    private final Map<String, String> parent = new HashMap<>();

    void union(String x, String y) {
      String rx = find(x);
      String ry = find(y);
      int c = compareIds(rx, ry);
      if (c < 0) parent.put(ry, rx);
      else if (c > 0) parent.put(rx, ry);
    }

    /** The root of x (x itself when new), halving the path on the way. */
    String find(String x) {
      parent.putIfAbsent(x, x);
      String p;
      while (!(p = parent.get(x)).equals(x)) {
        String gp = parent.get(p);
        parent.put(x, gp);
        x = gp;
      }
      return x;
    }

    List<String> ids() {
      return new ArrayList<>(parent.keySet());
    }
  }

  /**
   * The losers as {@link #losersInOneTask} finds them, for edge sets too large for one task: {@link #components},
   * then a join back to the edges for the similarity (kept id &lt; loser id, so a = kept); measured 2.5 s at 1M pairs
   * when computed for every loser instead.
   */
  private static Dataset<Row> distributedLosers(Dataset<Row> edges, LongAccumulator chained) {
    Dataset<Row> losers = components(edges.select("a", "b")).where(col("label").notEqual(col("id")))
        .select(col("id"), col("label").as("kept_id"));
    Dataset<Row> known = losers.join(edges, col("kept_id").equalTo(col("a")).and(col("id").equalTo(col("b"))), "left")
        .select("id", "kept_id", "similarity").localCheckpoint();
    chained.add(known.where(col("similarity").isNull()).count());
    return known;
  }

  /**
   * Shuffle partitions for the phases after the candidates (verification, components): one per 100k candidate
   * pairs, at least the default parallelism, at most the session's setting. Each of them is a few kilobytes; with
   * the default 200, every one of the ~10 small shuffles of the components wrote and scheduled 200 blocks per task.
   */
  static String smallShuffles(SparkSession spark, long candidates, String configured) {
    long n = Math.max(spark.sparkContext().defaultParallelism(), candidates / 100_000);
    return Long.toString(Math.min(n, Long.parseLong(configured)));
  }

  /** The result's schema: the losing pair's id, the kept pair's id, their exact Jaccard. */
  static final StructType LOSERS = new StructType().add(PairSchema.ID, DataTypes.StringType, false)
      .add("kept_id", DataTypes.StringType, false).add("similarity", DataTypes.DoubleType, false);
  /** The losers before the chain-linked ones are scored: similarity is null for them. */
  private static final StructType KNOWN = new StructType().add("id", DataTypes.StringType, false)
      .add("kept_id", DataTypes.StringType, false).add("similarity", DataTypes.DoubleType, true);
  /** Verified edges: a &lt; b in Spark's string order, their exact Jaccard. */
  private static final StructType EDGES = new StructType().add("a", DataTypes.StringType, false)
      .add("b", DataTypes.StringType, false).add("similarity", DataTypes.DoubleType, false);
  private static final StructType BAND_KEYS = new StructType().add("key", DataTypes.LongType, false)
      .add("h", DataTypes.LongType, false);
  private static final StructType CANDIDATES = new StructType().add("a", DataTypes.LongType, false)
      .add("b", DataTypes.LongType, false);
  /** Candidate id hash sets up to this many are broadcast to the text scan (8 bytes each); larger ones are joined. */
  private static final long BROADCAST_HASHES = 4_000_000;

  private static String seconds(long t0) {
    return String.format(Locale.ROOT, "%.1f", (System.nanoTime() - t0) / 1e9);
  }

  /**
   * The text NearDuplicates compares for a pair: prompt, chosen and rejected joined by U+0001 (a null field is
   * skipped, as concat_ws does), {@link #normalize normalized}.
   */
  public static String text(String prompt, String chosen, String rejected) {
    StringBuilder sb = new StringBuilder();
    boolean first = true;
    for (String field : new String[] {prompt, chosen, rejected}) {
      if (field == null) continue;
      if (!first) sb.append('\u0001');
      sb.append(field);
      first = false;
    }
    return normalize(sb.toString());
  }

  /**
   * {@link #text} as chars, in one pass without the intermediate strings when every char is ASCII (the lower-casing,
   * whitespace folding and strip then reduce to per-char rules); otherwise through {@link #text}. Measured on
   * 630-character pairs: the string path cost ~10 µs per pair, as much as shingles and signature together.
   */
  static char[] textChars(String prompt, String chosen, String rejected) {
    int length = 2;
    for (String field : new String[] {prompt, chosen, rejected}) length += field == null ? 0 : field.length();
    char[] raw = new char[length];   // the fields joined by U+0001, copied in bulk (String.getChars)
    int r = 0;
    boolean first = true;
    for (String field : new String[] {prompt, chosen, rejected}) {
      if (field == null) continue;
      if (!first) raw[r++] = '\u0001';
      first = false;
      field.getChars(0, field.length(), raw, r);
      r += field.length();
    }
    int n = 0;   // lower-cased and folded in place: the write index never passes the read index
    boolean space = false;
    for (int i = 0; i < r; i++) {
      char c = raw[i];
      if (c >= 0x80) return text(prompt, chosen, rejected).toCharArray();
      boolean ws = c == ' ' || c == '\t' || c == '\n' || c == '\u000B' || c == '\f' || c == '\r';
      if (!ws) raw[n++] = c >= 'A' && c <= 'Z' ? (char) (c + ('a' - 'A')) : c;
      else if (!space) raw[n++] = ' ';
      space = ws;
    }
    int start = 0;
    while (start < n && Character.isWhitespace(raw[start])) start++;   // String.strip()'s rule
    while (n > start && Character.isWhitespace(raw[n - 1])) n--;
    return start == 0 && n == raw.length ? raw : Arrays.copyOfRange(raw, start, n);
  }

  /** The exact Jaccard of two pairs' shingle sets, as {@link #find} computes it when verifying a candidate. */
  public static double similarity(String promptA, String chosenA, String rejectedA, String promptB, String chosenB,
      String rejectedB, int shingle) {
    return jaccard(sortedShingles(text(promptA, chosenA, rejectedA), shingle),
        sortedShingles(text(promptB, chosenB, rejectedB), shingle));
  }

  /**
   * Steps 1-2: {@code (key, h)} for every band of every pair, key being the band's 64-bit hash (seeded by the band's
   * index, so equal rows in different bands do not meet) and h the 64-bit {@link #idHash} of the pair's id. One pass
   * over the text: the shingles live only inside it. Two longs rather than a long and a 32-character id (~64 bytes),
   * b per pair: at 1M pairs and b = 14, 14M rows. As rows for the tests; {@link #find} shuffles {@link #bandBlocks}.
   */
  static Dataset<Row> bandKeys(Dataset<Row> pairs, int shingle, long seed, Bands shape) {
    JavaRDD<Row> rows = blocksOf(pairs, shingle, seed, shape, 1, 0).flatMap(block -> {
      List<Row> out = new ArrayList<>(block._2().length / 2);
      for (int i = 0; i < block._2().length; i += 2) out.add(RowFactory.create(block._2()[i], block._2()[i + 1]));
      return out.iterator();
    });
    return pairs.sparkSession().createDataFrame(rows, BAND_KEYS);
  }

  /**
   * Partitions of the band shuffle: 4 per core, at least one per input partition. Each holds ~1/P of the b·N band
   * rows as two long[] (at 1M pairs, b = 14 and 2 cores: 8 partitions of 28 MB).
   */
  private static int bucketPartitions(Dataset<Row> pairs) {
    return Math.max(4 * pairs.sparkSession().sparkContext().defaultParallelism(), pairs.rdd().getNumPartitions());
  }

  /** Band rows per block: a block is flushed at this many (key, h) rows (16 bytes each), so a map task holds ~P MB. */
  private static final int BLOCK_ROWS = 1 << 16;

  /**
   * Steps 1-2 for the shuffle: the (key, h) rows of {@link #bandKeys}, computed in the same pass, but shipped as
   * blocks of interleaved longs keyed by their bucket partition (key mod P) instead of one UnsafeRow each. Measured
   * at 1M pairs: the SQL exchange of 14M rows and its sort took 6.4 s of 24 s; the blocks are copied as arrays.
   */
  static JavaPairRDD<Integer, long[]> bandBlocks(Dataset<Row> pairs, int shingle, long seed, Bands shape,
      int partitions, int positionPartitions) {
    return blocksOf(pairs, shingle, seed, shape, partitions, positionPartitions)
        .partitionBy(new Ingest.FilePartitioner(partitions + positionPartitions));
  }

  /**
   * The band rows of each input partition, as blocks keyed by their bucket partition, before the shuffle; with
   * {@code positionPartitions} &gt; 0 also each pair's (id hash, {@link #POSITION}) row, in partitions
   * [partitions, partitions + positionPartitions): one row per pair beside its b band rows (+7% shuffle at b = 14).
   */
  private static JavaPairRDD<Integer, long[]> blocksOf(Dataset<Row> pairs, int shingle, long seed, Bands shape,
      int partitions, int positionPartitions) {
    long[] family = hashFamily(seed);
    boolean positions = positionPartitions > 0;
    Dataset<Row> columns = positions
        ? pairs.select(PairSchema.ID, PairSchema.PROMPT, PairSchema.CHOSEN, PairSchema.REJECTED, POSITION)
        : pairs.select(PairSchema.ID, PairSchema.PROMPT, PairSchema.CHOSEN, PairSchema.REJECTED);
    return columns.javaRDD()
        .mapPartitionsToPair(rows -> {
          BlockWriter writer = new BlockWriter(partitions, positionPartitions);
          return new Iterator<Tuple2<Integer, long[]>>() {
            @Override
            public boolean hasNext() {
              while (writer.ready.isEmpty() && rows.hasNext()) {
                Row r = rows.next();
                long id = idHash(r.getString(0));
                for (long key : bandHashes(signature(r.getString(1), r.getString(2), r.getString(3), shingle, family,
                    shape.hashes()), shape)) {
                  writer.add(key, id);
                }
                if (positions) writer.addPosition(id, r.getLong(4));
              }
              if (writer.ready.isEmpty()) writer.flushAll();
              return !writer.ready.isEmpty();
            }

            @Override
            public Tuple2<Integer, long[]> next() {
              if (!hasNext()) throw new NoSuchElementException();
              return writer.ready.poll();
            }
          };
        });
  }

  /**
   * The band rows of one map task, buffered per bucket partition and handed out as blocks; the position rows
   * (id hash, position) go to the partitions after the bucket partitions.
   */
  private static final class BlockWriter {
    final int buckets;
    final int positions;
    final long[][] buffers;
    final int[] sizes;
    final ArrayDeque<Tuple2<Integer, long[]>> ready = new ArrayDeque<>();

    BlockWriter(int buckets, int positions) {
      this.buckets = buckets;
      this.positions = positions;
      buffers = new long[buckets + positions][];
      sizes = new int[buckets + positions];
    }

    void add(long key, long h) {
      add((int) Long.remainderUnsigned(key, buckets), key, h);
    }

    void addPosition(long h, long position) {
      add(buckets + (int) Long.remainderUnsigned(h, positions), h, position);
    }

    private void add(int p, long x, long y) {
      if (buffers[p] == null) buffers[p] = new long[2 * 1024];
      else if (sizes[p] == buffers[p].length) buffers[p] = Arrays.copyOf(buffers[p], 2 * sizes[p]);
      buffers[p][sizes[p]++] = x;
      buffers[p][sizes[p]++] = y;
      if (sizes[p] == 2 * BLOCK_ROWS) flush(p);
    }

    void flush(int p) {
      if (sizes[p] == 0) return;
      ready.add(new Tuple2<>(p, Arrays.copyOf(buffers[p], sizes[p])));
      sizes[p] = 0;
    }

    void flushAll() {
      for (int p = 0; p < buffers.length; p++) flush(p);
    }
  }

  /**
   * Step 3: distinct candidate pairs {@code (a, b)} of id hashes, a &lt; b, from the (key, h) rows of a Dataset (the
   * tests' entry; {@link #find} ships {@link #bandBlocks} directly).
   */
  static Dataset<Row> candidates(Dataset<Row> bandKeys, int maxBucket, LongAccumulator capped) {
    int partitions = bucketPartitions(bandKeys);
    JavaPairRDD<Integer, long[]> blocks = bandKeys.javaRDD().mapPartitionsToPair(rows -> {
      BlockWriter writer = new BlockWriter(partitions, 0);
      rows.forEachRemaining(r -> writer.add(r.getLong(0), r.getLong(1)));
      writer.flushAll();
      return writer.ready.iterator();
    }).partitionBy(new Ingest.FilePartitioner(partitions));
    return candidates(bandKeys.sparkSession(), blocks, maxBucket, capped);
  }

  /**
   * Step 3: distinct candidate pairs {@code (a, b)} of id hashes, a &lt; b, from the band blocks of one bucket
   * partition: its keys are sorted as a primitive long[] (~1 s for 14M at 1M pairs, where Spark SQL's sort of the rows
   * took 6.4 s), the keys met once (almost all: 14M rows gave ~100k in shared buckets) are dropped, and only the rest
   * is sorted by (key, h), so each bucket is a run: a bucket of at most maxBucket members is paired all to all, a
   * larger one (a shared template) each member with the bucket's smallest id hash, so a bucket costs at most
   * max(maxBucket²/2, n − 1) pairs; such buckets are counted in {@code capped}.
   */
  static Dataset<Row> candidates(SparkSession spark, JavaPairRDD<Integer, long[]> blocks, int maxBucket,
      LongAccumulator capped) {
    JavaRDD<Row> pairs = blocks.mapPartitions(it -> {
      List<long[]> parts = new ArrayList<>();
      int n = 0;
      while (it.hasNext()) {
        long[] block = it.next()._2();
        parts.add(block);
        n += block.length / 2;
      }
      return bucketPairs(shared(parts, n), maxBucket, capped).iterator();
    });
    return spark.createDataFrame(pairs, CANDIDATES).distinct();
  }

  /**
   * Partitions [from, to) of the band shuffle: the bucket partitions for the candidates, the position partitions for
   * {@link #candidatePositions}. Pruned, not filtered, so neither job fetches the other's shuffle blocks; both read
   * the same map output (one pass over the text).
   */
  static JavaPairRDD<Integer, long[]> partitions(JavaPairRDD<Integer, long[]> blocks, int from, int to) {
    if (from == 0 && to == blocks.getNumPartitions()) return blocks;
    scala.Function1<Object, Object> between = (scala.Function1<Object, Object> & Serializable)
        i -> (Integer) i >= from && (Integer) i < to;
    return JavaPairRDD.fromJavaRDD(JavaRDD.fromRDD(PartitionPruningRDD.create(blocks.rdd(), between),
        blocks.classTag()));
  }

  /**
   * The sorted distinct positions of the pairs whose id hash is in the index, from the (id hash, position) blocks of
   * the position partitions: one read of their shuffle output (16 bytes per pair), only the hits reach the driver.
   */
  static long[] candidatePositions(JavaPairRDD<Integer, long[]> positionBlocks, Broadcast<CandidateIndex> index) {
    List<long[]> parts = positionBlocks.values().map(block -> {
      long[] out = new long[16];
      int n = 0;
      for (int i = 0; i < block.length; i += 2) {
        if (!index.value().contains(block[i])) continue;
        if (n == out.length) out = Arrays.copyOf(out, 2 * n);
        out[n++] = block[i + 1];
      }
      return Arrays.copyOf(out, n);
    }).collect();
    return parts.stream().flatMapToLong(Arrays::stream).sorted().distinct().toArray();
  }

  /** The (key, h) rows of the blocks whose key occurs more than once, sorted by key then h, interleaved. */
  static long[] shared(List<long[]> blocks, int n) {
    long[] keys = new long[n];
    int i = 0;
    for (long[] block : blocks) for (int j = 0; j < block.length; j += 2) keys[i++] = block[j];
    Arrays.sort(keys);
    int m = 0;   // distinct keys met at least twice, in place
    for (int j = 1; j < n; j++) {
      if (keys[j] == keys[j - 1] && (m == 0 || keys[m - 1] != keys[j])) keys[m++] = keys[j];
    }
    long[][] rows = new long[0][];
    List<long[]> kept = new ArrayList<>();
    for (long[] block : blocks) {
      for (int j = 0; j < block.length; j += 2) {
        if (Arrays.binarySearch(keys, 0, m, block[j]) >= 0) kept.add(new long[] {block[j], block[j + 1]});
      }
    }
    rows = kept.toArray(rows);
    Arrays.sort(rows, (a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
    long[] out = new long[2 * rows.length];
    for (int j = 0; j < rows.length; j++) {
      out[2 * j] = rows[j][0];
      out[2 * j + 1] = rows[j][1];
    }
    return out;
  }

  /** The pairs of every bucket (run of equal keys) in interleaved (key, h) rows sorted by key. */
  static List<Row> bucketPairs(long[] rows, int maxBucket, LongAccumulator capped) {
    List<Row> out = new ArrayList<>();
    List<Long> bucket = new ArrayList<>();
    long key = 0;
    for (int i = 0; i < rows.length; i += 2) {
      if (!bucket.isEmpty() && rows[i] != key) {
        pairUp(bucket, maxBucket, capped, out);
        bucket.clear();
      }
      key = rows[i];
      bucket.add(rows[i + 1]);
    }
    pairUp(bucket, maxBucket, capped, out);
    return out;
  }

  /** Equal hashes (the same pair twice, or two ids colliding, probability ~N²/2^65) are not paired. */
  private static void pairUp(List<Long> bucket, int maxBucket, LongAccumulator capped, List<Row> out) {
    if (bucket.size() < 2) return;
    Collections.sort(bucket);
    if (bucket.size() > maxBucket) {
      capped.add(1);
      for (int j = 1; j < bucket.size(); j++) {
        if (!bucket.get(0).equals(bucket.get(j))) out.add(RowFactory.create(bucket.get(0), bucket.get(j)));
      }
      return;
    }
    for (int i = 0; i < bucket.size(); i++) {
      for (int j = i + 1; j < bucket.size(); j++) {
        if (!bucket.get(i).equals(bucket.get(j))) out.add(RowFactory.create(bucket.get(i), bucket.get(j)));
      }
    }
  }

  /**
   * {@code (id, h, text)} of the pairs whose id hash appears in a candidate pair, read again from the input (a
   * colliding id comes along too, and is only verified in vain). With a {@link CandidateIndex} (up to
   * {@link #BROADCAST_HASHES}) the scan's filter looks the hash up in it; the distinct, checkpoint and count of the
   * hashes as a DataFrame for a broadcast semi-join were two more jobs, one with a shuffle. Larger sets still go that
   * way (broadcast when their distinct hashes are few enough, else joined).
   */
  private static Dataset<Row> candidateTexts(Dataset<Row> pairs, Dataset<Row> candidates,
      Broadcast<CandidateIndex> index) {
    UserDefinedFunction text = udf((UDF3<String, String, String, String>) NearDuplicates::text, DataTypes.StringType);
    UserDefinedFunction idHash = udf((UDF1<String, Long>) NearDuplicates::idHash, DataTypes.LongType);
    Dataset<Row> wanted;
    if (index != null) {
      UserDefinedFunction isCandidate = udf((UDF1<String, Boolean>) id -> index.value().contains(idHash(id)),
          DataTypes.BooleanType);
      wanted = pairs.where(isCandidate.apply(col(PairSchema.ID)))
          .select(col(PairSchema.ID).as("id"), idHash.apply(col(PairSchema.ID)).as("h"),
              col(PairSchema.PROMPT), col(PairSchema.CHOSEN), col(PairSchema.REJECTED));
    } else {
      Dataset<Row> hashes = candidates.select(col("a").as("ch")).union(candidates.select(col("b").as("ch")))
          .distinct().localCheckpoint();
      if (hashes.count() <= BROADCAST_HASHES) hashes = broadcast(hashes);
      wanted = pairs.select(col(PairSchema.ID).as("id"), idHash.apply(col(PairSchema.ID)).as("h"),
              col(PairSchema.PROMPT), col(PairSchema.CHOSEN), col(PairSchema.REJECTED))
          .join(hashes, col("h").equalTo(col("ch")), "left_semi");
    }
    return wanted.select(col("id"), col("h"),
        text.apply(col(PairSchema.PROMPT), col(PairSchema.CHOSEN), col(PairSchema.REJECTED)).as("text"));
  }

  /**
   * The candidate pairs, collected (one read of their checkpoint) and broadcast when there are at most
   * {@link #BROADCAST_HASHES} / 2 of them (32 bytes each): pair i is (a, b) = (pairs[2i], pairs[2i + 1]); the
   * entries (hash, pair) of both ends are sorted by hash, so a text finds its pairs by binary search.
   */
  static final class CandidateIndex implements Serializable {
    private final long[] pairs;
    private final long[] hashes;
    private final int[] pairOf;

    private CandidateIndex(long[] pairs) {
      this.pairs = pairs;
      int n = pairs.length;
      long[][] entries = new long[n][];
      for (int e = 0; e < n; e++) entries[e] = new long[] {pairs[e], e / 2};
      Arrays.sort(entries, (x, y) -> x[0] != y[0] ? Long.compare(x[0], y[0]) : Long.compare(x[1], y[1]));
      hashes = new long[n];
      pairOf = new int[n];
      for (int e = 0; e < n; e++) {
        hashes[e] = entries[e][0];
        pairOf[e] = (int) entries[e][1];
      }
    }

    static CandidateIndex of(Dataset<Row> candidates) {
      List<long[]> parts = candidates.javaRDD().mapPartitions(rows -> {
        long[] p = new long[16];
        int n = 0;
        while (rows.hasNext()) {
          Row r = rows.next();
          if (n + 2 > p.length) p = Arrays.copyOf(p, 2 * p.length);
          p[n++] = r.getLong(0);
          p[n++] = r.getLong(1);
        }
        return List.of(Arrays.copyOf(p, n)).iterator();
      }).collect();
      return new CandidateIndex(parts.stream().flatMapToLong(Arrays::stream).toArray());
    }

    boolean contains(long h) {
      return Arrays.binarySearch(hashes, h) >= 0;
    }

    /** The indexes of the pairs with an end h, in order. */
    int[] pairsOf(long h) {
      int at = Arrays.binarySearch(hashes, h);
      if (at < 0) return new int[0];
      int from = at;
      int to = at + 1;
      while (from > 0 && hashes[from - 1] == h) from--;
      while (to < hashes.length && hashes[to] == h) to++;
      return Arrays.copyOfRange(pairOf, from, to);
    }

    /** Whether h is the a end (the smaller hash) of pair i. */
    boolean isA(int i, long h) {
      return pairs[2 * i] == h;
    }
  }

  /**
   * Step 4 with a {@link CandidateIndex}: the verified edges {@code (a, b, similarity)}, a &lt; b in Spark's string
   * order, as {@link #withSimilarity} on the candidates then the threshold would give them, but by one shuffle of the
   * texts keyed by their candidate pair (each text goes to each pair it is in), so both texts of a pair meet in one
   * group: the two sort-merge joins shuffled the texts twice and the candidates with the first text once more
   * (measured at 200k pairs on a loaded machine: ~10 s for 9.4k candidates).
   */
  private static Dataset<Row> edgesByPair(Dataset<Row> texts, Broadcast<CandidateIndex> index, int shingle,
      double threshold) {
    SparkSession spark = texts.sparkSession();
    int partitions = Integer.parseInt(spark.conf().get("spark.sql.shuffle.partitions"));
    JavaRDD<Row> edges = texts.select("id", "h", "text").javaRDD()
        .flatMapToPair(r -> {
          long h = r.getLong(1);
          List<Tuple2<Integer, Tuple3<Boolean, String, String>>> out = new ArrayList<>();
          for (int i : index.value().pairsOf(h)) {
            out.add(new Tuple2<>(i, new Tuple3<>(index.value().isA(i, h), r.getString(0), r.getString(2))));
          }
          return out.iterator();
        })
        .groupByKey(new HashPartitioner(partitions))
        .flatMap(group -> {
          List<Row> out = new ArrayList<>();
          for (Tuple3<Boolean, String, String> l : group._2()) {
            if (!l._1()) continue;
            for (Tuple3<Boolean, String, String> r : group._2()) {
              if (r._1()) continue;
              double s = shingleJaccard(l._3(), r._3(), shingle);
              if (s < threshold - 1e-12) continue;
              boolean lFirst = compareIds(l._2(), r._2()) <= 0;
              out.add(RowFactory.create(lFirst ? l._2() : r._2(), lFirst ? r._2() : l._2(), s));
            }
          }
          return out.iterator();
        });
    return spark.createDataFrame(edges, EDGES);
  }

  /**
   * {@code (left, right, similarity)}: the ids of the texts whose column {@code on} (h or id) equals {@code left} and
   * {@code right} of {@code pairs}, and their exact Jaccard.
   */
  private static Dataset<Row> withSimilarity(Dataset<Row> pairs, Dataset<Row> texts, int shingle, String left,
      String right, String on) {
    // non-deterministic only to the optimizer: otherwise the filter on similarity is pushed below the projection and
    // the Jaccard (two shingle sorts) is computed twice per candidate, in the filter and in the projection
    UserDefinedFunction jaccard = udf((UDF2<String, String, Double>) (a, b) ->
        shingleJaccard(a, b, shingle), DataTypes.DoubleType).asNondeterministic();
    Dataset<Row> l = texts.select(col(on).as("l_key"), col("id").as("l_id"), col("text").as("l_text"));
    Dataset<Row> r = texts.select(col(on).as("r_key"), col("id").as("r_id"), col("text").as("r_text"));
    return pairs.join(l, col(left).equalTo(col("l_key"))).join(r, col(right).equalTo(col("r_key")))
        .select(col("l_id").as(left), col("r_id").as(right), jaccard.apply(col("l_text"), col("r_text")).as("similarity"));
  }

  /** A 64-bit hash of a pair id (FNV-1a over the chars, then Murmur3's finalizer): the shuffled stand-in for it. */
  static long idHash(String id) {
    long h = 0xcbf29ce484222325L;
    for (int i = 0, n = id.length(); i < n; i++) h = (h ^ id.charAt(i)) * 0x100000001B3L;
    return mix(h);
  }

  /**
   * Connected components of an undirected edge list {@code (a, b)} as {@code (id, label)}, label = the component's
   * smallest id. Each round every node takes the smallest label among itself and its neighbours, then jumps to its
   * label's label (which is in the same component and no larger), so a chain of n nodes takes O(log n) rounds rather
   * than n. At a fixpoint labels agree across every edge, so each component carries one label, and its smallest id m
   * can only be labelled m: it is the fixpoint of the minimum. Each round's labels are checkpointed locally so the
   * lineage stays one round deep. The edges are cached (they are read twice per round).
   */
  static Dataset<Row> components(Dataset<Row> edges) {
    Dataset<Row> cached = edges.persist(StorageLevel.MEMORY_AND_DISK());
    try {
      // round 0 already takes the smallest neighbour: a component of two (most near-duplicates) is done here
      Dataset<Row> labels = cached.select(col("a").as("id"), least(col("a"), col("b")).as("label"))
          .union(cached.select(col("b").as("id"), least(col("a"), col("b")).as("label")))
          .groupBy("id").agg(min("label").as("label")).localCheckpoint();
      for (int round = 1; ; round++) {
        Dataset<Row> viaA = cached.join(labels, col("a").equalTo(col("id"))).select(col("b").as("id"), col("label"));
        Dataset<Row> viaB = cached.join(labels, col("b").equalTo(col("id"))).select(col("a").as("id"), col("label"));
        Dataset<Row> spread = labels.union(viaA).union(viaB).groupBy("id").agg(min("label").as("label"));
        Dataset<Row> hop = spread.select(col("id").as("hop_id"), col("label").as("hop_label"));
        Dataset<Row> old = labels.select(col("id").as("old_id"), col("label").as("old_label"));
        // the old label rides along, so the convergence test is a scan of the checkpoint, not another join job
        Dataset<Row> next = spread.join(hop, col("label").equalTo(col("hop_id")))
            .join(old, col("id").equalTo(col("old_id")))
            .select(col("id"), col("hop_label").as("label"), col("hop_label").notEqual(col("old_label")).as("changed"))
            .localCheckpoint();
        long changed = next.where(col("changed")).count();
        labels = next.select("id", "label");
        if (changed == 0) {
          LOG.info("near-duplicates: components converged in {} rounds", round);
          return labels;
        }
      }
    } finally {
      cached.unpersist();
    }
  }

  /**
   * Lower-cased, runs of whitespace ([ \t\n\u000B\f\r], the regex \s) folded to one space, stripped. A loop, not
   * replaceAll: the regex cost more than the shingles on a pair of ~800 characters.
   */
  static String normalize(String text) {
    if (text == null) return "";
    String lower = text.toLowerCase(Locale.ROOT);
    StringBuilder sb = new StringBuilder(lower.length());
    boolean space = false;
    for (int i = 0, n = lower.length(); i < n; i++) {
      char c = lower.charAt(i);
      boolean ws = c == ' ' || c == '\t' || c == '\n' || c == '\u000B' || c == '\f' || c == '\r';
      if (!ws) sb.append(c);
      else if (!space) sb.append(' ');
      space = ws;
    }
    return sb.toString().strip();
  }

  /**
   * 32-bit hashes of the character k-grams of normalized text, one per position (repeats included; the minimum does
   * not care); never empty. Hashed from the chars directly (a polynomial then Murmur3's 64-bit finalizer, folded to 32
   * bits): a substring and its UTF-8 bytes per position cost more than the rest of the signature.
   */
  static int[] shingles(String normalized, int k) {
    char[] t = padded(normalized.toCharArray(), k);
    int[] h = new int[t.length - k + 1];
    for (int i = 0; i < h.length; i++) {
      long x = shingle(t, i, k, SHINGLE_SEED);
      h[i] = (int) (x ^ (x >>> 32));
    }
    return h;
  }

  /** Text shorter than one shingle, padded with spaces to k chars (so it still has one shingle). */
  private static char[] padded(char[] t, int k) {
    if (t.length >= k) return t;
    char[] p = Arrays.copyOf(t, k);
    Arrays.fill(p, t.length, k, ' ');
    return p;
  }

  /**
   * A keyed 64-bit hash of the k chars at i: the chars packed four to a long (16 bits each, exact), each long mixed
   * into the running hash with Murmur3's finalizer. Two mixes for k = 5, where a polynomial over the chars, a mix to
   * 32 bits and a second keyed mix for the permutation took ~3x as long.
   */
  private static long shingle(char[] t, int i, int k, long key) {
    if (k == 5) {   // the default, unrolled: the general loop measured 2x slower
      return shingle5((long) t[i] << 48 | (long) t[i + 1] << 32 | (long) t[i + 2] << 16 | t[i + 3], t[i + 4], key);
    }
    long x = key;
    for (int g = 0; g < k; g += 4) {
      long packed = 0;
      for (int j = g, end = Math.min(k, g + 4); j < end; j++) packed = (packed << 16) | t[i + j];
      x = mix(x ^ packed);
    }
    return x;
  }

  /** {@link #shingle} for k = 5, given the first four chars packed (16 bits each) and the fifth. */
  private static long shingle5(long firstFour, char fifth, long key) {
    return mix(mix(key ^ firstFour) ^ fifth);
  }

  /** The signature of a pair's text ({@link #textChars}), its shingles hashed straight into the bins. */
  static int[] signature(String prompt, String chosen, String rejected, int shingle, long[] family, int k) {
    return signatureOfText(textChars(prompt, chosen, rejected), shingle, family, k);
  }

  /** The signature of normalized text: the permutation of a shingle is its hash keyed by the seed's key. */
  static int[] signatureOfText(char[] normalized, int shingle, long[] family, int k) {
    char[] t = padded(normalized, shingle);
    long[] min = newMins(k);
    int n = t.length - shingle + 1;
    if (shingle == 5) {
      // the default, rolled: the first four chars stay packed in one long, shifted by a char per position (3.7
      // against 4.7 µs per 820-character pair when packed anew at each position)
      long firstFour = (long) t[0] << 32 | (long) t[1] << 16 | t[2];
      for (int i = 0; i < n; i++) {
        firstFour = firstFour << 16 | t[i + 3];
        addValue(min, shingle5(firstFour, t[i + 4], family[0]), k);
      }
    } else {
      for (int i = 0; i < n; i++) addValue(min, shingle(t, i, shingle, family[0]), k);
    }
    return densified(min, family, k);
  }

  /** Sorted distinct shingle hashes (the sets {@link #similarity} compares); never empty. */
  static int[] sortedShingles(String normalized, int k) {
    int[] h = shingles(normalized, k);
    Arrays.sort(h);
    int n = 0;
    for (int i = 0; i < h.length; i++) if (i == 0 || h[i] != h[n - 1]) h[n++] = h[i];
    return Arrays.copyOf(h, n);
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
   * The verification's exact Jaccard of two normalized texts' shingle sets, as {@link #similarity} computes it, but
   * by open addressing: each text's shingles go into a hash set of its own, and b's new values are looked up in a's.
   * Sorting both shingle arrays took 3.2 s of the verification's CPU at 1M pairs (95k texts of ~820 shingles).
   */
  static double shingleJaccard(String a, String b, int k) {
    return hashedJaccard(shingles(a, k), shingles(b, k));
  }

  /** Exact Jaccard similarity of the sets of values in a and b (repeats count once), by hash sets. */
  static double hashedJaccard(int[] a, int[] b) {
    long[] inA = emptySet(a.length);
    int distinctA = 0;
    for (int v : a) if (added(inA, v)) distinctA++;
    long[] inB = emptySet(b.length);
    int distinctB = 0;
    int common = 0;
    for (int v : b) {
      if (!added(inB, v)) continue;
      distinctB++;
      if (contains(inA, v)) common++;
    }
    int union = distinctA + distinctB - common;
    return union == 0 ? 1.0 : (double) common / union;
  }

  /** A hash set of ints as a table of longs at most half full, -1 marking a free slot (an int never is). */
  private static long[] emptySet(int values) {
    long[] table = new long[Integer.highestOneBit(Math.max(values, 1)) << 2];
    Arrays.fill(table, -1);
    return table;
  }

  /** Adds v; false when it was there. */
  private static boolean added(long[] table, int v) {
    int at = slot(table, v);
    if (table[at] != -1) return false;
    table[at] = v & 0xffffffffL;
    return true;
  }

  private static boolean contains(long[] table, int v) {
    return table[slot(table, v)] != -1;
  }

  /**
   * Where v is in the table, or the free slot it would take: linear probing from v's low bits (shingle hashes are
   * already mixed by Murmur3's finalizer, so they spread).
   */
  private static int slot(long[] table, int v) {
    long x = v & 0xffffffffL;
    int mask = table.length - 1;
    int at = v & mask;
    while (table[at] != x && table[at] != -1) at = (at + 1) & mask;
    return at;
  }

  /** The seeded constants of the signature: the permutation's key and the densification probes' key. */
  static long[] hashFamily(long seed) {
    SplittableRandom random = new SplittableRandom(seed);
    return new long[] {random.nextLong(), random.nextLong()};
  }

  /**
   * k min-hashes by one-permutation hashing (Li, Owen and Zhang 2012) with optimal densification (Shrivastava 2017):
   * one seeded 64-bit hash per shingle (here of a set of 32-bit values: fmix64(x ⊕ key); of a text: the shingle's
   * chars hashed with the key, see {@link #signatureOfText}), whose top bits choose one of k bins and whose low bits
   * rank the shingles within it; each bin keeps its minimum. Two sets agree in a bin with probability equal to their
   * Jaccard, as with k independent permutations, but the cost is one hash per shingle instead of k (measured on
   * 750-shingle pairs: a few µs against 150 µs for k = 56 universal hashes (a·x + c) mod (2^61 − 1), which made the
   * signatures 5× the plain ingest's time at 1M pairs). A bin no shingle fell into (only on texts with fewer
   * shingles than ~3k) copies the first non-empty bin of its own seeded probe sequence, the same for every pair, which
   * keeps P(agree) = Jaccard. Values are folded to 32 bits (a false equality has probability 2^-32).
   */
  private static final long EMPTY = Long.MAX_VALUE;   // no rank reaches it: ranks are below 2^32

  static int[] signature(int[] shingles, long[] family, int k) {
    long[] min = newMins(k);
    for (int s : shingles) addValue(min, mix((s & 0xffffffffL) ^ family[0]), k);
    return densified(min, family, k);
  }

  private static long[] newMins(int k) {
    long[] min = new long[k];
    Arrays.fill(min, EMPTY);
    return min;
  }

  /** Puts a shingle's permuted value v into its bin: the top bits choose the bin, the low 32 bits rank it there. */
  private static void addValue(long[] min, long v, int k) {
    int bin = (int) (((v >>> 32) * k) >>> 32);
    long rank = v & 0xffffffffL;   // the top bits chose the bin; the rest orders the shingles in it
    // branch-free: about every other shingle lowers its bin's minimum (~5 shingles per bin, the j-th lowers it with
    // probability 1/j), so the branch was mispredicted on ~40% of them: 9.5 against 4.7 µs per 820-character pair
    min[bin] = Math.min(min[bin], rank);
  }

  /** Each bin's minimum; an empty bin takes that of the first non-empty bin on its probe sequence. */
  private static int[] densified(long[] min, long[] family, int k) {
    int[] sig = new int[k];
    for (int bin = 0; bin < k; bin++) {
      int from = bin;
      for (long attempt = 1; min[from] == EMPTY; attempt++) {
        long p = mix(family[1] ^ (bin * 0x9E3779B97F4A7C15L) ^ (attempt * 0xC2B2AE3D27D4EB4FL));
        from = (int) (((p >>> 32) * k) >>> 32);
      }
      sig[bin] = (int) min[from];
    }
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
