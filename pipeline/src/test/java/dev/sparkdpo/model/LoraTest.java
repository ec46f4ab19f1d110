package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleFunction;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/** LoRA adapters on GPT-2 (PEFT semantics): layout and names, init, B = 0 identity, gradients, merge. */
class LoraTest {
  static final GptConfig SMALL = new GptConfig(13, 10, 8, 2, 2, 1e-5);
  static final LoraConfig ALL = new LoraConfig(2, 6, 0, List.of("c_attn", "c_proj", "c_fc"));

  static final int[][] TOKENS = {{3, 7, 1, 12, 5, 9}, {4, 4, 11, 2}, {8, 0, 6, 10, 1, 2, 3, 12, 5}, {3, 7, 2, 2}};
  static final int[] PROMPTS = {2, 3, 1, 2};
  static final double[] D_SEQ = {0.7, -1.3, 0.4, 2.1}; // d loss / d logp of each row: loss = sum_b D_SEQ[b] logp_b

  /** A float64 model with uniform [-0.4, 0.4] weights (GPT-2 init is nearly linear) and random (non-zero) adapters. */
  static Gpt randomModel(GptConfig c, LoraConfig lora, long seed) {
    Nd4j.getRandom().setSeed(seed);
    GptParams base = GptParams.zeros(c, DataType.DOUBLE);
    base.flat().assign(Nd4j.rand(DataType.DOUBLE, base.flat().shape()).subi(0.5).muli(0.8));
    LoraParams adapters = LoraParams.zeros(c, lora, DataType.DOUBLE);
    adapters.flat().assign(Nd4j.rand(DataType.DOUBLE, adapters.flat().shape()).subi(0.5).muli(0.8));
    return Gpt.of(base).withAdapters(adapters);
  }

  static double loss(Gpt gpt) {
    double[] logps = gpt.responseLogProbs(TOKENS, PROMPTS);
    double l = 0;
    for (int i = 0; i < logps.length; i++) l += D_SEQ[i] * logps[i];
    return l;
  }

  /** The loss of one training pass whose dropout masks are those of {@code seed}. */
  static double trainingLoss(Gpt gpt, long seed) {
    double[] logps = trainingLogps(gpt, seed);
    double l = 0;
    for (int i = 0; i < logps.length; i++) l += D_SEQ[i] * logps[i];
    return l;
  }

  static double[] trainingLogps(Gpt gpt, long seed) {
    return Workspaces.outside(() -> gpt.forwardKeeping(TOKENS, PROMPTS, seed)).logps().clone();
  }

  /**
   * Every 5th adapter entry's gradient against a central difference of {@code loss}: each of the 16 tensors (A and B
   * of 4 layer kinds x 2 blocks) is checked at several places. The weighted loss is ~30 and runs through ~100 float64
   * ops per token: at eps 1e-6 a central difference's rounding noise reaches 1e-5 relative on small entries; at 1e-4
   * it is ~1e-12 and the truncation error (~eps^2 times the third derivative) ~1e-9 relative, so entries must agree to
   * 1e-6 relative (or 1e-10 absolute).
   */
  static void checkAgainstCentralDifferences(Gpt gpt, INDArray grads, ToDoubleFunction<Gpt> loss, String what) {
    double eps = 1e-4;
    int checked = 0;
    double worst = 0;
    INDArray flat = gpt.adapters().flat();
    long n = flat.length();
    for (long i = 0; i < n; i += 5) {
      double v = flat.getDouble(0, i);
      flat.putScalar(0, i, v + eps);
      double plus = loss.applyAsDouble(gpt);
      flat.putScalar(0, i, v - eps);
      double minus = loss.applyAsDouble(gpt);
      flat.putScalar(0, i, v);
      double fd = (plus - minus) / (2 * eps);
      double g = grads.getDouble(0, i);
      assertTrue(Math.abs(fd) > 1e-6, "entry " + i + " has a gradient (random A and B): " + fd);
      double rel = Math.abs(g - fd) / Math.max(Math.abs(g), Math.abs(fd));
      assertTrue(rel < 1e-6 || Math.abs(g - fd) < 1e-10, "adapter parameter " + i + ": backward " + g
          + ", central difference " + fd);
      worst = Math.max(worst, rel);
      checked++;
    }
    System.out.printf("%s: %d of %d adapter parameters, worst relative error %.2e%n", what, checked, n, worst);
  }

