package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptParams;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.WeightDecay;

/** Training the layer in a local ComputationGraph; its configuration as JSON; the updater settings it takes. */
class GptDpoTrainingTest {
  static final GptConfig GPT = new GptConfig(16, 12, 16, 2, 2, 1e-5);
  static final int WIDTH = 10;
  static final int CHOSEN_END = 1, REJECTED_END = 2;

  /**
   * 8 pairs whose responses are the same 1-3 random tokens followed by token 1 (chosen) or token 2 (rejected), after
   * a random prompt of 2-4 tokens; reference log-probs 0 until {@link #withReference} sets them.
   */
  static DpoBatch endTokenTask(long seed) {
    Random rnd = new Random(seed);
    int n = 8;
    int[] prompts = new int[n];
    int[][] chosen = new int[n][], rejected = new int[n][];
    for (int i = 0; i < n; i++) {
      prompts[i] = 2 + rnd.nextInt(3);
      int length = prompts[i] + 1 + rnd.nextInt(3) + 1;
      chosen[i] = new int[length];
      for (int t = 0; t < length - 1; t++) chosen[i][t] = 3 + rnd.nextInt(GPT.vocabSize() - 3);
      rejected[i] = chosen[i].clone();
      chosen[i][length - 1] = CHOSEN_END;
      rejected[i][length - 1] = REJECTED_END;
    }
    return new DpoBatch(WIDTH, prompts, chosen, rejected, new double[n], new double[n]);
  }

  /** The batch with the network's own log-probs as the reference (the layer's activations are exactly those). */
  static DpoBatch withReference(DpoBatch b, ComputationGraph reference) {
    INDArray logps = reference.outputSingle(b.toDataSet().getFeatures());
    double[] refChosen = logps.getColumn(0).toDoubleVector(), refRejected = logps.getColumn(1).toDoubleVector();
    return new DpoBatch(b.width(), b.promptLengths(), b.chosen(), b.rejected(), refChosen, refRejected);
  }

  static GptDpoOutputLayer layer() {
    return new GptDpoOutputLayer(GPT, DpoConfig.of(0.5, 0.0, LossType.SIGMOID), WIDTH);
  }

  @Test
  void adamLearnsToPreferTheChosenEndToken() {
    ComputationGraph g = DpoLayerFixtures.graph(layer(), DataType.FLOAT, new Adam(1e-2), 3);
    DataSet data = withReference(endTokenTask(11), g).toDataSet();

    double first = g.score(data);
    assertEquals(Math.log(2), first, 1e-5, "policy = reference: h = 0, loss = log 2");
    for (int i = 0; i < 30; i++) g.fit(data);
    double last = g.score(data);
    Map<String, Double> metrics = DpoLayerFixtures.layerOf(g).lastResult().metrics();
    System.out.printf("GptDpoTrainingTest: loss %.4f -> %.4f after 30 Adam steps, metrics %s%n", first, last, metrics);
    assertTrue(last < 0.3, "loss " + first + " -> " + last);
    assertTrue(metrics.get("rewards/accuracies") >= 0.9, "accuracy " + metrics);
    assertTrue(metrics.get("rewards/margins") > 0, "margin " + metrics);
    assertEquals(last, metrics.get("loss"), 1e-12);
  }

  /** The forward pass backprop shares with the score that follows it is never reused once the parameters change. */
  @Test
  void scoresFollowTheParameters() {
    ComputationGraph g = DpoLayerFixtures.graph(layer(), DataType.FLOAT, new Adam(1e-2), 6);
    DataSet data = endTokenTask(15).toDataSet();
    g.setInput(0, data.getFeatures());
    g.setLabel(0, data.getLabels());
    g.computeGradientAndScore();
    double trainingScore = g.score();
    assertEquals(g.score(data), trainingScore, 1e-6);

    g.params().addi(0.05);
    ComputationGraph fresh = DpoLayerFixtures.graph(layer(), DataType.FLOAT, new Adam(1e-2), 6);
    fresh.setParams(g.params());
    double moved = fresh.score(data);
    assertTrue(Math.abs(moved - trainingScore) > 1e-3, trainingScore + " vs " + moved);
    g.computeGradientAndScore();
    assertEquals(moved, g.score(), 1e-6, "same input arrays, new parameters");
    assertEquals(moved, g.score(data), 1e-6);
  }

