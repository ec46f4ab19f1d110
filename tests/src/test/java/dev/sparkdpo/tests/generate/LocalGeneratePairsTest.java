package dev.sparkdpo.tests.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.eval.LexiconReward;
import dev.sparkdpo.tests.cli.CliRuns;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructField;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code generate-pairs} end to end: a tiny init-model model with GPT-2's tokenizer samples completions of sentence
 * prefixes of the SOTU speeches (and of an ingest output's prompts), rewarded by AFINN-165. The output has ingest's
 * schema plus the two rewards, and reference + train run on it; rewards are the lexicon's scores of the stored texts;
 * two runs, on local[2] and local[1] (2 tasks vs 1), write identical pairs; the pairing rules hold; a rerun is skipped;
 * a bad option is one error line. Measured on the shared 2-core machine: 66 s at a load of ~12, 199 s at ~17.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class LocalGeneratePairsTest {
  static final String AFINN = "lexicon:" + CliRuns.testData().resolve("data/afinn-165/afinn-165.json");
  static final int K = 4;

  @TempDir static Path tmp;
  static Path model, ingest, generated;
  static CliRuns.Run first;

  @BeforeAll
  static void prepare() throws IOException {
    model = tmp.resolve("model");
    ok(CliRuns.run("init-model", "--tokenizer", CliRuns.gpt2Tokenizer().toString(), "--output", model.toString(),
        "--n-layer", "2", "--n-embd", "32", "--n-head", "2", "--n-positions", "64", "--seed", "3"));
    Path corpus = Files.createDirectories(tmp.resolve("corpus"));
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      ObjectNode record = CliRuns.JSON.createObjectNode().put("prompt", "Review " + i + ": the film was")
          .put("chosen", " good").put("rejected", " bad " + i);
      lines.add(record.toString());
      lines.add(record.put("rejected", " awful " + i).toString()); // the same prompt twice: one prompt
    }
    Files.writeString(corpus.resolve("reviews.jsonl"), String.join("\n", lines) + "\n");
    ingest = tmp.resolve("ingest");
    ok(CliRuns.run("ingest", "--master", "local[2]", "--input", corpus.toString(), "--output", ingest.toString(),
        "--tokenizer", CliRuns.gpt2Tokenizer().toString(), "--eval-fraction", "0.3", "--conf",
        "spark.ui.enabled=false"));
    generated = tmp.resolve("generated");
    first = ok(generate("local[2]", generated));
  }

  @AfterAll
  static void stop() {
    CliRuns.stopSpark();
  }

  private static CliRuns.Run ok(CliRuns.Run r) {
    assertEquals(0, r.exitCode(), r::describe);
    return r;
  }

  /** 12 SOTU prefixes x K samples of 8 tokens, 4 prompts a batch (3 batches: 2 tasks on local[2], 1 on local[1]). */
  private static CliRuns.Run generate(String master, Path output, String... extra) {
    List<String> args = new ArrayList<>(List.of("generate-pairs", "--master", master, "--prompts",
        CliRuns.testData().resolve("data/sotu") + "/*.txt", "--model", model.toString(), "--reward", AFINN,
        "--output", output.toString(), "--max-prompts", "12", "--samples-per-prompt", String.valueOf(K),
        "--max-new-tokens", "8", "--batch-rows", "16", "--eval-fraction", "0.3", "--conf", "spark.ui.enabled=false"));
    args.addAll(List.of(extra));
    return CliRuns.run(args.toArray(String[]::new));
  }

  /** Every row of {@code <output>/pairs}, sorted by id, as column -> value (arrays as lists). */
  static List<Map<String, Object>> rows(Path output) {
    List<Map<String, Object>> out = new ArrayList<>();
    CliRuns.withLocalSpark(spark -> {
      Dataset<Row> pairs = spark.read().parquet(output.resolve("pairs").toString()).orderBy(PairSchema.ID);
      for (Row r : pairs.collectAsList()) {
        Map<String, Object> m = new TreeMap<>();
        for (String c : pairs.columns()) {
          int i = r.fieldIndex(c);
          m.put(c, r.get(i) instanceof scala.collection.Seq<?> ? r.getList(i) : r.get(i));
        }
        out.add(m);
      }
    });
    return out;
  }

  static List<String> schema(Path output) {
    List<String> out = new ArrayList<>();
    CliRuns.withLocalSpark(spark -> {
      for (StructField f : spark.read().parquet(output.resolve("pairs").toString()).schema().fields()) {
        out.add(f.name() + " " + f.dataType().simpleString());
      }
    });
    return out;
  }

  @Test
  void pairsHaveIngestsSchemaExactRewardsAndBestWorstPairing() throws IOException {
    List<String> generatedSchema = schema(generated);
    List<String> ingestSchema = schema(ingest);
    List<String> withoutRewards = new ArrayList<>(generatedSchema);
    assertTrue(withoutRewards.removeAll(List.of("chosen_reward double", "rejected_reward double")), generatedSchema::toString);
    assertEquals(ingestSchema, withoutRewards);

    LexiconReward afinn = LexiconReward.read(AFINN.substring("lexicon:".length()), new Configuration());
    List<Map<String, Object>> rows = rows(generated);
    assertTrue(rows.size() >= 3, "pairs: " + rows.size());
    Map<String, Integer> perPrompt = new HashMap<>();
    for (Map<String, Object> r : rows) {
      String prompt = (String) r.get("prompt");
      int words = prompt.split(" ").length;
      assertTrue(words >= 2 && words <= 8, prompt);
      assertEquals(afinn.score(prompt, (String) r.get("chosen")), (double) r.get("chosen_reward"), 0, r::toString);
      assertEquals(afinn.score(prompt, (String) r.get("rejected")), (double) r.get("rejected_reward"), 0, r::toString);
      assertTrue((double) r.get("chosen_reward") > (double) r.get("rejected_reward"), r::toString);
      assertEquals("generated", r.get("format"));
      assertTrue(((String) r.get("source")).endsWith(".txt"), r::toString);
      assertEquals(((List<?>) r.get("chosen_ids")).size(), r.get("chosen_len"));
      assertTrue(((List<?>) r.get("chosen_ids")).size() <= 8);
      assertTrue(List.of("train", "eval").contains(r.get("split")));
      perPrompt.merge(prompt, 1, Integer::sum);
    }
    assertTrue(perPrompt.values().stream().allMatch(n -> n == 1), "best-worst: one pair a prompt " + perPrompt);

    JsonNode stats = CliRuns.JSON.readTree(generated.resolve("stats.json").toFile());
    assertEquals(12, stats.at("/prompts/used").asInt());
    assertEquals(12 * K, stats.get("samples").asInt());
    assertEquals(rows.size(), stats.get("pairs").asInt());
    assertEquals(rows.stream().filter(r -> r.get("split").equals("eval")).count(), stats.get("eval_pairs").asLong());
    // a prompt without a pair: its best and worst tied (empty and repeated completions are left out first)
    assertEquals(12 - rows.size(), stats.at("/dropped/tie").asInt(), stats::toString);
    assertEquals(rows.stream().mapToDouble(r -> (double) r.get("chosen_reward")).average().orElseThrow(),
        stats.at("/reward/chosen/mean").asDouble(), 1e-12);
    assertEquals(12 * K, stats.at("/reward/samples/n").asInt());
    assertEquals("best-worst", stats.at("/settings/pairing").asText());
    JsonNode printed = first.printedJson();
    assertFalse(printed.get("skipped").asBoolean());
    assertEquals(1, printed.get("model_loads").asInt());
    assertEquals("generate-pairs", CliRuns.JSON.readTree(generated.resolve("_spark_dpo.json").toFile())
        .get("stage").asText());
  }

  @Test
  void aRunOnOneCoreWritesTheSamePairsAndARerunIsSkipped() {
    Path local = tmp.resolve("generated-local1");
    ok(generate("local[1]", local));
    assertEquals(rows(generated), rows(local));

    CliRuns.Run again = ok(generate("local[2]", generated));
    assertTrue(again.printedJson().get("skipped").asBoolean(), again::describe);

    Path otherSeed = tmp.resolve("generated-seed7");
    ok(generate("local[2]", otherSeed, "--seed", "7"));
    assertNotEquals(rows(generated), rows(otherSeed));
  }

  @Test
  void allPairsWithAMinimumGap() throws IOException {
    Path out = tmp.resolve("generated-all");
    ok(generate("local[2]", out, "--pairing", "all", "--min-reward-gap", "2"));
    List<Map<String, Object>> rows = rows(out);
    Map<String, Integer> perPrompt = new HashMap<>();
    for (Map<String, Object> r : rows) {
      assertTrue((double) r.get("chosen_reward") - (double) r.get("rejected_reward") >= 2, r::toString);
      perPrompt.merge((String) r.get("prompt"), 1, Integer::sum);
    }
    assertTrue(perPrompt.values().stream().allMatch(n -> n <= K * (K - 1) / 2), perPrompt::toString);
    JsonNode stats = CliRuns.JSON.readTree(out.resolve("stats.json").toFile());
    long candidates = stats.get("pairs").asLong() + stats.at("/dropped/tie").asLong()
        + stats.at("/dropped/below_min_gap").asLong();
    long distinct = 12L * K - stats.at("/dropped/empty_completion").asLong()
        - stats.at("/dropped/duplicate_completion").asLong();
    // every two distinct completions of a prompt are a candidate
    if (distinct == 12L * K) assertEquals(12L * K * (K - 1) / 2, candidates, stats::toString);
    assertTrue(stats.at("/dropped/below_min_gap").asLong() > 0, stats::toString);
    // every best-worst pair with a gap >= 2 is also one of these
    for (Map<String, Object> r : rows(generated)) {
      if ((double) r.get("chosen_reward") - (double) r.get("rejected_reward") >= 2) {
        assertTrue(rows.stream().anyMatch(a -> a.get("id").equals(r.get("id"))), r::toString);
      }
    }
  }

  @Test
  void promptsOfAnIngestOutputKeepTheirSplitAndReferenceAndTrainTakeThePairs() {
    Path out = tmp.resolve("generated-from-ingest");
    ok(CliRuns.run("generate-pairs", "--master", "local[2]", "--prompts", ingest.toString(), "--model",
        model.toString(), "--reward", AFINN, "--output", out.toString(), "--samples-per-prompt", "6",
        "--max-new-tokens", "8", "--conf", "spark.ui.enabled=false"));
    Map<String, String> splitOf = new HashMap<>();
    for (Map<String, Object> r : rows(ingest)) {
      String prompt = (String) r.get("prompt");
      // a prompt is eval when any of its pairs is
      if (!"eval".equals(splitOf.get(prompt))) splitOf.put(prompt, (String) r.get("split"));
    }
    List<Map<String, Object>> rows = rows(out);
    assertFalse(rows.isEmpty());
    for (Map<String, Object> r : rows) assertEquals(splitOf.get(r.get("prompt")), r.get("split"), r::toString);

    Path reference = tmp.resolve("reference");
    ok(CliRuns.run("reference", "--master", "local[2]", "--data", generated.toString(), "--model", model.toString(),
        "--output", reference.toString(), "--conf", "spark.ui.enabled=false"));
    Path train = tmp.resolve("train");
    ok(CliRuns.run("train", "--master", "local[2]", "--data", reference.toString(), "--model", model.toString(),
        "--output", train.toString(), "--max-steps", "2", "--batch-size-per-worker", "2", "--averaging-frequency",
        "1", "--eval-steps", "2", "--conf", "spark.ui.enabled=false"));
    assertTrue(Files.exists(train.resolve("model/model.safetensors")));
  }

  @Test
  void aBadOptionIsOneErrorLine() {
    for (String[] bad : List.of(new String[] {"--prompt-words", "8-2"}, new String[] {"--pairing", "best"},
        new String[] {"--min-reward-gap", "-1"})) {
      Path out = tmp.resolve("bad");
      CliRuns.Run r = generate("local[1]", out, bad);
      assertEquals(2, r.exitCode(), r::describe);
      List<String> errors = r.stderr().lines().filter(l -> l.startsWith("error:")).toList();
      assertEquals(1, errors.size(), r::describe);
      assertTrue(errors.get(0).startsWith("error: " + bad[0] + " "), errors + " for " + Arrays.toString(bad));
      assertFalse(Files.exists(out));
    }
  }
}
