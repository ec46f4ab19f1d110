package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.executor.ExecutorModels;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import org.deeplearning4j.gradientcheck.GradientCheckUtil;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.NoOp;

/**
 * DL4J's GradientCheckUtil on a float64 ComputationGraph holding only the DPO layer: the gradient DL4J's updater
 * applies (the layer's summed gradient divided by the minibatch size, with a NoOp updater) against central differences
 * of the network's score.
 *
 * <p>Tolerances: eps 1e-6, maxRelError 1e-6, minAbsoluteError 1e-9. In float64 a central difference with step 1e-6 has
 * truncation error ~ eps^2 |f'''| ~ 1e-12 and rounding error ~ 1e-16 |score| / eps ~ 1e-10, so every entry above
 * ~1e-3 must agree to 1e-6 relative and the tiny ones to 1e-9 absolute (10x the rounding noise). Both checks also pass
 * at maxRelError 1e-9; 1e-6 leaves room for other BLAS builds and is still 1000x stricter than DL4J's own layer tests
 * (1e-3 and 1e-8). Returning the gradient of the mean instead of the sum (off by the 3 pairs) fails it.
 *
 * <p>d = 4 (not 8) keeps the full two-layer check at ~1,200 score evaluations (~8 ms each on 2 cores).
 *
 * <p>With LoRA ({@link #loraAdaptersOnEveryLinearLayerTwoLayers}) the checked parameters are the adapters only, over a
 * frozen base: 256 of them, every one of the 16 lora_A / lora_B tensors. Scaling the adapter backward's s by 1.01
 * (LoraLinear.backward) fails it.
 */
class GptDpoGradientCheckTest {
  static final double EPS = 1e-6;
  static final double MAX_REL_ERROR = 1e-6;
  static final double MIN_ABS_ERROR = 1e-9;
  static final int WIDTH = 10;

  private static DataType defaultType, defaultFloatType;

  @BeforeAll
  static void doublePrecision() {
    // GradientCheckUtil refuses to run unless ND4J's default data type is double
    defaultType = Nd4j.dataType();
    defaultFloatType = Nd4j.defaultFloatingPointType();
    Nd4j.setDefaultDataTypes(DataType.DOUBLE, DataType.DOUBLE);
  }

  @AfterAll
  static void restorePrecision() {
    Nd4j.setDefaultDataTypes(defaultType, defaultFloatType);
  }

  /** 3 pairs of different lengths (right-padded to W = 10), prompts of 1-3 tokens, arbitrary reference log-probs. */
  static DataSet threePairs() {
    int[] prompts = {2, 3, 1};
    int[][] chosen = {{3, 7, 1, 12, 5, 9}, {4, 4, 11, 2}, {8, 0, 6, 10, 1, 2, 3, 12, 5}};
    int[][] rejected = {{3, 7, 2, 2}, {4, 4, 11, 9, 6, 7, 1, 0}, {8, 12, 7}};
    double[] refChosen = {-9.1, -2.2, -19.5};
    double[] refRejected = {-4.8, -13.0, -5.3};
    return new DpoBatch(WIDTH, prompts, chosen, rejected, refChosen, refRejected).toDataSet(DataType.DOUBLE);
  }

  /** The GPT-2 init's weights (std 0.02) are almost linear; larger random weights exercise every non-linearity. */
  static ComputationGraph network(GptConfig gpt, DpoConfig dpo) {
    GptDpoOutputLayer layer = new GptDpoOutputLayer(gpt, dpo, WIDTH);
    ComputationGraph g = DpoLayerFixtures.graph(layer, DataType.DOUBLE, new NoOp(), 42);
    INDArray params = g.params();
    params.assign(Nd4j.rand(DataType.DOUBLE, params.shape()).subi(0.5).muli(0.8)); // uniform in [-0.4, 0.4]
    return g;
  }

  /**
   * With LoRA the network's parameters are the adapters only; the frozen float64 base (uniform [-0.4, 0.4] weights)
   * goes into the executor model cache under the key the layer asks for. PEFT's init has B = 0, which makes
   * dL/dA = s (dy B)^T x exactly 0 and the check of A vacuous: B is set to small random values first, so both A's and
   * B's gradients are non-trivial (A keeps its Kaiming-uniform init, |A| <= 1/sqrt(in)).
   */
  static ComputationGraph loraNetwork(GptConfig gpt, DpoConfig dpo, LoraConfig lora) {
    String baseDir = "test:gradient-check-base/" + gpt + "/" + System.nanoTime(), fingerprint = "fp";
    GptParams base = GptParams.zeros(gpt, DataType.DOUBLE);
    base.flat().assign(Nd4j.rand(DataType.DOUBLE, base.flat().shape()).subi(0.5).muli(0.8));
    ExecutorModels.get(baseDir + "#" + fingerprint, () -> Gpt.of(base));
    GptDpoOutputLayer layer = new GptDpoOutputLayer(gpt, dpo, WIDTH).withLora(lora, baseDir, fingerprint);
    ComputationGraph g = DpoLayerFixtures.graph(layer, DataType.DOUBLE, new NoOp(), 42);
    LoraParams adapters = LoraParams.over(gpt, lora, g.getLayer(DpoLayerFixtures.LAYER).params());
    adapters.views().forEach((name, v) -> {
      if (name.endsWith(".lora_B.weight")) v.assign(Nd4j.rand(DataType.DOUBLE, v.shape()).subi(0.5).muli(0.4));
    });
    return g;
  }

