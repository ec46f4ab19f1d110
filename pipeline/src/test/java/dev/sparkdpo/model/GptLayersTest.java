package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The layers every path shares: frozen layers (the base under an adapter), saved activations, the model seam. */
class GptLayersTest {
  static final GptConfig SMALL = new GptConfig(50, 16, 8, 2, 2, 1e-5);
  static final int[][] TOKENS = {{1, 2, 3, 4, 5, 6, 7}, {9, 8, 7, 6}};
  static final int[] PROMPTS = {3, 2};

  /** Random weights of std 0.3: the init's std 0.02 leaves every non-linearity almost linear. */
  static GptParams params() {
    GptParams p = GptParams.from(GptInit.init(SMALL, 3), DataType.DOUBLE);
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
   * (6 R D + R): nothing of size [B, H, T, T]. The block outputs (R D each) are kept alongside, as the next block's
   * input.
   */
  @Test
  void eachBlockKeepsNineActivationsPerPositionAndNoAttentionMatrix() {
    GptTraining.Forward f = new GptTraining(Gpt.of(params())).forward(TOKENS, PROMPTS);
    long b = TOKENS.length, t = TOKENS[0].length, d = SMALL.nEmbd();
    for (int i = 0; i < SMALL.nLayer(); i++) {
      GptBlock.Saved s = f.activations.blocks.get(i);
      long rows = b * (t - s.context().from());
      long kept = s.ln1().xhat().length() + s.ln1().rstd().length() + s.q().length() + s.k().length()
          + s.v().length() + s.ln2().xhat().length() + s.ln2().rstd().length() + s.fcPre().length();
      long ln1Rows = b * t; // ln_1 and k, v cover every position; the rest only the block's query rows
      assertEquals(ln1Rows * d + ln1Rows + rows * d + 2 * ln1Rows * d + rows * d + rows + 4 * rows * d, kept,
          "block " + i);
    }
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
