package dev.sparkdpo.tests.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.tests.cli.CliRuns;
import dev.sparkdpo.tests.cli.CliRuns.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * conf/sentiment-sotu.conf's plumbing, shrunk (the 1790s speeches in tests/testdata, a 1-layer model, a few steps):
 * tokenizer -> init-model -> sft on the speeches of years ending 0-7 -> generate-pairs from prefixes of the others,
 * rewarded by AFINN -> reference -> train (DPO) -> evaluate -> runs (DPO at another beta, Preferred-FT, Best-of-2)
 * with checkpoint evaluation -> frontier. Checks that every stage ran and that the frontier has every point; not the
 * science (that is the full experiment's, in README).
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class SentimentExperimentTest {
  @TempDir Path tmp;

  @Test
  void theExperimentRunsEndToEndAndTheFrontierHasEveryPoint() throws Exception {
    Path sotu = CliRuns.testData().resolve("data/sotu");
    Path afinn = CliRuns.testData().resolve("data/afinn-165/afinn-165.json");
    Path root = tmp.resolve("run");
    Path conf = tmp.resolve("sentiment-small.conf");
    Files.writeString(conf, """
        spark { conf { "spark.sql.shuffle.partitions" = 2 } }
        pipeline {
          output = "%1$s"
          checkpoint-evals = true
          runs = [
            { name = dpo-beta-0-5, train { beta = 0.5 } }
            { name = preferred-ft, train { objective = sft } }
            { name = best-of-2, best-of = 2 }
          ]
        }
        tokenizer { data = "%2$s/179[0-7]_*.txt", vocab-size = 600, keep-words = "%3$s", min-count = 2 }
        init-model { n-layer = 1, n-embd = 32, n-head = 2, n-positions = 24, seed = 7 }
        sft { data = "%2$s/179[0-7]_*.txt", learning-rate = 3e-3, batch-size-per-worker = 8, averaging-frequency = 2,
              max-steps = 4, max-eval-pairs = 16, eval-steps = 100, checkpoint-steps = 100 }
        generate-pairs { prompts = ["%2$s/179[89]_*.txt"], reward = "lexicon:%3$s", max-prompts = 60,
                         eval-fraction = 0.3, samples-per-prompt = 3, max-new-tokens = 6, seed = 3 }
        reference { progress-seconds = 30 }
        train { loss = [sigmoid], learning-rate = 1e-3, batch-size-per-worker = 4, averaging-frequency = 2,
                max-steps = 4, eval-steps = 100, checkpoint-steps = 2 }
        evaluate { reward = "lexicon:%3$s", prompts = 4, samples-per-prompt = 2, max-new-tokens = 6 }
        """.formatted(root, sotu, afinn));
    Run run = CliRuns.run("pipeline", "--config", conf.toString(), "--master", "local[2]");
    assertEquals(0, run.exitCode(), run::describe);

    Map<String, String> statuses = new LinkedHashMap<>();
    for (JsonNode s : CliRuns.JSON.readTree(root.resolve("pipeline.json").toFile()).path("stages")) {
      statuses.put(s.path("name").asText(), s.path("status").asText());
    }
    for (String stage : List.of("tokenizer", "init-model", "sft", "generate-pairs", "reference", "train", "evaluate",
        "runs", "frontier")) {
      assertEquals("ran", statuses.get(stage), stage + ": " + statuses);
    }
    assertEquals("disabled", statuses.get("ingest"), statuses.toString());
    assertEquals("disabled", statuses.get("demo"), statuses.toString());

    // every policy evaluated: the pipeline's run and each trained run at step 2 and at the end, Best-of-2, the reference
    JsonNode points = CliRuns.JSON.readTree(root.resolve("frontier/results.json").toFile()).path("points");
    List<String> seen = new ArrayList<>();
    for (JsonNode p : points) {
      seen.add(p.path("run").asText() + (p.has("step") ? "@" + p.path("step").asLong() : ""));
      assertTrue(Double.isFinite(p.path("kl").asDouble()) && Double.isFinite(p.path("reward").asDouble()), p.toString());
      double d2 = p.path("distinct_2").asDouble();
      assertTrue(d2 > 0 && d2 <= 1, p.toString());
    }
    assertEquals(List.of("reference", "run@2", "run@4", "dpo-beta-0-5@2", "dpo-beta-0-5@4", "preferred-ft@2",
        "preferred-ft@4", "best-of-2"), seen);
    JsonNode bestOf = points.get(points.size() - 1);
    assertEquals(Math.log(2) - 0.5, bestOf.path("kl").asDouble(), 1e-12);
    assertEquals(4 * 2, bestOf.path("samples").asLong(), "4 prompts x 2 draws, each the best of 2 samples");
    assertEquals(0.5, points.get(3).path("beta").asDouble());
    assertEquals("sft", points.get(5).path("kind").asText());
    assertTrue(ImageIO.read(root.resolve("frontier/frontier.png").toFile()).getWidth() > 400);
    assertTrue(Files.isRegularFile(root.resolve("runs/dpo-beta-0-5/evaluate/eval.json")));
    assertTrue(Files.isRegularFile(root.resolve("runs/dpo-beta-0-5/evaluate-steps/step-2/eval.json")));
    assertTrue(Files.isRegularFile(root.resolve("evaluate-steps/step-2/eval.json")));

    // a typo in a run's block fails before anything runs, naming the run and the key
    Path bad = tmp.resolve("bad.conf");
    Files.writeString(bad, Files.readString(conf).replace("train { beta = 0.5 }", "train { bta = 0.5 }")
        .replace("%s".formatted(root), tmp.resolve("bad-run").toString()));
    Run failed = CliRuns.run("pipeline", "--config", bad.toString(), "--master", "local[2]");
    assertEquals(2, failed.exitCode(), failed::describe);
    assertTrue(failed.stderr().contains("pipeline.runs[0].train") && failed.stderr().contains("bta")
        && failed.stderr().contains("beta"), failed::describe);
    assertTrue(!Files.exists(tmp.resolve("bad-run/tokenizer")), "nothing ran");
  }
}
