package dev.sparkdpo.data;

import static org.apache.spark.sql.functions.*;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.ml.feature.MinHashLSH;
import org.apache.spark.ml.feature.MinHashLSHModel;
import org.apache.spark.ml.linalg.SQLDataTypes;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.ml.linalg.Vectors;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.expressions.UserDefinedFunction;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.Platform;
import org.apache.spark.unsafe.hash.Murmur3_x86_32;

/**
 * Near-duplicate pairs by MinHash LSH (Spark ML {@link MinHashLSH}) over character shingles of the pair's text
 * (prompt, chosen and rejected, lower-cased, runs of whitespace folded to one space). Two pairs whose shingle sets
 * have Jaccard similarity at or above the threshold are linked; each connected cluster keeps the pair with the
 * smallest id. LSH may miss a few true near-duplicates (more hash tables miss fewer) but never links pairs below the
 * threshold: candidate pairs are checked on their exact Jaccard distance.
 */
public final class NearDuplicates {
  private static final int DIMENSION = 1 << 20;

  private NearDuplicates() {}

  /** Returns {@code (id, kept_id)} for every pair that loses to a near-duplicate; the input needs id, prompt, chosen, rejected. */
  public static Dataset<Row> find(Dataset<Row> pairs, double threshold, int shingle, int hashTables, long seed) {
    SparkSession spark = pairs.sparkSession();
    UserDefinedFunction shingles = udf((UDF1<String, Vector>) text -> shingleVector(text, shingle), SQLDataTypes.VectorType());
    Dataset<Row> features = pairs
        .select(col(PairSchema.ID), shingles.apply(concat_ws("\u0001", col(PairSchema.PROMPT), col(PairSchema.CHOSEN),
            col(PairSchema.REJECTED))).as("shingles"));
    MinHashLSHModel model = new MinHashLSH().setNumHashTables(hashTables).setSeed(seed)
        .setInputCol("shingles").setOutputCol("hashes").fit(features);
    Dataset<Row> hashed = model.transform(features).cache();
    List<Row> edges = model.approxSimilarityJoin(hashed, hashed, 1 - threshold + 1e-12, "distance")
        .select(col("datasetA.id").as("a"), col("datasetB.id").as("b"))
        .where(col("a").lt(col("b")))
        .collectAsList();
    hashed.unpersist();

    Map<String, String> parent = new HashMap<>();
    for (Row e : edges) union(parent, e.getString(0), e.getString(1));
    List<Row> losers = new ArrayList<>();
    for (String id : parent.keySet()) {
      String root = find(parent, id);
      if (!root.equals(id)) losers.add(RowFactory.create(id, root));
    }
    return spark.createDataFrame(losers, new StructType()
        .add(PairSchema.ID, DataTypes.StringType, false)
        .add("kept_id", DataTypes.StringType, false));
  }

  /** Binary vector of hashed character k-grams (k = {@code shingle}); never empty, as MinHash requires. */
  static Vector shingleVector(String text, int k) {
    String t = text.toLowerCase(Locale.ROOT).replaceAll("\\s+", " ").strip();
    if (t.length() < k) t = String.format("%-" + k + "s", t);
    int n = t.length() - k + 1;
    int[] idx = new int[n];
    for (int i = 0; i < n; i++) {
      byte[] b = t.substring(i, i + k).getBytes(StandardCharsets.UTF_8);
      int h = Murmur3_x86_32.hashUnsafeBytes(b, Platform.BYTE_ARRAY_OFFSET, b.length, 42);
      idx[i] = Math.floorMod(h, DIMENSION);
    }
    int[] unique = Arrays.stream(idx).sorted().distinct().toArray();
    double[] ones = new double[unique.length];
    Arrays.fill(ones, 1.0);
    return Vectors.sparse(DIMENSION, unique, ones);
  }

  /** Union by smaller id, so every cluster's root is its smallest id. */
  private static void union(Map<String, String> parent, String a, String b) {
    String ra = find(parent, a);
    String rb = find(parent, b);
    if (ra.equals(rb)) return;
    if (ra.compareTo(rb) < 0) parent.put(rb, ra);
    else parent.put(ra, rb);
  }

  private static String find(Map<String, String> parent, String x) {
    parent.putIfAbsent(x, x);
    String root = x;
    while (!parent.get(root).equals(root)) root = parent.get(root);
    while (!parent.get(x).equals(root)) {   // path compression
      String next = parent.get(x);
      parent.put(x, root);
      x = next;
    }
    return root;
  }
}
