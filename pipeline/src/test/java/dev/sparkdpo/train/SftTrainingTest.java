package dev.sparkdpo.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.TestData;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SFT with the same trainer: next-token cross-entropy on real text (State of the Union speeches of the 1790s, GPT-2
 * tokenizer), chunked to the model's context, a held-out fraction evaluated before and after.
 */
class SftTrainingTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void sftOnTextLowersHeldOutPerplexity(@TempDir Path tmp) throws IOException {
    Path tokenizer = TestData.resolve("fixtures/gpt2-tokenizer/tokenizer.json");
    Path model = tmp.resolve("model");
    GptInit.init(new GptConfig(50257, 64, 32, 2, 2, 1e-5), 5).save(model, 50256, tokenizer);
    String text = TestData.resolve("data/sotu").toString() + "/179*.txt";
    Path out = tmp.resolve("sft");
    SparkSession spark = SparkSession.builder().master("local[2]").appName("sft-test")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").getOrCreate();
    try {
      TrainOptions opts = new TrainOptions(text, model.toString(), out.toString(), TrainOptions.Objective.SFT, null,
          TrainOptions.Optimizer.of("adamw", 1e-2, 2, WarmupSchedule.Decay.COSINE, 0.01, 1.0),
          new TrainOptions.Parallelism(2, 4, 2), new TrainOptions.Schedule(1, 24, 0, 0, 60, 0), 7, false, false,
          false, new TrainOptions.Text(null, 0, 0.05));
      Trainer.Result r = Trainer.run(spark, opts);
      assertEquals(24, r.steps());
    } finally {
      spark.stop();
    }
    List<JsonNode> lines = new ArrayList<>();
    for (String line : Files.readAllLines(out.resolve(MetricsLog.FILE))) lines.add(JSON.readTree(line));
    List<JsonNode> evals = lines.stream().filter(j -> j.has("eval_perplexity")).toList();
    List<JsonNode> steps = lines.stream().filter(j -> j.has("loss")).toList();
    double before = evals.get(0).get("eval_perplexity").asDouble();
    double after = evals.get(evals.size() - 1).get("eval_perplexity").asDouble();
    System.out.printf("SftTrainingTest: held-out perplexity %.1f -> %.1f (%d chunks), train loss %.3f -> %.3f%n",
        before, after, evals.get(0).get("eval_pairs").asLong(), steps.get(0).get("loss").asDouble(),
        steps.get(steps.size() - 1).get("loss").asDouble());
    assertTrue(before > 20_000, "an untrained model over 50,257 tokens: perplexity " + before);
    assertTrue(after < 0.25 * before, "perplexity " + before + " -> " + after);
    assertEquals(Math.log(before), evals.get(0).get("eval_loss").asDouble(), 0.5);
    // warmup then cosine decay to 0 at the last step
    assertEquals(0.0, steps.get(0).get("learning_rate").asDouble(), 1e-12);
    assertEquals(1e-2, steps.get(2).get("learning_rate").asDouble(), 1e-12);
    assertTrue(steps.get(23).get("learning_rate").asDouble() < 1e-4);
    assertTrue(Files.exists(out.resolve("model/tokenizer.json")), "the final model keeps its tokenizer");
  }
}
