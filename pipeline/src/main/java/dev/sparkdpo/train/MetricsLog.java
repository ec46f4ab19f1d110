package dev.sparkdpo.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@code <output>/metrics.jsonl}: one JSON object per line, flushed as written: a line per training step and one per
 * evaluation (keys prefixed {@code eval_}), each with {@code step}. On resume the lines after the checkpoint's step
 * are dropped first, so the file reads as one uninterrupted run.
 */
final class MetricsLog implements AutoCloseable {
  static final String FILE = "metrics.jsonl";
  private static final ObjectMapper JSON = new ObjectMapper();
  private final BufferedWriter out;
  private final List<JsonNode> kept;

  private MetricsLog(BufferedWriter out, List<JsonNode> kept) {
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
  static MetricsLog open(Path output, long keepThroughStep) {
    Path file = output.resolve(FILE);
    try {
      List<String> kept = new ArrayList<>();
      List<JsonNode> keptJson = new ArrayList<>();
      if (keepThroughStep >= 0 && Files.exists(file)) {
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
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
      Files.write(file, kept, StandardCharsets.UTF_8);
      return new MetricsLog(Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND),
          keptJson);
    } catch (IOException e) {
      throw new UncheckedIOException("opening " + file + ": " + e.getMessage(), e);
    }
  }

  void write(Map<String, Object> record) {
    try {
      out.write(JSON.writeValueAsString(record));
      out.newLine();
      out.flush();
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
