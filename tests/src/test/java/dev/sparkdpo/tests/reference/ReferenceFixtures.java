package dev.sparkdpo.tests.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.data.PairSchema;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.Tensor;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.reference.ReferenceRuns.IngestOutput;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.IntStream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/** Inputs of the reference-stage tests: a generated corpus, small models, and the HF fixture as an ingest output. */
final class ReferenceFixtures {
  private ReferenceFixtures() {}

  /** The GPT-2 tokenizer's end-of-text id, which init-model writes as the model's BOS/EOS. */
  static final int GPT2_EOS = 50256;

  private static final String[] WORDS = ("the a of to and in that is was for on with as by at from it this be are"
      + " river model market winter garden letter engine answer question number signal nation budget harvest"
      + " quickly slowly carefully never always perhaps however because although café naïve über smörgåsbord"
      + " 東京 データ — “quoted” 42 3.14 2019 x86_64 snake_case CamelCase e-mail O'Brien #hash @user 🙂").split(" ");

  // ------------------------------------------------------------------------------------------------ corpus

  /**
   * A flat JSONL corpus of {@code pairs} distinct pairs spread over {@code files} files: most prompts and responses
   * a few words long, about one in ten long enough that {@code --max-length 128} cuts the prompt (a 64-token budget)
   * or the responses. Deterministic for a seed.
   */
  static Path writeCorpus(Path dir, int pairs, int files, long seed) {
    Random random = new Random(seed);
    List<List<String>> lines = new ArrayList<>();
    for (int f = 0; f < files; f++) lines.add(new ArrayList<>());
    for (int i = 0; i < pairs; i++) {
      String prompt = "Question " + i + ": " + text(random, random.nextInt(10) == 0 ? 60 + random.nextInt(40)
          : 2 + random.nextInt(18));
      String chosen = " " + text(random, responseWords(random));
      String rejected;
      do {
        rejected = " " + text(random, responseWords(random));
      } while (rejected.equals(chosen));
      ObjectNode record = CliRuns.JSON.createObjectNode().put("prompt", prompt).put("chosen", chosen)
          .put("rejected", rejected);
      lines.get(i % files).add(record.toString());
    }
    try {
      Files.createDirectories(dir);
      for (int f = 0; f < files; f++) {
        Files.writeString(dir.resolve("part-" + f + ".jsonl"), String.join("\n", lines.get(f)) + "\n");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return dir;
  }

  private static int responseWords(Random random) {
    return random.nextInt(10) == 0 ? 70 + random.nextInt(60) : 1 + random.nextInt(24);
  }

  private static String text(Random random, int words) {
    StringBuilder sb = new StringBuilder();
    for (int w = 0; w < words; w++) {
      if (w > 0) sb.append(random.nextInt(12) == 0 ? ".\n" : " ");
      sb.append(WORDS[random.nextInt(WORDS.length)]);
    }
    return sb.toString();
  }

  /** Pairs in {@link #ingestCorpus}'s corpus, and its token budget ({@code --max-length}). */
  static final int CORPUS_PAIRS = 240;
  static final int MAX_LENGTH = 128;

  /**
   * The tests' data: {@link #writeCorpus} ({@value #CORPUS_PAIRS} pairs in 3 files) under {@code dir}/corpus, through
   * the real ingest on {@code master} with the GPT-2 tokenizer, {@code --max-length 128} and a quarter in eval, into
   * {@code dir}/ingest.
   */
  static IngestOutput ingestCorpus(Path dir, String master) {
    Path corpus = writeCorpus(dir.resolve("corpus"), CORPUS_PAIRS, 3, 7);
    Path output = dir.resolve("ingest");
    IngestOutput data = ReferenceRuns.ingest(output, List.of("ingest", "--master", master, "--input",
        corpus.toString(), "--output", output.toString(), "--tokenizer", CliRuns.gpt2Tokenizer().toString(),
        "--max-length", String.valueOf(MAX_LENGTH), "--eval-fraction", "0.25", "--conf", "spark.ui.enabled=false"));
    assertEquals(CORPUS_PAIRS, data.pairs().size(), () -> data.stats().toPrettyString());
    assertTrue(data.pairs().values().stream().anyMatch(p -> (Boolean) p.columns().get(PairSchema.RESPONSE_TRUNCATED)),
        "the corpus should have responses cut at --max-length");
    return data;
  }

  // ------------------------------------------------------------------------------------------------ models

  /** {@code spark-dpo init-model}: a 2-layer, 32-wide GPT-2 for the GPT-2 tokenizer's vocab, with this context. */
  static Path initModel(Path dir, long seed, int nPositions) {
    CliRuns.Run r = CliRuns.run("init-model", "--tokenizer", CliRuns.gpt2Tokenizer().toString(), "--output",
        dir.toString(), "--n-layer", "2", "--n-embd", "32", "--n-head", "2", "--n-positions",
        String.valueOf(nPositions), "--seed", String.valueOf(seed));
    assertEquals(0, r.exitCode(), r::describe);
    return dir;
  }

  /** A copy of {@code model} whose final layer norm's weight is NaN: every log-prob it gives is NaN. */
  static Path nanModel(Path model, Path dir) {
    GptCheckpoint checkpoint = GptCheckpoint.load(model);
    Map<String, Tensor> weights = new LinkedHashMap<>(checkpoint.weights());
    Tensor lnF = weights.get("transformer.ln_f.weight");
    float[] nan = new float[lnF.data().length];
    Arrays.fill(nan, Float.NaN);
    weights.put("transformer.ln_f.weight", new Tensor(lnF.shape(), nan));
    new GptCheckpoint(checkpoint.config(), weights).save(dir, GPT2_EOS, model.resolve(GptCheckpoint.TOKENIZER));
    return dir;
  }

  // ------------------------------------------------------------------------------------------------ HF fixture

  static Path hfTinyModel() {
    return CliRuns.testData().resolve("fixtures/hf-gpt2-tiny");
  }

  static JsonNode hfGoldenPairs() {
    try {
      JsonNode pairs = CliRuns.JSON.readTree(hfTinyModel().resolve("golden.json").toFile()).path("pairs");
      assertEquals(4, pairs.size(), "golden.json pairs");
      return pairs;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String goldenId(int i) {
    return "golden-" + i;
  }

  /**
   * The response log-probs transformers computed with the fixture model itself: golden.json's {@code chosen_logp} and
   * {@code rejected_logp} by pair id. (Its {@code ref_chosen_logp} / {@code ref_rejected_logp} are fixed inputs of the
   * DPO-loss goldens, not this model's log-probs.)
   */
  static Map<String, double[]> goldenLogps() {
    JsonNode pairs = hfGoldenPairs();
    Map<String, double[]> out = new LinkedHashMap<>();
    for (int i = 0; i < pairs.size(); i++) {
      JsonNode p = pairs.get(i);
      out.put(goldenId(i), new double[] {p.path("chosen_logp").asDouble(), p.path("rejected_logp").asDouble()});
    }
    return out;
  }

  /**
   * golden.json's pairs as a tokenized ingest output, written by hand: {@code pairs/} with exactly
   * {@link PairSchema#TOKENIZED_PAIRS} (response ids = the full ids after the prompt), partitioned by split (the last
   * pair in eval), a stats.json and {@code _SUCCESS}.
   */
  static Path writeGoldenIngestOutput(Path dir) {
    JsonNode pairs = hfGoldenPairs();
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < pairs.size(); i++) {
      JsonNode p = pairs.get(i);
      List<Integer> prompt = ints(p.path("prompt"));
      List<Integer> chosen = response(ints(p.path("chosen_ids")), prompt);
      List<Integer> rejected = response(ints(p.path("rejected_ids")), prompt);
      assertEquals(ints(p.path("chosen")), chosen, "golden chosen = chosen_ids after the prompt");
      assertEquals(ints(p.path("rejected")), rejected, "golden rejected = rejected_ids after the prompt");
      rows.add(RowFactory.create(goldenId(i), "golden prompt " + i, "golden chosen " + i, "golden rejected " + i,
          "flat", "golden.json", (long) i + 1, prompt, chosen, rejected, prompt.size(), chosen.size(), rejected.size(),
          false, false, i == pairs.size() - 1 ? PairSchema.EVAL : PairSchema.TRAIN));
    }
    CliRuns.withLocalSpark(spark -> spark.createDataFrame(rows, PairSchema.TOKENIZED_PAIRS).write()
        .partitionBy(PairSchema.SPLIT).parquet(dir.resolve("pairs").toString()));
    try {
      Files.writeString(dir.resolve("stats.json"), CliRuns.JSON.createObjectNode().put("output_pairs", rows.size())
          .put("train_pairs", rows.size() - 1).put("eval_pairs", 1).put("note", "golden.json of hf-gpt2-tiny")
          .toString());
      Files.createFile(dir.resolve("_SUCCESS"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return dir;
  }

  private static List<Integer> response(List<Integer> full, List<Integer> prompt) {
    assertEquals(prompt, full.subList(0, prompt.size()), "golden full ids start with the prompt");
    return List.copyOf(full.subList(prompt.size(), full.size()));
  }

  private static List<Integer> ints(JsonNode array) {
    return IntStream.range(0, array.size()).mapToObj(i -> array.get(i).asInt()).toList();
  }
}
