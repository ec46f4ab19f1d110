package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Gpt forward / log-probs against HF transformers on a tiny random GPT-2 (fixtures/hf-gpt2-tiny/golden.json). */
class GptForwardTest {

  static final double TOL = 1e-4;

  /** One golden sequence: full ids, prompt length, per-token log-probs, response log-prob, last logits[0..8). */
  record Golden(String name, int[] ids, int promptLength, double[] tokenLogps, double logp, double[] lastLogits8) {}

  static Gpt gpt;
  static List<Golden> golden;

  static Path testData() {
    return dev.sparkdpo.TestData.dir();
  }

  @BeforeAll
  static void load() throws Exception {
    Path dir = testData().resolve("fixtures/hf-gpt2-tiny");
    assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")), "missing fixture in " + dir);
    gpt = Gpt.from(GptCheckpoint.load(dir));
    JsonNode root = new ObjectMapper().readTree(dir.resolve("golden.json").toFile());
    golden = new ArrayList<>();
    int i = 0;
    for (JsonNode pair : root.get("pairs")) {
      int promptLength = pair.get("prompt").size();
      for (String side : List.of("chosen", "rejected")) {
        golden.add(new Golden("pair " + i + " " + side, ints(pair.get(side + "_ids")), promptLength,
            doubles(pair.get(side + "_token_logps")), pair.get(side + "_logp").asDouble(),
            doubles(pair.get(side + "_last_logits_first8"))));
      }
      i++;
    }
    assertEquals(8, golden.size());
  }

  @Test
  void allEightSequencesInOneBatchMatchGolden() {
    int[][] tokens = golden.stream().map(Golden::ids).toArray(int[][]::new);
    int[] prompts = golden.stream().mapToInt(Golden::promptLength).toArray();

    float[][] tokenLogps = gpt.tokenLogProbs(tokens);
    double[] logps = gpt.responseLogProbs(tokens, prompts);
    INDArray logits = gpt.logits(tokens);
    assertArrayEquals(new long[] {8, maxLength(tokens), 1000}, logits.shape());

    double maxTok = 0, maxSeq = 0, maxLogit = 0;
    for (int b = 0; b < golden.size(); b++) {
      Golden g = golden.get(b);
      assertEquals(g.tokenLogps().length, tokenLogps[b].length, g.name());
      for (int t = 0; t < g.tokenLogps().length; t++) {
        assertEquals(g.tokenLogps()[t], tokenLogps[b][t], TOL, g.name() + " token " + t);
        maxTok = Math.max(maxTok, Math.abs(g.tokenLogps()[t] - tokenLogps[b][t]));
      }
      assertEquals(g.logp(), logps[b], TOL, g.name() + " sequence logp");
      maxSeq = Math.max(maxSeq, Math.abs(g.logp() - logps[b]));
      for (int v = 0; v < 8; v++) {
        double actual = logits.getDouble(b, g.ids().length - 1, v);
        assertEquals(g.lastLogits8()[v], actual, TOL, g.name() + " last logit " + v);
        maxLogit = Math.max(maxLogit, Math.abs(g.lastLogits8()[v] - actual));
      }
    }
    System.out.printf("GptForwardTest max abs error vs golden: token logp %.2e, sequence logp %.2e, logits %.2e%n",
        maxTok, maxSeq, maxLogit);
  }

  @Test
  void batchOfOneMatchesGoldenAndTheFullBatch() {
    int[][] tokens = golden.stream().map(Golden::ids).toArray(int[][]::new);
    int[] prompts = golden.stream().mapToInt(Golden::promptLength).toArray();
    double[] batched = gpt.responseLogProbs(tokens, prompts);
    float[][] batchedTok = gpt.tokenLogProbs(tokens);
    for (int b = 0; b < golden.size(); b++) {
      Golden g = golden.get(b);
      double alone = gpt.responseLogProbs(new int[][] {g.ids()}, new int[] {g.promptLength()})[0];
      assertEquals(g.logp(), alone, TOL, g.name());
      assertEquals(batched[b], alone, 1e-5, g.name() + " alone vs in the batch");
      float[] aloneTok = gpt.tokenLogProbs(new int[][] {g.ids()})[0];
      assertArrayEquals(batchedTok[b], aloneTok, 1e-5f, g.name() + " token logps alone vs in the batch");
    }
  }

