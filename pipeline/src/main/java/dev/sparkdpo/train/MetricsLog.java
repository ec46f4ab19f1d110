package dev.sparkdpo.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.io.HadoopFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

/**
 * {@code <output>/metrics.jsonl}: one JSON object per line, flushed as written: a line per training step and one per
 * evaluation (keys prefixed {@code eval_}), each with {@code step}. On resume the lines after the checkpoint's step
 * are dropped first, so the file reads as one uninterrupted run. Any Hadoop file system: the file stays open for the
 * run and each line is {@code hflush}ed (on HDFS: visible to readers at once, without closing the file).
 */
final class MetricsLog implements AutoCloseable {
  static final String FILE = "metrics.jsonl";
  private static final ObjectMapper JSON = new ObjectMapper();
  private final FSDataOutputStream out;
  private final List<JsonNode> kept;

  private MetricsLog(FSDataOutputStream out, List<JsonNode> kept) {
    this.out = out;
    this.kept = kept;
  }

  /** The eval metrics logged at {@code step} among the kept lines (empty if none). */
  java.util.Map<String, Double> evalAt(long step) {
    java.util.Map<String, Double> eval = new java.util.LinkedHashMap<>();
    for (JsonNode j : kept) {
      if (j.path("step").asLong(-1) == step && j.has("eval_loss")) {
        eval.clear();
        j.fields().forEachRemaining(f -> {
          if (f.getKey().startsWith("eval_") && f.getValue().isNumber()) eval.put(f.getKey(), f.getValue().asDouble());
        });
      }
    }
    return eval;
  }

  /** Opens the log, keeping only lines with step <= {@code keepThroughStep} (-1: none). */
  static MetricsLog open(FileSystem fs, Path output, long keepThroughStep) {
    Path file = new Path(output, FILE);
    try {
      List<String> kept = new ArrayList<>();
      List<JsonNode> keptJson = new ArrayList<>();
      if (keepThroughStep >= 0 && fs.exists(file)) {
        for (String line : HadoopFiles.readText(fs, file).split("\n")) {
          if (line.isBlank()) continue;
          JsonNode j;
          try {
            j = JSON.readTree(line);
          } catch (IOException e) {
            continue; // a line cut by a crash
          }
          if (j.path("step").asLong(Long.MAX_VALUE) <= keepThroughStep) {
            kept.add(line);
            keptJson.add(j);
          }
        }
      }
      FSDataOutputStream out = fs.create(file, true);
      for (String line : kept) out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
      out.hflush();
      return new MetricsLog(out, keptJson);
    } catch (IOException e) {
      throw new UncheckedIOException("opening " + file + ": " + e.getMessage(), e);
    }
  }

  void write(Map<String, Object> record) {
    try {
      out.write((JSON.writeValueAsString(record) + "\n").getBytes(StandardCharsets.UTF_8));
      out.hflush();
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + FILE + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    try {
      out.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