  @Test
  void layoutHasPeftNamesShapesAndSuffixMatching() {
    GptConfig c = new GptConfig(1000, 64, 64, 2, 4, 1e-5);
    Map<String, long[]> shapes = LoraParams.shapes(c, LoraConfig.of(4));
    assertEquals(List.of("transformer.h.0.attn.c_attn.lora_A.weight", "transformer.h.0.attn.c_attn.lora_B.weight",
        "transformer.h.1.attn.c_attn.lora_A.weight", "transformer.h.1.attn.c_attn.lora_B.weight"),
        List.copyOf(shapes.keySet()));
    assertArrayEquals(new long[] {4, 64}, shapes.get("transformer.h.0.attn.c_attn.lora_A.weight")); // [r, in]
    assertArrayEquals(new long[] {192, 4}, shapes.get("transformer.h.0.attn.c_attn.lora_B.weight")); // [out, r]

    // c_proj is both attn.c_proj and mlp.c_proj, as PEFT's suffix match
    Map<String, long[]> proj = LoraParams.shapes(c, new LoraConfig(2, 8, 0, List.of("c_proj")));
    assertEquals(8, proj.size());
    assertArrayEquals(new long[] {2, 256}, proj.get("transformer.h.1.mlp.c_proj.lora_A.weight"));
    assertArrayEquals(new long[] {64, 2}, proj.get("transformer.h.1.mlp.c_proj.lora_B.weight"));
    assertEquals(2, LoraParams.shapes(c, new LoraConfig(2, 8, 0, List.of("h.1.attn.c_attn"))).size());
    assertEquals(2 * (4 * 64 + 192 * 4), LoraParams.count(c, LoraConfig.of(4)));

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> LoraParams.shapes(c, new LoraConfig(2, 8, 0, List.of("c_attn", "q_proj"))));
    assertTrue(e.getMessage().contains("--lora-targets") && e.getMessage().contains("q_proj"), e.getMessage());
    for (double p : new double[] {1, -0.1, Double.NaN}) {
      e = assertThrows(IllegalArgumentException.class, () -> new LoraConfig(2, 8, p, List.of("c_attn")));
      assertEquals("--lora-dropout must be in [0, 1), got " + p, e.getMessage());
    }
    assertEquals(0.1, new LoraConfig(2, 8, 0.1, List.of("c_attn")).dropout());
    e = assertThrows(IllegalArgumentException.class, () -> new LoraConfig(0, 8, 0, List.of("c_attn")));
    assertTrue(e.getMessage().contains("--lora-rank"), e.getMessage());
  }

  @Test
  void initIsKaimingUniformForAAndZeroForB() {
    GptConfig c = new GptConfig(1000, 64, 64, 2, 4, 1e-5);
    LoraParams p = LoraParams.init(c, new LoraConfig(8, 16, 0, List.of("c_fc", "c_proj")), 3, DataType.FLOAT);
    p.views().forEach((name, v) -> {
      if (name.endsWith(LoraParams.B)) {
        assertEquals(0.0, v.amaxNumber().doubleValue(), name);
      } else {
        double bound = 1 / Math.sqrt(v.size(1)); // kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assertTrue(v.amaxNumber().doubleValue() <= bound, name);
        assertTrue(v.amaxNumber().doubleValue() > 0.9 * bound, name); // fills the interval
        assertEquals(bound * bound / 3, v.varNumber().doubleValue(), 0.15 * bound * bound / 3, name);
      }
    });
    assertEquals(p.flat(), LoraParams.init(c, p.lora(), 3, DataType.FLOAT).flat(), "seeded");
  }

  @Test
  void adaptersAtInitGiveExactlyTheBaseModelsLogProbs() {
    Gpt base = Gpt.from(GptCheckpoint.load(ModelFixtures.tinyGpt2()));
    LoraParams adapters = LoraParams.init(base.config(), ALL, 1, DataType.FLOAT);
    assertTrue(adapters.flat().amaxNumber().doubleValue() > 0, "A is random");
    int[][] tokens = {{5, 17, 300, 2, 999, 41, 7}, {8, 9, 10, 11}};
    int[] prompts = {3, 1};
    assertArrayEquals(base.responseLogProbs(tokens, prompts),
        base.withAdapters(adapters).responseLogProbs(tokens, prompts), 0.0);
  }

  @Test
  void adapterGradientsMatchCentralDifferencesInFloat64() {
    Gpt gpt = randomModel(SMALL, ALL, 11);
    LoraParams adapters = gpt.adapters();
    long n = adapters.flat().length();
    assertEquals(n, gpt.trainableParameterCount());
    INDArray grads = Nd4j.zeros(DataType.DOUBLE, 1, n);
    gpt.trainingStep(TOKENS, PROMPTS, logps -> D_SEQ.clone(), grads);

    checkAgainstCentralDifferences(gpt, grads, LoraTest::loss, "LoraTest gradient check");

    // the base is frozen: the same step over two row threads sums the parts' adapter gradients to the same vector
    INDArray threaded = Nd4j.zeros(DataType.DOUBLE, 1, n);
    gpt.withRowThreads(2).trainingStep(TOKENS, PROMPTS, logps -> D_SEQ.clone(), threaded);
    assertTrue(threaded.equalsWithEps(grads, 1e-12), "2 row threads");
  }

  @Test
  void mergedModelEqualsBasePlusAdaptersInFloat64() {
    Gpt adapted = randomModel(SMALL, ALL, 5);
    GptParams base = adapted.params();
    INDArray before = base.flat().dup();
    Gpt merged = Gpt.of(adapted.adapters().mergedInto(base));
    assertArrayEquals(adapted.responseLogProbs(TOKENS, PROMPTS), merged.responseLogProbs(TOKENS, PROMPTS), 1e-10);
    assertEquals(before, base.flat(), "the base is not changed by a merge");
    // and the merge did something: the plain base differs
    double[] plain = Gpt.of(base).responseLogProbs(TOKENS, PROMPTS);
    assertTrue(Math.abs(plain[0] - merged.responseLogProbs(TOKENS, PROMPTS)[0]) > 1e-3);
  }

  @Test
  void mergedTinyGpt2EqualsBasePlusAdaptersInFloat32() {
    Gpt base = Gpt.from(GptCheckpoint.load(ModelFixtures.tinyGpt2()));
    LoraParams adapters = LoraParams.init(base.config(), ALL, 2, DataType.FLOAT);
    Nd4j.getRandom().setSeed(9);
    adapters.views().forEach((name, v) -> {
      if (name.endsWith(LoraParams.B)) v.assign(Nd4j.rand(DataType.FLOAT, v.shape()).subi(0.5).muli(0.1));
    });
    int[][] tokens = {{5, 17, 300, 2, 999, 41, 7}, {8, 9, 10, 11}};
    int[] prompts = {3, 1};
    double[] adapted = base.withAdapters(adapters).responseLogProbs(tokens, prompts);
    double[] merged = Gpt.of(adapters.mergedInto(base.params())).responseLogProbs(tokens, prompts);
    double[] plain = base.responseLogProbs(tokens, prompts);
    for (int i = 0; i < adapted.length; i++) {
      assertEquals(adapted[i], merged[i], 1e-5 * Math.max(1, Math.abs(adapted[i])), "row " + i);
      assertTrue(Math.abs(adapted[i] - plain[i]) > 1e-3, "the adapters change row " + i);
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // lora_dropout

  /** The model of {@link #randomModel} with the same weights and adapters, the adapters' dropout p. */
  static Gpt withDropout(Gpt gpt, double p) {
    LoraConfig l = gpt.adapters().lora();
    LoraConfig dropping = new LoraConfig(l.rank(), l.alpha(), p, l.targets());
    return Gpt.of(gpt.params()).withAdapters(LoraParams.over(gpt.config(), dropping, gpt.adapters().flat()));
  }

  @Test
  void dropoutIsOffInInferenceAndATrainingPassDrawsMasksByItsSeed() {
    Gpt plain = randomModel(SMALL, ALL, 11);
    Gpt dropping = withDropout(plain, 0.3);
    // inference (reference log-probs, evaluation), logits (sampling's forward) and the merge: as p = 0, exactly
    assertArrayEquals(plain.responseLogProbs(TOKENS, PROMPTS), dropping.responseLogProbs(TOKENS, PROMPTS), 0.0);
    assertEquals(plain.logits(TOKENS), dropping.logits(TOKENS));
    assertEquals(plain.adapters().mergedInto(plain.params()).flat(),
        dropping.adapters().mergedInto(plain.params()).flat());
    // p = 0: a training pass is the inference forward
    assertArrayEquals(plain.responseLogProbs(TOKENS, PROMPTS), trainingLogps(plain, 5), 1e-12);
    // p > 0: a training pass drops, the same seed the same masks, another seed others
    double[] inference = dropping.responseLogProbs(TOKENS, PROMPTS);
    double[] pass = trainingLogps(dropping, 5);
    assertArrayEquals(pass, trainingLogps(dropping, 5), 0.0, "the same seed, the same masks");
    for (int i = 0; i < pass.length; i++) {
      assertTrue(Math.abs(pass[i] - inference[i]) > 1e-6, "row " + i + " sees dropout in training");
      assertTrue(Math.abs(pass[i] - trainingLogps(dropping, 6)[i]) > 1e-6, "row " + i + ": another seed");
    }
    // the training step's forward is that pass (one row thread: the step's seed itself)
    INDArray grads = Nd4j.zeros(DataType.DOUBLE, 1, dropping.trainableParameterCount());
    assertArrayEquals(pass, dropping.trainingStep(TOKENS, PROMPTS, logps -> D_SEQ.clone(), grads, 5), 0.0);
  }

  @Test
  void dropoutGradientsWithTheMasksHeldFixedMatchCentralDifferencesInFloat64() {
    Gpt gpt = withDropout(randomModel(SMALL, ALL, 11), 0.4);
    long seed = 1234;
    INDArray grads = Nd4j.zeros(DataType.DOUBLE, 1, gpt.trainableParameterCount());
    gpt.trainingStep(TOKENS, PROMPTS, logps -> D_SEQ.clone(), grads, seed);
    // the loss of the pass with the step's masks: a smooth function of the adapters once the masks are fixed
    checkAgainstCentralDifferences(gpt, grads, g -> trainingLoss(g, seed), "LoraTest dropout gradient check");
    // and the masks matter: the gradient without dropout differs
    INDArray noDropout = Nd4j.zeros(DataType.DOUBLE, 1, gpt.trainableParameterCount());
    withDropout(gpt, 0).trainingStep(TOKENS, PROMPTS, logps -> D_SEQ.clone(), noDropout, seed);
    assertTrue(grads.sub(noDropout).amaxNumber().doubleValue() > 1e-3);
  }

  @Test
  void invertedDropoutDropsAFractionPAndIsUnbiased() {
    Nd4j.getRandom().setSeed(3);
    double p = 0.3;
    // the mask: each element 0 or x / (1 - p), zero with probability p (2000 draws: std 0.01), fixed by the seed
    INDArray x = Nd4j.rand(DataType.DOUBLE, 50, 40).addi(0.5);                                // in [0.5, 1.5)
    INDArray d = LoraLinear.dropped(x, p, 17);
    INDArray kept = d.neq(0);
    double dropped = 1 - kept.castTo(DataType.DOUBLE).meanNumber().doubleValue();
    assertEquals(p, dropped, 0.05, "fraction dropped");
    assertTrue(d.equalsWithEps(x.div(1 - p).muli(kept.castTo(DataType.DOUBLE)), 1e-15), "kept values are x / (1-p)");
    assertEquals(d, LoraLinear.dropped(x, p, 17), "the same seed, the same mask");
    assertTrue(d.neq(LoraLinear.dropped(x, p, 18)).castTo(DataType.DOUBLE).sumNumber().doubleValue() > 100);

    // E over masks of the training output = the inference output (inverted dropout is unbiased): the mean of n
    // passes is within 5 standard errors of it in every element
    int rows = 3, in = 5, out = 4, r = 2, n = 4000;
    Linear base = new Conv1D(Nd4j.rand(DataType.DOUBLE, in, out), Nd4j.rand(DataType.DOUBLE, out), null, null);
    INDArray a = Nd4j.rand(DataType.DOUBLE, r, in).subi(0.5), b = Nd4j.rand(DataType.DOUBLE, out, r).subi(0.5);
    INDArray input = Nd4j.rand(DataType.DOUBLE, rows, in);
    INDArray inference = new LoraLinear(base, a, b, 3, p, null, null, null).forward(input);
    INDArray sum = Nd4j.zeros(DataType.DOUBLE, rows, out), sumSq = Nd4j.zeros(DataType.DOUBLE, rows, out);
    for (long seed = 0; seed < n; seed++) {
      INDArray y = new LoraLinear(base, a, b, 3, p, seed, null, null).forward(input);
      sum.addi(y);
      sumSq.addi(y.mul(y));
    }
    INDArray mean = sum.div(n);
    INDArray stdErr = sumSq.div(n).subi(mean.mul(mean)).muli((double) n / (n - 1)).divi(n);   // variance / n
    Transforms.sqrt(stdErr, false);
    assertTrue(stdErr.minNumber().doubleValue() > 1e-4, "every element varies with the mask");
    INDArray z = Transforms.abs(mean.sub(inference)).divi(stdErr);
    System.out.printf("LoraTest dropout: mean of %d passes vs inference, worst |z| %.2f%n", n,
        z.maxNumber().doubleValue());
    assertTrue(z.maxNumber().doubleValue() < 5, "mean over masks " + mean + " vs inference " + inference);
  }
}
