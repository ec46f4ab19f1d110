package dev.sparkdpo.tests.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.Tensor;
import dev.sparkdpo.reference.ReferenceStage;
import dev.sparkdpo.tests.cli.CliRuns;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;

/**
 * Inputs of the training tests: a corpus a tiny model can learn quickly (chosen responses made of positive words,
 * rejected ones of negative words), and the pipeline up to a reference output (init-model, ingest, reference), all
 * through the real CLI. Also readers for what a training run writes.
 */
public final class TrainFixtures {
  private TrainFixtures() {}

  static final String[] POSITIVE = "good great happy love excellent wonderful nice kind brilliant joy".split(" ");
  static final String[] NEGATIVE = "bad awful sad hate terrible horrible nasty cruel poor pain".split(" ");
  private static final String[] TOPICS = ("river market garden winter letter engine harvest city forest mountain"
      + " village kitchen library ocean festival bridge castle school music island").split(" ");
  private static final String[] PLACES = ("market station tower valley road house harbor field museum park").split(" ");

  /** Pairs in {@link #prepare}'s corpus; its token budget (ingest --max-length = the model's context). */
  static final int CORPUS_PAIRS = 400;
  static final int MAX_LENGTH = 64;
  static final double EVAL_FRACTION = 0.2;

  // ------------------------------------------------------------------------------------------------ corpus

  /**
   * A flat JSONL corpus of {@code pairs} distinct pairs: prompts like "Tell me about the river market.", chosen
   * responses of 3-8 positive words, rejected responses of 3-8 negative words. Deterministic for a seed.
   */
  static Path writeCorpus(Path file, int pairs, long seed) {
    Random random = new Random(seed);
    Set<String> lines = new LinkedHashSet<>();
    while (lines.size() < pairs) {
      String prompt = "Tell me about the " + pick(random, TOPICS) + " " + pick(random, PLACES) + ".";
      ObjectNode record = CliRuns.JSON.createObjectNode().put("prompt", prompt)
          .put("chosen", " " + words(random, POSITIVE)).put("rejected", " " + words(random, NEGATIVE));
      lines.add(record.toString());
    }
    try {
      Files.createDirectories(file.getParent());
      Files.writeString(file, String.join("\n", lines) + "\n");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return file;
  }

  private static String pick(Random random, String[] words) {
    return words[random.nextInt(words.length)];
  }

  private static String words(Random random, String[] words) {
    int n = 3 + random.nextInt(6);
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < n; i++) {
      if (i > 0) sb.append(' ');
      sb.append(pick(random, words));
    }
    return sb.toString();
  }

  // ------------------------------------------------------------------------------------------------ pipeline

  /** What {@link #prepare} made: the model, the ingest output (and its stats.json) and the reference output. */
  record Prepared(Path corpus, Path model, Path ingest, JsonNode ingestStats, Path reference) {
    long trainPairs() {
      return ingestStats.path("train_pairs").asLong(-1);
    }

    long evalPairs() {
      return ingestStats.path("eval_pairs").asLong(-1);
    }
  }

  /**
   * The corpus ({@value #CORPUS_PAIRS} pairs, seed {@code seed}) under {@code dir}/corpus, a model from init-model
   * (seed {@code modelSeed}) in {@code dir}/model, then the real ingest (GPT-2 tokenizer, --max-length 64, a fifth in
   * eval) and reference with that model, both on {@code master}: the inputs of {@code train}.
   */
  static Prepared prepare(Path dir, String master, long seed, long modelSeed) {
    Path corpus = writeCorpus(dir.resolve("corpus").resolve("corpus.jsonl"), CORPUS_PAIRS, seed);
    Path model = initModel(dir.resolve("model"), modelSeed);
    Path ingest = dir.resolve("ingest");
    run("ingest", "--master", master, "--input", corpus.toString(), "--output", ingest.toString(), "--tokenizer",
        CliRuns.gpt2Tokenizer().toString(), "--max-length", String.valueOf(MAX_LENGTH), "--eval-fraction",
        String.valueOf(EVAL_FRACTION), "--conf", "spark.ui.enabled=false");
    assertTrue(Files.exists(ingest.resolve("_SUCCESS")), "ingest wrote no _SUCCESS");
    JsonNode stats = readJson(ingest.resolve("stats.json"));
    Path reference = dir.resolve("ref");
    run("reference", "--master", master, "--data", ingest.toString(), "--model", model.toString(), "--output",
        reference.toString(), "--conf", "spark.ui.enabled=false");
    assertTrue(Files.exists(reference.resolve("_SUCCESS")), "reference wrote no _SUCCESS");
    Prepared p = new Prepared(corpus.getParent(), model, ingest, stats, reference);
    assertTrue(p.trainPairs() > 250 && p.evalPairs() > 40, () -> "ingest stats: " + stats.toPrettyString());
    return p;
  }

  /** {@code spark-dpo init-model}: a 2-layer, 32-wide GPT-2 for the GPT-2 tokenizer, context 64. */
  static Path initModel(Path dir, long seed) {
    run("init-model", "--tokenizer", CliRuns.gpt2Tokenizer().toString(), "--output", dir.toString(), "--n-layer", "2",
        "--n-embd", "32", "--n-head", "2", "--n-positions", String.valueOf(MAX_LENGTH), "--seed", String.valueOf(seed));
    return dir;
  }