  @Test
  void paddingDoesNotChangeTheShortRow() {
    int[] shortRow = golden.get(1).ids(); // 9 tokens
    int[] longRow = golden.get(3).ids();  // 20 tokens
    assertTrue(longRow.length > shortRow.length);
    float[] alone = gpt.tokenLogProbs(new int[][] {shortRow})[0];
    float[][] padded = gpt.tokenLogProbs(new int[][] {shortRow, longRow});
    assertArrayEquals(alone, padded[0], 1e-5f);

    INDArray logitsAlone = gpt.logits(new int[][] {shortRow});
    INDArray logitsPadded = gpt.logits(new int[][] {longRow, shortRow});
    for (int t = 0; t < shortRow.length; t++) {
      for (int v = 0; v < 1000; v += 37) {
        assertEquals(logitsAlone.getDouble(0, t, v), logitsPadded.getDouble(1, t, v), 1e-5, "t " + t + " v " + v);
      }
    }
  }

  @Test
  void chunkedLogProbsEqualUnchunked() {
    int[][] tokens = golden.stream().map(Golden::ids).toArray(int[][]::new);
    int[] prompts = golden.stream().mapToInt(Golden::promptLength).toArray();
    float[][] whole = gpt.tokenLogProbs(tokens);
    double[] wholeSeq = gpt.responseLogProbs(tokens, prompts);
    for (long bytes : new long[] {1, 3 * 4 * 1000, 17 * 4 * 1000}) { // 1, 3 and 17 rows per chunk
      Gpt chunked = gpt.withLogitsChunkBytes(bytes);
      float[][] parts = chunked.tokenLogProbs(tokens);
      for (int b = 0; b < tokens.length; b++) assertArrayEquals(whole[b], parts[b], 1e-5f, "chunk bytes " + bytes);
      assertArrayEquals(wholeSeq, chunked.responseLogProbs(tokens, prompts), 1e-5, "chunk bytes " + bytes);
    }
  }

  @Test
  void laterTokensDoNotChangeEarlierPositions() {
    int[] ids = golden.get(3).ids().clone(); // 20 tokens
    float[] before = gpt.tokenLogProbs(new int[][] {ids})[0];
    for (int i = 10; i < ids.length; i++) ids[i] = (ids[i] + 1) % 1000;
    float[] after = gpt.tokenLogProbs(new int[][] {ids})[0];
    for (int t = 0; t < 9; t++) assertEquals(before[t], after[t], 1e-6, "position " + t); // t = 9 predicts token 10
  }

  @Test
  void repeatedCallsAreDeterministic() {
    // workspaces reuse memory: an op reading uninitialised memory (as Nd4j.tri does) shows up as run-to-run drift
    int[][] tokens = golden.stream().map(Golden::ids).toArray(int[][]::new);
    int[] prompts = golden.stream().mapToInt(Golden::promptLength).toArray();
    double[] first = gpt.responseLogProbs(tokens, prompts);
    for (int i = 0; i < 3; i++) {
      gpt.tokenLogProbs(new int[][] {golden.get(i).ids()});
      assertArrayEquals(first, gpt.responseLogProbs(tokens, prompts), 0.0);
    }
  }

  @Test
  void emptyResponseAndSingleTokenRow() {
    int[] ids = golden.get(0).ids();
    double[] logps = gpt.responseLogProbs(new int[][] {ids, {ids[0]}}, new int[] {ids.length, 1});
    assertEquals(0.0, logps[0]);
    assertEquals(0.0, logps[1]);
    assertEquals(0, gpt.tokenLogProbs(new int[][] {{ids[0]}})[0].length);
  }

  static int maxLength(int[][] tokens) {
    int t = 0;
    for (int[] row : tokens) t = Math.max(t, row.length);
    return t;
  }

  static int[] ints(JsonNode array) {
    return StreamSupport.stream(array.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
  }

  static double[] doubles(JsonNode array) {
    return StreamSupport.stream(array.spliterator(), false).mapToDouble(JsonNode::asDouble).toArray();
  }
}
