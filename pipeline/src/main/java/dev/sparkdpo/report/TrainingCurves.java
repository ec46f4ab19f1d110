package dev.sparkdpo.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The train stage's {@code metrics.jsonl} as series against step: a training line per step ({@code loss},
 * {@code rewards/accuracies}, ...) and an eval line every eval-steps (the same keys prefixed {@code eval_}). A key
 * holds its train values in {@link #train} and its eval values (prefix stripped) in {@link #eval}. A line cut by a
 * crash is skipped, as the trainer's own reader does; non-finite values (a diverged step's NaN loss) are left out of
 * the series.
 */
public record TrainingCurves(Path file, Map<String, Series> train, Map<String, Series> eval) {
  // bare NaN/Infinity too (Python's json writes them; Jackson writes them as strings, read as strings below)
  private static final ObjectMapper JSON = com.fasterxml.jackson.databind.json.JsonMapper.builder()
      .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

  /** Points (step, value) in file order. */
  public record Series(List<double[]> points) {
    public int size() {
      return points.size();
    }
  }

  public static TrainingCurves read(Path file) {
    Map<String, List<double[]>> train = new LinkedHashMap<>();
    Map<String, List<double[]>> eval = new LinkedHashMap<>();
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isBlank()) continue;
        JsonNode j;
        try {
          j = JSON.readTree(line);
        } catch (IOException e) {
          continue; // a line cut by a crash (MetricsLog drops it on resume too)
        }
        if (!j.path("step").isNumber()) continue;
        double step = j.path("step").asDouble();
        // an eval line holds eval_ keys (and step, epoch); a train line none
        boolean evalLine = false;
        for (var names = j.fieldNames(); names.hasNext(); ) evalLine |= names.next().startsWith("eval_");
        boolean isEval = evalLine;
        j.fields().forEachRemaining(f -> {
          String key = f.getKey();
          if (key.equals("step") || !f.getValue().isNumber() || isEval != key.startsWith("eval_")) return; // "NaN"
          double v = f.getValue().asDouble();
          if (!Double.isFinite(v)) return;
          (isEval ? eval : train).computeIfAbsent(isEval ? key.substring(5) : key, k -> new ArrayList<>())
              .add(new double[] {step, v});
        });
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
    }
    return new TrainingCurves(file, wrap(train), wrap(eval));
  }

  private static Map<String, Series> wrap(Map<String, List<double[]>> m) {
    Map<String, Series> out = new LinkedHashMap<>();
    m.forEach((k, v) -> out.put(k, new Series(List.copyOf(v))));
    return out;
  }

  /** The train series of {@code key}, or an empty one. */
  public Series train(String key) {
    return train.getOrDefault(key, new Series(List.of()));
  }

  /** The eval series of {@code key} (without its eval_ prefix), or an empty one. */
  public Series eval(String key) {
    return eval.getOrDefault(key, new Series(List.of()));
  }

  /** Whether any training step was logged (an eval-only file, e.g. a run killed in its first round, has none). */
  public boolean hasSteps() {
    return train.values().stream().anyMatch(s -> s.size() > 0);
  }
}
