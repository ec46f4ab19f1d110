package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** The layers every path shares: frozen layers (the base under an adapter), saved activations, the model seam. */
class GptLayersTest {
  static final GptConfig SMALL = new GptConfig(50, 16, 8, 2, 2, 1e-5);
  static final int[][] TOKENS = {{1, 2, 3, 4, 5, 6, 7}, {9, 8, 7, 6}};
  static final int[] PROMPTS = {3, 2};

  /**
   * SMALL with 4 heads of 2 and rows of 16 positions: attention probabilities of H T = 64 elements per query row
   * against about 9 D = 72 of the other kept activations, so the training forward recomputes them (as GPT-2 small's
   * at T 512) where SMALL's rows of 7 keep them (as the tiny bench config's).
   */
  static final GptConfig MANY_HEADS = new GptConfig(50, 16, 8, 2, 4, 1e-5);
  static final int[][] LONG_TOKENS = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {9, 8, 7, 6, 5}};

  /** Random weights of std 0.3: the init's std 0.02 leaves every non-linearity almost linear. */
  static GptParams params() {
    return params(SMALL);
  }

  static GptParams params(GptConfig config) {
    GptParams p = GptParams.from(GptInit.init(config, 3), DataType.DOUBLE);
    Nd4j.getRandom().setSeed(11);
    p.flat().assign(Nd4j.randn(DataType.DOUBLE, p.flat().shape()).muli(0.3));
    return p;
  }

  @Test
  void aFrozenBlockGivesTheSameInputGradientAndWritesNoParameterGradient() {
    GptParams p = params();
    GptParams grads = GptParams.zeros(SMALL, DataType.DOUBLE);
    GptBlock trainable = GptWeights.layers(SMALL, p, grads, 1 << 20).blocks().get(0);
    GptBlock frozen = GptWeights.layers(SMALL, p, null, 1 << 20).blocks().get(0);
    int b = 2, t = 5;
    INDArray x = Nd4j.randn(DataType.DOUBLE, (long) b * t, SMALL.nEmbd());
    INDArray dOut = Nd4j.randn(DataType.DOUBLE, (long) b * t, SMALL.nEmbd());
    GptBlock.Causal context = new GptBlock.Causal(b, t, 0, Gpt.causalMask(t, DataType.DOUBLE));

    GptBlock.Out a = trainable.forward(x, context, true), f = frozen.forward(x, context, true);
    assertArrayEquals(a.out().data().asDouble(), f.out().data().asDouble(), 0.0, "same forward");
    INDArray dxTrainable = trainable.backward(a.saved(), dOut.dup());
    double gradNorm = grads.flat().norm2Number().doubleValue();
    grads.flat().assign(0);
    INDArray dxFrozen = frozen.backward(f.saved(), dOut.dup());
    assertArrayEquals(dxTrainable.data().asDouble(), dxFrozen.data().asDouble(), 1e-12, "same input gradient");
    assertTrue(gradNorm > 0, "the trainable block wrote its gradients");
    assertEquals(0.0, grads.flat().norm2Number().doubleValue(), "the frozen block wrote none");
  }

  @Test
  void theBackwardDropsEachBlocksActivationsAsItPassesThem() {
    Gpt gpt = Gpt.of(params());
    GptTraining training = new GptTraining(gpt);
    GptTraining.Forward f = training.forward(TOKENS, PROMPTS);
    // kept: what the backward cannot cheaply recompute; the layer norms' outputs are recomputed from xhat
    assertTrue(f.activations.blocks.stream().allMatch(s -> s != null && s.fcPre() != null && s.q() != null
        && s.ln1().xhat() != null && s.ln1().out() == null && s.ln2().out() == null));
    training.backward(f, new double[] {1, -1});
    assertEquals(Arrays.asList(null, null), f.activations.blocks);
  }

  /**
   * The training forward's memory budget per block of width D: over all N = B T positions ln_1's xhat and rstd, k
   * and v (3 N D + N); over the block's R query rows (R = N but in the last block) q, ln_2's xhat and rstd and fcPre
   * (6 R D + R): where the attention probabilities are large (MANY_HEADS, H T > 2/3 of that per row), nothing of size
   * [B, H, T, T]. The block outputs (R D each) are kept alongside, as the next block's input.
   */
  @Test
  void eachBlockKeepsNineActivationsPerPositionAndNoAttentionMatrix() {
    GptTraining.Forward f = new GptTraining(Gpt.of(params(MANY_HEADS))).forward(LONG_TOKENS, PROMPTS);
    long b = LONG_TOKENS.length, t = LONG_TOKENS[0].length, d = MANY_HEADS.nEmbd();
    for (int i = 0; i < MANY_HEADS.nLayer(); i++) {
      GptBlock.Saved s = f.activations.blocks.get(i);
      assertNull(s.att(), "block " + i + " recomputes att");
      assertNull(s.y(), "block " + i + " recomputes y");
      assertEquals(nineActivationsPerPosition(b, t, s.context().from(), d), keptWithoutAttention(s), "block " + i);
    }
  }

  /** Where they are small (SMALL: H T = 14 against 9 D = 72 per row), the blocks also keep att and y = att v. */
  @Test
  void smallAttentionProbabilitiesAreKeptWithY() {
    GptTraining.Forward f = new GptTraining(Gpt.of(params())).forward(TOKENS, PROMPTS);
    long b = TOKENS.length, t = TOKENS[0].length, d = SMALL.nEmbd(), h = SMALL.nHead();
    for (int i = 0; i < SMALL.nLayer(); i++) {
      GptBlock.Saved s = f.activations.blocks.get(i);
      long tq = t - s.context().from();
      assertArrayEquals(new long[] {b, h, tq, t}, s.att().shape(), "block " + i + " att [B, H, Tq, T]");
      assertArrayEquals(new long[] {b * tq, d}, s.y().shape(), "block " + i + " y [B*Tq, D]");
      assertEquals(nineActivationsPerPosition(b, t, s.context().from(), d), keptWithoutAttention(s), "block " + i);
    }
  }

  private static long nineActivationsPerPosition(long b, long t, long from, long d) {
    long rows = b * (t - from), ln1Rows = b * t; // ln_1 and k, v cover every position; the rest only the query rows
    return ln1Rows * d + ln1Rows + rows * d + 2 * ln1Rows * d + rows * d + rows + 4 * rows * d;
  }

  private static long keptWithoutAttention(GptBlock.Saved s) {
    return s.ln1().xhat().length() + s.ln1().rstd().length() + s.q().length() + s.k().length() + s.v().length()
        + s.ln2().xhat().length() + s.ln2().rstd().length() + s.fcPre().length();
  }

  /**
   * Keeping att and y or recomputing them in the backward gives the same input and parameter gradients (float64),
   * for a first block (queries from 0) and a last one (queries from 3).
   */
  @Test
  void keptAndRecomputedAttentionGiveTheSameGradients() {
    GptParams p = params(MANY_HEADS);
    int b = 2, t = 9;
    Nd4j.getRandom().setSeed(5);
    INDArray x = Nd4j.randn(DataType.DOUBLE, (long) b * t, MANY_HEADS.nEmbd());
    for (int from : new int[] {0, 3}) {
      INDArray dOut = Nd4j.randn(DataType.DOUBLE, (long) b * (t - from), MANY_HEADS.nEmbd());
      INDArray mask = Gpt.causalMask(t, DataType.DOUBLE)
          .get(NDArrayIndex.interval(from, t), NDArrayIndex.interval(0, t));
      GptBlock.Causal context = new GptBlock.Causal(b, t, from, mask);
      double[][] dxAndGrads = new double[4][];
      for (int keep = 0; keep < 2; keep++) {
        GptParams grads = GptParams.zeros(MANY_HEADS, DataType.DOUBLE);
        GptBlock block = GptWeights.layers(MANY_HEADS, p, grads, 1 << 20).blocks().get(0);
        GptBlock.Out out = block.forward(x, context, true, keep == 1);
        assertEquals(keep == 1, out.saved().att() != null);
        dxAndGrads[2 * keep] = block.backward(out.saved(), dOut.dup()).data().asDouble();
        dxAndGrads[2 * keep + 1] = grads.flat().data().asDouble();
      }
      assertArrayEquals(dxAndGrads[0], dxAndGrads[2], 1e-12, "from " + from + ": same input gradient");
      assertArrayEquals(dxAndGrads[1], dxAndGrads[3], 1e-12, "from " + from + ": same parameter gradients");
      assertTrue(Arrays.stream(dxAndGrads[3]).anyMatch(g -> g != 0), "from " + from + ": gradients written");
    }
  }

  /** The policy on the bench's shapes (8 of 16 rows per thread): tiny keeps, GPT-2 small at T 512 recomputes. */
  @Test
  void theTinyBenchKeepsAttentionAndGpt2SmallAtFiveHundredTwelveRecomputesIt() {
    assertTrue(GptBlock.keepsAttention(8, 256, 256, 4, 256), "tiny: D 256, H 4, T 256");
    assertFalse(GptBlock.keepsAttention(8, 512, 512, 12, 768), "gpt2: D 768, H 12, T 512");
    assertFalse(GptBlock.keepsAttention(8, 512, 257, 12, 768), "gpt2's last block, queries from 255");
    assertTrue(GptBlock.keepsAttention(8, 320, 320, 12, 768), "gpt2 keeps up to T 320");
    assertFalse(GptBlock.keepsAttention(8, 336, 336, 12, 768), "and no further");
    assertFalse(GptBlock.keepsAttention(8, 512, 512, 16, 1024), "gpt2-medium: D 1024, H 16, T 512");
  }

  @Test
  void theModelSeamsTrainingStepWritesAFlatGradientVectorAsGptTrainingDoes() {
    Gpt gpt = Gpt.of(params());
    GptParams expected = GptParams.zeros(SMALL, DataType.DOUBLE);
    double[] logps = new GptTraining(gpt).step(TOKENS, PROMPTS, l -> new double[] {1, -0.5}, expected);

    LanguageModel model = SMALL.model(gpt.params().flat());
    INDArray flat = Nd4j.zeros(DataType.DOUBLE, 1, SMALL.parameterCount()).addi(7); // overwritten, not added to
    double[][] seen = new double[1][];
    double[] got = model.trainingStep(TOKENS, PROMPTS, l -> {
      seen[0] = l;
      return new double[] {1, -0.5};
    }, flat);
    assertArrayEquals(logps, got, 0.0);
    assertArrayEquals(model.responseLogProbs(TOKENS, PROMPTS), seen[0], 1e-12, "the loss sees the log-probs");
    assertArrayEquals(expected.flat().data().asDouble(), flat.data().asDouble(), 0.0);
    assertEquals(List.copyOf(SMALL.parameterShapes().keySet()), GptCheckpoint.parameterNames(SMALL));
  }
}
