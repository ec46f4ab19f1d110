package dev.sparkdpo.tests.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.tests.cli.CliRuns;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code evaluate} end to end on Spark {@code local[2]}: a sentiment corpus through the real ingest (GPT-2 tokenizer)
 * and reference, a model from init-model (GPT-2's vocabulary and EOS), then evaluate with the AFINN-165 lexicon of a
 * model against itself: every key of eval.json's contract, prompts x K lines of samples.jsonl, KL 0 and win rate 0.5;
 * a rerun is skipped; a bad --reward is one error line.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class LocalEvaluateTest {
  static final String MASTER = "local[2]";
  static final String[] GOOD = {"great", "good", "love", "happy", "wonderful", "nice"};
  static final String[] BAD = {"bad", "terrible", "hate", "awful", "sad", "poor"};

  @TempDir static Path tmp;
  static Path model, reference;

  @BeforeAll
  static void prepare() throws IOException {
    Path corpus = Files.createDirectories(tmp.resolve("corpus"));
    Random random = new Random(5);
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      ObjectNode record = CliRuns.JSON.createObjectNode().put("prompt", "Review " + i + ": the film was")
          .put("chosen", " " + GOOD[random.nextInt(GOOD.length)] + " and " + GOOD[random.nextInt(GOOD.length)])
          .put("rejected", " " + BAD[random.nextInt(BAD.length)] + " and " + BAD[random.nextInt(BAD.length)]);
      lines.add(record.toString());
    }
    Files.writeString(corpus.resolve("reviews.jsonl"), String.join("\n", lines) + "\n");
    Path ingest = tmp.resolve("ingest");
    ok(CliRuns.run("ingest", "--master", MASTER, "--input", corpus.toString(), "--output", ingest.toString(),
        "--tokenizer", CliRuns.gpt2Tokenizer().toString(), "--max-length", "32", "--eval-fraction", "0.5",
        "--conf", "spark.ui.enabled=false"));
    model = tmp.resolve("model");
    ok(CliRuns.run("init-model", "--tokenizer", CliRuns.gpt2Tokenizer().toString(), "--output", model.toString(),
        "--n-layer", "2", "--n-embd", "32", "--n-head", "2", "--n-positions", "64", "--seed", "3"));
    reference = tmp.resolve("reference");
    ok(CliRuns.run("reference", "--master", MASTER, "--data", ingest.toString(), "--model", model.toString(),
        "--output", reference.toString(), "--conf", "spark.ui.enabled=false"));
  }

  @AfterAll
  static void stop() {
    CliRuns.stopSpark();
  }

  private static CliRuns.Run ok(CliRuns.Run r) {
    assertEquals(0, r.exitCode(), r::describe);
    return r;
  }

  private static CliRuns.Run evaluate(Path output) {
    return evaluateWith(output, "lexicon:" + CliRuns.testData().resolve("data/afinn-165/afinn-165.json"));
  }

  private static CliRuns.Run evaluateWith(Path output, String reward, String... extra) {
    List<String> args = new ArrayList<>(List.of("evaluate", "--master", MASTER, "--data", reference.toString(),
        "--model", model.toString(), "--reference-model", model.toString(), "--output", output.toString(),
        "--reward", reward, "--prompts", "5",
        "--samples-per-prompt", "3", "--max-new-tokens", "6", "--label", "self", "--conf", "spark.ui.enabled=false"));
    args.addAll(List.of(extra));
    return CliRuns.run(args.toArray(String[]::new));
  }

  @Test
  void evaluatesAModelAgainstItselfAndSkipsARerun() throws IOException {
    Path out = tmp.resolve("eval");
    CliRuns.Run run = ok(evaluate(out));
    JsonNode printed = run.printedJson();
    assertFalse(printed.get("skipped").asBoolean());
    assertTrue(Files.exists(out.resolve("_SUCCESS")));

    JsonNode eval = CliRuns.JSON.readTree(out.resolve("eval.json").toFile());
    for (String key : List.of("preference", "policy", "reference", "kl_mean", "kl_std", "win_rate", "samples",
        "prompts", "beta", "label", "settings")) {
      assertTrue(eval.has(key), key + " in " + eval);
    }
    for (String model : List.of("policy", "reference")) {
      for (String key : List.of("pairs", "accuracy", "margin_mean", "chosen_logp_mean", "rejected_logp_mean")) {
        assertTrue(eval.at("/preference/" + model).has(key), model + "." + key);
      }
      for (String key : List.of("reward_mean", "reward_std", "logp_mean", "length_mean")) {
        assertTrue(eval.get(model).has(key), model + "." + key);
      }
    }
    for (String key : List.of("data", "model", "reference_model", "reward", "prompts", "samples_per_prompt",
        "max_new_tokens", "temperature", "top_p", "seed")) {
      assertTrue(eval.get("settings").has(key), "settings." + key);
    }
    assertEquals(5, eval.get("prompts").asInt());
    assertEquals(15, eval.get("samples").asInt());
    assertEquals(0.1, eval.get("beta").asDouble(), 0);
    assertEquals("self", eval.get("label").asText());
    assertEquals(3, eval.at("/settings/samples_per_prompt").asInt());
    assertEquals(0, eval.get("kl_mean").asDouble(), 0);
    assertEquals(0.5, eval.get("win_rate").asDouble(), 0);

    List<String> lines = Files.readAllLines(out.resolve("samples.jsonl"));
    assertEquals(5 * 3, lines.size());
    Set<String> prompts = new HashSet<>();
    for (String line : lines) {
      JsonNode s = CliRuns.JSON.readTree(line);
      prompts.add(s.get("prompt_id").asText());
      assertTrue(s.get("prompt").asText().startsWith("Review "), line);
      assertEquals(s.get("policy"), s.get("reference"), line);
      assertEquals(s.at("/policy/logp_policy").asDouble(), s.at("/policy/logp_reference").asDouble(), 0, line);
      int tokens = s.at("/policy/tokens").asInt();
      assertTrue(tokens >= 1 && tokens <= 6, line);
    }
    assertEquals(5, prompts.size());

    CliRuns.Run again = ok(evaluate(out));
    assertTrue(again.printedJson().get("skipped").asBoolean(), again::describe);
    assertEquals(lines, Files.readAllLines(out.resolve("samples.jsonl")));
  }

  @Test
  void anUnknownRewardIsOneErrorLine() {
    Path out = tmp.resolve("bad-reward");
    CliRuns.Run r = evaluateWith(out, "model:/x");
    assertEquals(2, r.exitCode(), r::describe);
    List<String> errors = r.stderr().lines().filter(l -> l.startsWith("error:")).toList();
    assertEquals(List.of("error: --reward model:/x: unknown kind model; built-in kinds: lexicon:<word->score JSON>"
        + " (e.g. AFINN-165), none (every reward 0)"), errors, r::describe);
    assertFalse(Files.exists(out));
  }
}