  @Test
  void configurationSurvivesJsonAndComputesTheSameScore() {
    GptDpoOutputLayer layer = new GptDpoOutputLayer(GPT,
        new DpoConfig(0.25, 0.1, List.of(LossType.SIGMOID, LossType.SFT), new double[] {1, 0.3}, false, true), WIDTH);
    layer.setRegularization(new ArrayList<>(List.of(new WeightDecay(0.01, true))));
    ComputationGraphConfiguration conf = DpoLayerFixtures.graphConfig(layer,
        DpoLayerFixtures.global(DataType.FLOAT, new Adam(1e-3), 5).biasUpdater(new Sgd(1e-3)));
    String json = conf.toJson();
    ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(json);
    assertEquals(conf, back);
    assertEquals(json, back.toJson());

    ComputationGraph g = new ComputationGraph(conf);
    g.init();
    ComputationGraph h = new ComputationGraph(back);
    h.init(g.params().dup(), false);
    GptDpoOutputLayer restored = (GptDpoOutputLayer) DpoLayerFixtures.layerOf(h).layerConf();
    assertNotSame(layer, restored);
    assertEquals(layer.dpoConfig().losses(), restored.dpoConfig().losses());
    assertArrayEquals(layer.dpoConfig().weights(), restored.dpoConfig().weights());
    assertEquals(GPT, restored.gptConfig());

    DataSet data = withReference(endTokenTask(12), g).toDataSet();
    assertEquals(g.score(data), h.score(data), 0.0);
  }

  /**
   * Weight decay (DL4J's {@link WeightDecay}: decoupled, scaled by the learning rate, as AdamW) reaches the 2-D tensors
   * and not the biases and layer-norm parameters: one Sgd step with and without it differs by exactly
   * lr * wd * param on the former and not at all on the latter.
   *
   * <p>It is set on the layer: DL4J 1.0.0-M2.1 applies a network-wide {@code weightDecay(wd)} twice (the builder
   * copies it into the layer, then LayerValidation.generalValidation appends the global list again), for its own
   * DenseLayer too.
   */
  @Test
  void weightDecaySkipsBiasesAndLayerNorms() {
    ComputationGraphConfiguration global = DpoLayerFixtures.graphConfig(layer(),
        DpoLayerFixtures.global(DataType.DOUBLE, new Sgd(0.1), 9).weightDecay(0.5));
    GptDpoOutputLayer globallyConfigured = (GptDpoOutputLayer) ((LayerVertex) global.getVertices()
        .get(DpoLayerFixtures.LAYER)).getLayerConf().getLayer();
    assertEquals(2, globallyConfigured.getRegularization().size(), "DL4J's duplicated network-wide weight decay");

    double lr = 0.1, wd = 0.5;
    ComputationGraph plain = DpoLayerFixtures.graph(layer(), DataType.DOUBLE, new Sgd(lr), 9);
    GptDpoOutputLayer decayedLayer = layer();
    decayedLayer.setRegularization(new ArrayList<>(List.of(new WeightDecay(wd, true))));
    ComputationGraph decayed = DpoLayerFixtures.graph(decayedLayer, DataType.DOUBLE, new Sgd(lr), 9);
    assertEquals(plain.params(), decayed.params(), "same seed, same init");
    INDArray before = plain.params().dup();
    DataSet data = endTokenTask(13).toDataSet();
    plain.fit(data);
    decayed.fit(data);

    GptDpoParamInitializer init = GptDpoParamInitializer.getInstance();
    GptDpoOutputLayer conf = (GptDpoOutputLayer) DpoLayerFixtures.layerOf(plain).layerConf();
    assertEquals(2 + 4 * GPT.nLayer(), init.weightKeys(conf).size(), "wte, wpe, 4 matrices per block");
    assertEquals(2 + 8 * GPT.nLayer(), init.biasKeys(conf).size(), "ln_f, 4 biases + 2 layer norms per block");
    GptParams initial = GptParams.over(GPT, before); // HF names over the copy: DL4J keys map 1:1
    for (String key : init.paramKeys(conf)) {
      String full = DpoLayerFixtures.LAYER + "_" + key;
      INDArray step = decayed.getParam(full).sub(plain.getParam(full));
      INDArray p0 = initial.get(GptDpoParamInitializer.hfName(key));
      if (init.isWeightParam(conf, key)) {
        assertTrue(p0.norm2Number().doubleValue() > 0, key);
        assertTrue(step.equalsWithEps(p0.mul(-lr * wd), 1e-12), key + " decayed by lr * wd * param");
      } else {
        assertTrue(init.isBiasParam(conf, key), key);
        assertEquals(0.0, step.norm2Number().doubleValue(), 0.0, key + " not decayed");
      }
    }
  }

  @Test
  void worksAsTheLayerOfAMultiLayerNetwork() {
    ComputationGraph g = DpoLayerFixtures.graph(layer(), DataType.FLOAT, new Adam(1e-2), 4);
    MultiLayerConfiguration conf = DpoLayerFixtures.global(DataType.FLOAT, new Adam(1e-2), 4).list()
        .layer(layer())
        .setInputType(InputType.feedForward(DpoBatch.featureColumns(WIDTH)))
        .build();
    MultiLayerNetwork net = new MultiLayerNetwork(conf);
    net.init(g.params().dup(), false);
    DataSet data = withReference(endTokenTask(14), g).toDataSet();
    assertEquals(g.score(data), net.score(data), 0.0);
    assertEquals(g.params(), net.params());

    g.fit(data);
    net.fit(data);
    assertTrue(g.params().equalsWithEps(net.params(), 1e-6), "one Adam step, same result in both network types");
    assertTrue(net.getParam("0_" + GptDpoParamInitializer.paramKey("transformer.h.1.mlp.c_fc.weight")) != null);
  }
}