  /** Checks every parameter except those (whole tensors, by HF name) in {@code skip}. */
  static void check(GptConfig gpt, DpoConfig dpo, Set<String> skip) {
    check(network(gpt, dpo), dpo, skip);
  }

  static void check(ComputationGraph g, DpoConfig dpo, Set<String> skip) {
    Set<String> excluded = skip.stream()
        .map(name -> DpoLayerFixtures.LAYER + "_" + GptDpoParamInitializer.paramKey(name))
        .collect(Collectors.toSet());
    long skipped = excluded.stream().mapToLong(key -> g.getParam(key).length()).sum();
    DataSet data = threePairs();
    int[] calls = {0};
    long t0 = System.nanoTime();
    boolean ok = GradientCheckUtil.checkGradients(new GradientCheckUtil.GraphConfig().net(g)
        .inputs(new INDArray[] {data.getFeatures()}).labels(new INDArray[] {data.getLabels()})
        .epsilon(EPS).maxRelError(MAX_REL_ERROR).minAbsoluteError(MIN_ABS_ERROR)
        .excludeParams(excluded)
        .callEachIter(net -> calls[0]++)
        .print(GradientCheckUtil.PrintMode.FAILURES_ONLY).exitOnFirstError(false));
    System.out.printf("GptDpoGradientCheckTest %s: %d of %d parameters, %d score evaluations, %.1f s%n", dpo.losses(),
        g.numParams() - skipped, g.numParams(), calls[0], (System.nanoTime() - t0) / 1e9);
    assertTrue(ok, "gradient check failed for " + dpo.losses());
    // one gradient computation, then every checked parameter perturbed both ways; DL4J (M2.1) also leaves out the
    // first element after each excluded tensor
    assertEquals(1 + 2 * (g.numParams() - skipped - excluded.size()), calls[0], "score evaluations");
  }

  @Test
  void sigmoidLossTwoLayers() {
    Nd4j.getRandom().setSeed(7);
    check(new GptConfig(13, 10, 4, 2, 2, 1e-5), new DpoConfig(0.5, 0.0, List.of(LossType.SIGMOID), null, false),
        Set.of());
  }

  @Test
  void sigmoidWithLabelSmoothingPlusWeightedSftOneLayer() {
    Nd4j.getRandom().setSeed(8);
    // the loss mix only changes d(loss)/d(log-probs), which reaches every tensor alike: the three largest are skipped
    check(new GptConfig(13, 10, 4, 1, 2, 1e-5),
        new DpoConfig(0.3, 0.1, List.of(LossType.SIGMOID, LossType.SFT), new double[] {1.0, 0.4}, false),
        Set.of("transformer.h.0.attn.c_attn.weight", "transformer.h.0.mlp.c_fc.weight",
            "transformer.h.0.mlp.c_proj.weight"));
  }

  @Test
  void loraAdaptersOnEveryLinearLayerTwoLayers() {
    Nd4j.getRandom().setSeed(9);
    GptConfig gpt = new GptConfig(13, 10, 4, 2, 2, 1e-5);
    DpoConfig dpo = new DpoConfig(0.5, 0.0, List.of(LossType.SIGMOID), null, false);
    // c_proj: attn.c_proj and mlp.c_proj; 256 adapter parameters, all checked
    LoraConfig lora = new LoraConfig(2, 6, 0, List.of("c_attn", "c_proj", "c_fc"));
    ComputationGraph g = loraNetwork(gpt, dpo, lora);
    assertEquals(LoraParams.count(gpt, lora), g.numParams(), "the network's parameters are the adapters only");
    INDArray a = g.getParam(DpoLayerFixtures.LAYER + "_"
        + GptDpoParamInitializer.paramKey("transformer.h.1.mlp.c_proj.lora_A.weight"));
    assertTrue(a.amaxNumber().doubleValue() > 0, "A is random");
    // every adapter tensor has a gradient well above the check's absolute floor (none passes by being ~0 both ways)
    DataSet data = threePairs();
    g.setInput(0, data.getFeatures());
    g.setLabel(0, data.getLabels());
    g.computeGradientAndScore();
    LoraParams.over(gpt, lora, g.gradient().gradient().dup()).views().forEach((name, grad) ->
        assertTrue(grad.amaxNumber().doubleValue() > 1e-4, name + ": max |gradient| " + grad.amaxNumber()));
    check(g, dpo, Set.of());
  }
}