  private static CliRuns.Run run(String... args) {
    CliRuns.Run r = CliRuns.run(args);
    assertEquals(0, r.exitCode(), r::describe);
    return r;
  }

  // ------------------------------------------------------------------------------------------------ train args

  /** {@code train} on {@code master} without a UI, plus {@code extra}. */
  static List<String> trainArgs(String master, Path data, Path model, Path output, String... extra) {
    List<String> a = new ArrayList<>(List.of("train", "--master", master, "--data", data.toString(), "--model",
        model.toString(), "--output", output.toString(), "--conf", "spark.ui.enabled=false"));
    a.addAll(List.of(extra));
    return a;
  }

  /**
   * The steps after which a run of {@code n} steps evaluates or checkpoints every {@code every} steps: the end of each
   * averaging round (k steps, restarting at every epoch of {@code stepsPerEpoch} steps) that reaches a multiple of
   * {@code every}, and the last step.
   */
  static List<Long> everySteps(long n, long stepsPerEpoch, int k, long every) {
    List<Long> out = new ArrayList<>();
    long last = 0;
    for (long step = 0; step < n; ) {
      long inEpoch = step % stepsPerEpoch;
      step = Math.min(n, step + Math.min(k, stepsPerEpoch - inEpoch));
      if (step == n || step / every > last / every) {
        out.add(step);
        last = step;
      }
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------ outputs

  static JsonNode readJson(Path file) {
    try {
      return CliRuns.JSON.readTree(file.toFile());
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file, e);
    }
  }

  /** Every line of {@code <output>/metrics.jsonl}, in order. */
  static List<JsonNode> metrics(Path output) {
    try {
      List<JsonNode> out = new ArrayList<>();
      for (String line : Files.readAllLines(output.resolve("metrics.jsonl"))) {
        if (!line.isBlank()) out.add(CliRuns.JSON.readTree(line));
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + output.resolve("metrics.jsonl"), e);
    }
  }

  /** The per-step lines of metrics.jsonl (those without eval_loss). */
  static List<JsonNode> stepLines(List<JsonNode> metrics) {
    return metrics.stream().filter(j -> !j.has("eval_loss")).toList();
  }

  /** The eval lines of metrics.jsonl. */
  static List<JsonNode> evalLines(List<JsonNode> metrics) {
    return metrics.stream().filter(j -> j.has("eval_loss")).toList();
  }

  /** The mean reference log-prob of the chosen and of the rejected responses over a reference output's eval pairs. */
  static double[] evalReferenceMeans(Path reference) {
    double[] out = new double[2];
    CliRuns.withLocalSpark(spark -> {
      Dataset<Row> eval = spark.read().parquet(reference.resolve("pairs").toString())
          .filter(functions.col(PairSchema.SPLIT).equalTo(PairSchema.EVAL));
      Row means = eval.agg(functions.avg(ReferenceStage.REF_CHOSEN), functions.avg(ReferenceStage.REF_REJECTED)).first();
      out[0] = means.getDouble(0);
      out[1] = means.getDouble(1);
    });
    return out;
  }

  /** The largest |a - b| over every tensor of two models; fails if their tensor names or shapes differ. */
  /**
   * Largest |a - b| over the weights, leaving out the attention's key biases (the middle third of each c_attn.bias):
   * their gradient is 0 in exact arithmetic (softmax ignores a constant added to every key of a query), so Adam turns
   * the rounding noise they get into steps of about the learning rate whose signs depend on the order of float sums —
   * in PyTorch too. Two runs that sum in another order (another machine, executor, thread count) differ there only.
   */
  static double maxAbsDifferenceButKeyBiases(Path a, Path b) {
    Map<String, Tensor> wa = GptCheckpoint.load(a).weights();
    Map<String, Tensor> wb = GptCheckpoint.load(b).weights();
    double worst = 0;
    for (Map.Entry<String, Tensor> e : wa.entrySet()) {
      float[] da = e.getValue().data(), db = wb.get(e.getKey()).data();
      boolean attnBias = e.getKey().endsWith("attn.c_attn.bias");
      int third = da.length / 3;
      for (int i = 0; i < da.length; i++) {
        if (attnBias && i >= third && i < 2 * third) continue;
        worst = Math.max(worst, Math.abs((double) da[i] - db[i]));
      }
    }
    return worst;
  }

  public static double maxAbsDifference(Path a, Path b) {
    Map<String, Tensor> wa = GptCheckpoint.load(a).weights();
    Map<String, Tensor> wb = GptCheckpoint.load(b).weights();
    assertEquals(wa.keySet(), wb.keySet(), "tensor names of " + a + " and " + b);
    double worst = 0;
    for (Map.Entry<String, Tensor> e : wa.entrySet()) {
      Tensor ta = e.getValue();
      Tensor tb = wb.get(e.getKey());
      assertTrue(java.util.Arrays.equals(ta.shape(), tb.shape()), "shape of " + e.getKey());
      float[] da = ta.data();
      float[] db = tb.data();
      for (int i = 0; i < da.length; i++) {
        double d = Math.abs((double) da[i] - db[i]);
        worst = Math.max(worst, Double.isNaN(d) ? Double.POSITIVE_INFINITY : d);
      }
    }
    return worst;
  }
}
