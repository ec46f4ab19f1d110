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
import java.util.List;

/**
 * One evaluate output as the report reads it: {@code eval.json} (the headline numbers) and {@code samples.jsonl}
 * (one line per (prompt, sample index): the policy's and the reference's completion with their rewards and
 * log-probs). Field names are the evaluate stage's contract; a missing or mistyped field fails with one line naming
 * the file and the field.
 */
public record EvalRun(Path dir, String label, double beta, Preference policyPreference,
    Preference referencePreference, Generation policy, Generation reference, double klMean, double klStd,
    double winRate, long samples, long prompts, List<Sample> sampleRows) {
  public static final String EVAL_JSON = "eval.json";
  public static final String SAMPLES_JSONL = "samples.jsonl";
  // bare NaN/Infinity too (Python's json writes them; Jackson writes them as strings, read as strings below)
  private static final ObjectMapper JSON = com.fasterxml.jackson.databind.json.JsonMapper.builder()
      .enable(com.fasterxml.jackson.core.json.JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

  /** Preference accuracy on held-out pairs: share with margin > 0, the mean margin, mean summed log-probs. */
  public record Preference(long pairs, double accuracy, double marginMean, double chosenLogpMean,
      double rejectedLogpMean) {}

  /** Sampled completions of one model: reward mean/std, mean summed log-prob, mean length in tokens. */
  public record Generation(double rewardMean, double rewardStd, double logpMean, double lengthMean) {}

  /** One model's completion of a prompt. */
  public record Completion(String text, long tokens, double reward, double logpPolicy, double logpReference) {}

  /** One line of samples.jsonl. */
  public record Sample(String promptId, String prompt, int sample, long seed, Completion policy,
      Completion reference) {}

  /** Reads {@code dir/eval.json} and {@code dir/samples.jsonl} (samples.jsonl may be absent: no samples). */
  public static EvalRun read(Path dir) {
    Path file = dir.resolve(EVAL_JSON);
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException(file + " does not exist: give the directory of an evaluate output");
    }
    JsonNode j;
    try {
      j = JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new IllegalArgumentException(file + " is not valid JSON (" + firstLine(e) + "): re-run evaluate", e);
    }
    Fields f = new Fields(file);
    String label = j.path("label").isTextual() && !j.path("label").asText().isBlank() ? j.path("label").asText()
        : dir.getFileName() == null ? dir.toString() : dir.getFileName().toString();
    return new EvalRun(dir, label, f.num(j, "beta"),
        preference(f, j, "preference.policy"), preference(f, j, "preference.reference"),
        generation(f, j, "policy"), generation(f, j, "reference"),
        f.num(j, "kl_mean"), f.num(j, "kl_std"), f.num(j, "win_rate"),
        (long) f.num(j, "samples"), (long) f.num(j, "prompts"), readSamples(dir.resolve(SAMPLES_JSONL)));
  }

  private static Preference preference(Fields f, JsonNode j, String at) {
    return new Preference((long) f.num(j, at + ".pairs"), f.num(j, at + ".accuracy"), f.num(j, at + ".margin_mean"),
        f.num(j, at + ".chosen_logp_mean"), f.num(j, at + ".rejected_logp_mean"));
  }

  private static Generation generation(Fields f, JsonNode j, String at) {
    return new Generation(f.num(j, at + ".reward_mean"), f.num(j, at + ".reward_std"), f.num(j, at + ".logp_mean"),
        f.num(j, at + ".length_mean"));
  }

  static List<Sample> readSamples(Path file) {
    List<Sample> rows = new ArrayList<>();
    if (!Files.isRegularFile(file)) return rows;
    Fields f = new Fields(file);
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String line;
      int n = 0;
      while ((line = in.readLine()) != null) {
        n++;
        if (line.isBlank()) continue;
        JsonNode j;
        try {
          j = JSON.readTree(line);
        } catch (IOException e) {
          throw new IllegalArgumentException(file + " line " + n + " is not valid JSON (" + firstLine(e)
              + "): re-run evaluate", e);
        }
        Fields at = f.line(n);
        rows.add(new Sample(at.text(j, "prompt_id"), at.text(j, "prompt"), (int) at.num(j, "sample"),
            (long) at.num(j, "seed"), completion(at, j, "policy"), completion(at, j, "reference")));
      }
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
    }
    return rows;
  }

  private static Completion completion(Fields f, JsonNode j, String at) {
    return new Completion(f.text(j, at + ".completion"), (long) f.num(j, at + ".tokens"), f.num(j, at + ".reward"),
        f.num(j, at + ".logp_policy"), f.num(j, at + ".logp_reference"));
  }

  private static String firstLine(Exception e) {
    String m = String.valueOf(e.getMessage());
    int nl = m.indexOf('\n');
    return nl < 0 ? m : m.substring(0, nl);
  }

  /** Dotted-path field access whose errors name the file (and line) and the field. */
  private record Fields(Path file, int line) {
    Fields(Path file) {
      this(file, 0);
    }

    Fields line(int n) {
      return new Fields(file, n);
    }

    JsonNode node(JsonNode j, String path) {
      JsonNode n = j;
      for (String part : path.split("\\.")) n = n.path(part);
      return n;
    }

    double num(JsonNode j, String path) {
      JsonNode n = node(j, path);
      if (n.isNumber()) return n.asDouble();
      // NaN/Infinity are written as strings by some JSON writers (a KL of an empty sample set is NaN)
      if (n.isTextual() && n.asText().matches("NaN|-?Infinity")) return Double.parseDouble(n.asText());
      throw new IllegalArgumentException(where() + ": field " + path + (n.isMissingNode() ? " is missing" : " is not a"
          + " number (" + n + ")") + ": re-run evaluate with this version of spark-dpo");
    }

    String text(JsonNode j, String path) {
      JsonNode n = node(j, path);
      if (n.isTextual()) return n.asText();
      if (n.isNumber()) return n.asText(); // a numeric prompt id
      throw new IllegalArgumentException(where() + ": field " + path + (n.isMissingNode() ? " is missing" : " is not a"
          + " string (" + n + ")") + ": re-run evaluate with this version of spark-dpo");
    }

    private String where() {
      return line > 0 ? file + " line " + line : file.toString();
    }
  }
}
