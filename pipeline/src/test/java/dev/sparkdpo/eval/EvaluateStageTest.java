package dev.sparkdpo.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.TestData;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptInit;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The evaluate stage on the tiny HF GPT-2 (vocabulary 1000, context 64) and a generated ingest output: a model
 * against itself has KL 0 on every sample and win rate exactly 0.5; preference metrics match a direct computation
 * from Gpt's log-probs; eval.json carries every key of the contract; a rerun is skipped.
 */
class EvaluateStageTest {
  static final int PAIRS = 60;
  static final double BETA = 0.1;

  @TempDir static Path tmp;
  static SparkSession spark;
  static Path hfModel, otherModel, ingest;
  static List<int[][]> evalPairs = new ArrayList<>(); // {prompt, chosen, rejected}
  static Set<String> evalPrompts = new HashSet<>();

  @BeforeAll
  static void start() throws IOException {
    spark = SparkSession.builder().master("local[2]").appName("evaluate-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        // the CLI's serializer: Kryo cannot serialize records, so nothing of ours may travel as one
        .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer").getOrCreate();
    Path tokenizer = TestData.resolve("fixtures/gpt2-tokenizer/tokenizer.json");
    hfModel = Files.createDirectories(tmp.resolve("hf-tiny"));
    Path fixture = TestData.resolve("fixtures/hf-gpt2-tiny");
    for (String f : List.of(GptCheckpoint.CONFIG, GptCheckpoint.WEIGHTS)) Files.copy(fixture.resolve(f), hfModel.resolve(f));
    Files.copy(tokenizer, hfModel.resolve(GptCheckpoint.TOKENIZER));
    GptCheckpoint hf = GptCheckpoint.load(hfModel);
    otherModel = tmp.resolve("other");
    GptInit.init(hf.config(), 7).save(otherModel, 50256, tokenizer);
    ingest = writeIngest(tmp.resolve("ingest"));
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  /** Tokenized ingest-like output: ids in [1, 1000), a third of the pairs eval; prompts repeat (distinct by ids). */
  static Path writeIngest(Path dir) throws IOException {
    Random random = new Random(3);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < PAIRS; i++) {
      int[] prompt = ids(random, 2 + (i % 10) % 5);
      if (i % 10 >= 5) prompt = ids(new Random(i % 5), 2 + (i % 5)); // the same prompt as 5 pairs earlier... by seed
      int[] chosen = ids(random, 1 + random.nextInt(6));
      int[] rejected = ids(random, 1 + random.nextInt(6));
      boolean eval = i % 3 == 0;
      if (eval) {
        evalPairs.add(new int[][] {prompt, chosen, rejected});
        evalPrompts.add(Arrays.toString(prompt));
      }
      rows.add(RowFactory.create("pair-" + i, "prompt " + Arrays.toString(prompt), "c", "r", "flat", "fixture",
          (long) i, boxed(prompt), boxed(chosen), boxed(rejected), prompt.length, chosen.length, rejected.length,
          false, false, eval ? PairSchema.EVAL : PairSchema.TRAIN));
    }
    spark.createDataFrame(rows, PairSchema.TOKENIZED_PAIRS).coalesce(2).write().partitionBy(PairSchema.SPLIT)
        .parquet(dir.resolve("pairs").toString());
    Files.writeString(dir.resolve("stats.json"), "{\"pairs\":" + PAIRS + "}");
    Files.writeString(dir.resolve(StageOutput.SUCCESS), "");
    return dir;
  }

  private static int[] ids(Random random, int n) {
    int[] out = new int[n];
    for (int i = 0; i < n; i++) out[i] = 1 + random.nextInt(999);
    return out;
  }

  private static List<Integer> boxed(int[] a) {
    return Arrays.stream(a).boxed().toList();
  }

  static EvaluateOptions options(Path model, Path reference, Path output, int prompts, String reward) {
    return new EvaluateOptions(ingest.toString(), model.toString(), reference.toString(), output.toString(), reward,
        prompts, 2, 8, 1.0, 1.0, 42, BETA, null, null, false, 10);
  }

  static Path lexicon() {
    return TestData.resolve("data/afinn-165/afinn-165.json");
  }

  /** Sum of response log-probs of prompt + response under gpt, one pair at a time (no batching). */
  static double logp(Gpt gpt, int[] prompt, int[] response) {
    return gpt.responseLogProbs(new int[][] {DpoBatch.sequence(prompt, response)}, new int[] {prompt.length})[0];
  }

  @Test
  void aModelAgainstItself() throws IOException {
    Path out = tmp.resolve("self");
    EvaluateStage.Result r = EvaluateStage.run(spark, options(hfModel, hfModel, out, 6, "lexicon:" + lexicon()));
    assertFalse(r.skipped());
    JsonNode eval = new ObjectMapper().readTree(out.resolve("eval.json").toFile());
    List<JsonNode> samples = jsonl(out.resolve("samples.jsonl"));
    int prompts = Math.min(6, evalPrompts.size());
    assertEquals(prompts, eval.get("prompts").asInt());
    assertEquals(prompts * 2, samples.size());
    assertEquals(prompts * 2, eval.get("samples").asInt());
    for (JsonNode s : samples) {
      // paired seeds: the same model draws the same completion; scored by the same model: KL term exactly 0
      assertEquals(s.get("policy"), s.get("reference"), s.toString());
      assertEquals(s.at("/policy/logp_policy").asDouble(), s.at("/policy/logp_reference").asDouble(), 0, s.toString());
      assertTrue(s.at("/policy/logp_policy").asDouble() < 0);
      assertEquals(8, s.at("/policy/tokens").asInt()); // no EOS in the vocabulary: max-new-tokens
    }
    assertEquals(0, eval.get("kl_mean").asDouble(), 0);
    assertEquals(0, eval.get("kl_std").asDouble(), 0);
    assertEquals(0.5, eval.get("win_rate").asDouble(), 0);
    // the policy's implicit reward margin against itself is 0 for every pair: accuracy 0 (a tie is no win)
    assertEquals(0, eval.at("/preference/policy/accuracy").asDouble(), 0);
    assertEquals(0, eval.at("/preference/policy/margin_mean").asDouble(), 0);
    checkReferencePreference(eval.at("/preference/reference"), Gpt.from(GptCheckpoint.load(hfModel)));
    checkContract(eval, samples.get(0));
    assertEquals("hf-tiny", eval.get("label").asText());

    // the same inputs and settings again: skipped, output untouched
    String before = Files.readString(out.resolve("samples.jsonl"));
    EvaluateStage.Result again = EvaluateStage.run(spark, options(hfModel, hfModel, out, 6, "lexicon:" + lexicon()));
    assertTrue(again.skipped());
    assertEquals(r.fingerprint(), again.fingerprint());
    assertEquals(before, Files.readString(out.resolve("samples.jsonl")));
  }

  @Test
  void anotherPolicyAgainstTheReference() throws IOException {
    Path out = tmp.resolve("other-vs-hf");
    EvaluateStage.run(spark, options(otherModel, hfModel, out, 4, "lexicon:" + lexicon()));
    JsonNode eval = new ObjectMapper().readTree(out.resolve("eval.json").toFile());
    List<JsonNode> samples = jsonl(out.resolve("samples.jsonl"));
    assertEquals(8, samples.size());
    double[] kl = samples.stream().mapToDouble(s -> s.at("/policy/logp_policy").asDouble()
        - s.at("/policy/logp_reference").asDouble()).toArray();
    assertEquals(EvalMetrics.mean(kl), eval.get("kl_mean").asDouble(), 1e-9);
    assertNotEquals(0, eval.get("kl_mean").asDouble());
    double wins = 0;
    for (JsonNode s : samples) {
      double p = s.at("/policy/reward").asDouble(), q = s.at("/reference/reward").asDouble();
      wins += p > q ? 1 : p == q ? 0.5 : 0;
      RewardModel lex = RewardModel.parse("lexicon:" + lexicon(), new org.apache.hadoop.conf.Configuration(false));
      assertEquals(lex.score("", s.at("/policy/completion").asText()), p, 0);
    }
    assertEquals(wins / samples.size(), eval.get("win_rate").asDouble(), 0);

    // policy preference by hand: beta * ((pc - rc) - (pr - rr)) > 0
    Gpt policy = Gpt.from(GptCheckpoint.load(otherModel)), reference = Gpt.from(GptCheckpoint.load(hfModel));
    int correct = 0;
    double margins = 0;
    for (int[][] p : evalPairs) {
      double m = BETA * ((logp(policy, p[0], p[1]) - logp(reference, p[0], p[1]))
          - (logp(policy, p[0], p[2]) - logp(reference, p[0], p[2])));
      if (m > 0) correct++;
      margins += m;
    }
    JsonNode pref = eval.at("/preference/policy");
    assertEquals(evalPairs.size(), pref.get("pairs").asInt());
    assertEquals((double) correct / evalPairs.size(), pref.get("accuracy").asDouble(), 0);
    assertEquals(margins / evalPairs.size(), pref.get("margin_mean").asDouble(), 1e-4);
    checkReferencePreference(eval.at("/preference/reference"), reference);
  }

  @Test
  void optionsAreValidated() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new EvaluateOptions("d", "m", "r", "o", "none", 0, 2, 48, 1, 1, 42, 0.1, null, null, false, 10));
    assertEquals("--prompts must be >= 1, got 0", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> new EvaluateOptions("d", "m", "r", "o", "none", 64, 2, 48, 1, 1.5, 42, 0.1, null, null, false, 10));
    assertEquals("--top-p must be in (0, 1], got 1.5", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> new EvaluateOptions("d", "m", null, "o", "none", 64, 2, 48, 1, 1, 42, 0.1, null, null, false, 10));
    assertEquals("--reference-model is required", e.getMessage());
  }

  /** The reference's own margin rc - rr, computed pair by pair. */
  private static void checkReferencePreference(JsonNode pref, Gpt reference) {
    int correct = 0;
    double margins = 0, chosen = 0, rejected = 0;
    for (int[][] p : evalPairs) {
      double c = logp(reference, p[0], p[1]), r = logp(reference, p[0], p[2]);
      if (c - r > 0) correct++;
      margins += c - r;
      chosen += c;
      rejected += r;
    }
    int n = evalPairs.size();
    assertEquals(n, pref.get("pairs").asInt());
    assertEquals((double) correct / n, pref.get("accuracy").asDouble(), 0);
    assertEquals(margins / n, pref.get("margin_mean").asDouble(), 1e-4);
    assertEquals(chosen / n, pref.get("chosen_logp_mean").asDouble(), 1e-4);
    assertEquals(rejected / n, pref.get("rejected_logp_mean").asDouble(), 1e-4);
  }

  static void checkContract(JsonNode eval, JsonNode sample) {
    assertEquals(List.of("preference", "policy", "reference", "kl_mean", "kl_std", "win_rate", "samples", "prompts",
        "beta", "label", "settings"), names(eval));
    for (String model : List.of("policy", "reference")) {
      assertEquals(List.of("pairs", "accuracy", "margin_mean", "chosen_logp_mean", "rejected_logp_mean"),
          names(eval.at("/preference/" + model)));
      assertEquals(List.of("reward_mean", "reward_std", "logp_mean", "length_mean"), names(eval.get(model)));
      assertEquals(List.of("completion", "tokens", "reward", "logp_policy", "logp_reference"),
          names(sample.get(model)));
    }
    assertEquals(List.of("data", "model", "reference_model", "reward", "prompts", "samples_per_prompt",
        "max_new_tokens", "temperature", "top_p", "seed"), names(eval.get("settings")));
    assertEquals(List.of("prompt_id", "prompt", "sample", "seed", "policy", "reference"), names(sample));
  }

  private static List<String> names(JsonNode node) {
    List<String> out = new ArrayList<>();
    node.fieldNames().forEachRemaining(out::add);
    return out;
  }

  static List<JsonNode> jsonl(Path file) throws IOException {
    List<JsonNode> out = new ArrayList<>();
    ObjectMapper json = new ObjectMapper();
    for (String line : Files.readAllLines(file)) out.add(json.readTree(line));
    return out;
  }
}
