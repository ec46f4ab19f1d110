package dev.sparkdpo.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * SHA-256 fingerprints that tie reference log-probs to what produced them: the model (config.json +
 * model.safetensors), its tokenizer.json, and the ingest output they were computed from (its stats.json and the
 * names and sizes of its Parquet files). Any Hadoop file system.
 */
public record ModelFingerprint(String model, String tokenizer, String data) {

  /** One hash over the three parts: what reference.json and the Parquet metadata record. */
  public String combined() {
    return sha256(("model=" + model + "\ntokenizer=" + tokenizer + "\ndata=" + data).getBytes());
  }

  public static ModelFingerprint of(String modelDir, String dataDir, Configuration conf) {
    return new ModelFingerprint(ofModel(modelDir, conf), ofFile(new Path(modelDir, "tokenizer.json"), conf),
        ofIngestOutput(dataDir, conf));
  }

  /** Hash of a model directory's config.json and model.safetensors bytes (what the weights are). */
  public static String ofModel(String modelDir, Configuration conf) {
    return ofFiles(conf, new Path(modelDir, "config.json"), new Path(modelDir, "model.safetensors"));
  }

  /** Hash of the files' bytes, one after another (each must exist). */
  public static String ofFiles(Configuration conf, Path... files) {
    MessageDigest md = digest();
    for (Path f : files) update(md, f, conf);
    return HexFormat.of().formatHex(md.digest());
  }

  /** Hash of one file, or "none" when it does not exist. */
  static String ofFile(Path file, Configuration conf) {
    try {
      if (!file.getFileSystem(conf).exists(file)) return "none";
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
    }
    MessageDigest md = digest();
    update(md, file, conf);
    return HexFormat.of().formatHex(md.digest());
  }

  /** Hash of an ingest output: stats.json plus every data file's relative path and length (not its bytes). */
  static String ofIngestOutput(String dataDir, Configuration conf) {
    MessageDigest md = digest();
    Path root = new Path(dataDir);
    update(md, new Path(root, "stats.json"), conf);
    try {
      FileSystem fs = root.getFileSystem(conf);
      Path pairs = fs.makeQualified(new Path(root, "pairs"));
      var files = fs.listFiles(pairs, true);
      java.util.List<String> entries = new java.util.ArrayList<>();
      while (files.hasNext()) {
        FileStatus f = files.next();
        String rel = f.getPath().toString().substring(pairs.toString().length());
        entries.add(rel + "\t" + f.getLen());
      }
      String[] sorted = entries.toArray(String[]::new);
      Arrays.sort(sorted);
      for (String e : sorted) md.update((e + "\n").getBytes());
    } catch (IOException e) {
      throw new UncheckedIOException("listing " + dataDir + "/pairs: " + e.getMessage(), e);
    }
    return HexFormat.of().formatHex(md.digest());
  }

  private static void update(MessageDigest md, Path file, Configuration conf) {
    try (InputStream in = file.getFileSystem(conf).open(file)) {
      byte[] buf = new byte[1 << 20];
      for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
    }
  }

  private static MessageDigest digest() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  static String sha256(byte[] bytes) {
    return HexFormat.of().formatHex(digest().digest(bytes));
  }
}
