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
