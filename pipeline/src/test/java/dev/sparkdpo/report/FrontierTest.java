package dev.sparkdpo.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The frontier's numbers: Best-of-N from samples, its analytic KL, distinct-n and repetition, and the chart. */
class FrontierTest {
  @TempDir Path tmp;

  @Test
  void bestOfNKlIsLogNMinusNMinusOneOverN() {
    assertEquals(0.0, Frontier.bestOfNKl(1), 0);
    assertEquals(Math.log(4) - 0.75, Frontier.bestOfNKl(4), 1e-15);
    assertEquals(Math.log(16) - 15.0 / 16, Frontier.bestOfNKl(16), 1e-15);
  }

  @Test
  void distinctAndRepetitionCountWords() {
    List<String> texts = List.of("good good good", "a b c", "");
    // unigrams: good x3, a, b, c = 6, distinct 4; bigrams: good good x2, a b, b c = 4, distinct 3
    assertEquals(4 / 6.0, Frontier.distinct(texts, 1), 1e-15);
    assertEquals(3 / 4.0, Frontier.distinct(texts, 2), 1e-15);
    // "good good good": 2 of 3 words repeat; "a b c": none; "" not counted
    assertEquals((2 / 3.0 + 0) / 2, Frontier.repetition(texts), 1e-15);
  }

  @Test
  void bestOfNTakesTheBestOfEachGroupOfNSamplesPerPrompt() throws Exception {
    Path eval = ReportFixtures.writeEvaluate(tmp.resolve("bon"), "best-of", 0.1, 0, 0, 12, 8, 5);
    // by hand from samples.jsonl: per prompt, samples in order, groups of N, max reward
    Map<String, List<Double>> rewards = new LinkedHashMap<>();
    for (String line : Files.readAllLines(eval.resolve(EvalRun.SAMPLES_JSONL))) {
      JsonNode j = new ObjectMapper().readTree(line);
      rewards.computeIfAbsent(j.path("prompt_id").asText(), k -> new ArrayList<>()).add(j.path("policy").path("reward")
          .asDouble());
    }
    double previous = Double.NEGATIVE_INFINITY;
    for (int n : new int[] {1, 2, 4, 8}) {
      double sum = 0;
      int groups = 0;
      for (List<Double> r : rewards.values()) {
        for (int g = 0; g + n <= r.size(); g += n, groups++) {
          sum += r.subList(g, g + n).stream().mapToDouble(Double::doubleValue).max().orElseThrow();
        }
      }
      Frontier.Point p = Frontier.bestOf(new Frontier.BestOf("best-of-" + n, n, eval));
      assertEquals(sum / groups, p.reward(), 1e-12, "best-of-" + n);
      assertEquals(12 * 8 / n, p.samples());
      assertEquals(Frontier.bestOfNKl(n), p.kl(), 0);
      // nested groups: the best of 2N is never below the best of N
      assertTrue(p.reward() >= previous, "best-of-" + n);
      previous = p.reward();
    }
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Frontier.bestOf(new Frontier.BestOf("best-of-16", 16, eval)));
    assertTrue(e.getMessage().contains("samples-per-prompt >= 16"), e.getMessage());
  }

  @Test
  void pointsStartAtTheReferenceAndTheChartIsAPng() throws Exception {
    Path a = ReportFixtures.writeEvaluate(tmp.resolve("a"), "dpo", 0.1, 1.0, 1.5, 6, 4, 1);
    Path b = ReportFixtures.writeEvaluate(tmp.resolve("b"), "dpo", 0.1, 2.0, 3.0, 6, 4, 2);
    Path bon = ReportFixtures.writeEvaluate(tmp.resolve("bon"), "bon", 0.1, 0.0, 0.0, 6, 16, 3);
    List<Frontier.Point> points = Frontier.points(List.of(new Frontier.Policy("dpo", "dpo", 0.1, 10L, a),
        new Frontier.Policy("dpo", "dpo", 0.1, 20L, b)), List.of(new Frontier.BestOf("bon-4", 4, bon)));
    assertEquals(List.of("reference", "dpo", "dpo", "bon-4"), points.stream().map(Frontier.Point::run).toList());
    assertEquals(0, points.get(0).kl());
    assertEquals(EvalRun.read(a).reference().rewardMean(), points.get(0).reward(), 0);
    assertEquals(EvalRun.read(b).klMean(), points.get(2).kl(), 0);
    assertEquals(EvalRun.read(b).policy().rewardMean(), points.get(2).reward(), 0);
    assertNull(points.get(3).beta());
    JsonNode json = new ObjectMapper().readTree(Frontier.resultsJson(points));
    assertEquals(4, json.path("points").size());
    assertEquals(20, json.path("points").get(2).path("step").asLong());
    assertEquals(4, json.path("points").get(3).path("n").asInt());
    Path png = tmp.resolve("frontier.png");
    Frontier.writePng(points, png);
    assertTrue(ImageIO.read(png.toFile()).getWidth() > 400);
  }
}
