package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.GptParams;
import java.util.List;

import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.memory.MemoryUseMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;

/** The configuration, its parameter layout and the errors it gives, without training. */
class GptDpoOutputLayerTest {
  static final GptConfig GPT = DpoLayerFixtures.tinyGpt();

  static GptDpoOutputLayer layer(int width) {
    return new GptDpoOutputLayer(GPT, DpoConfig.of(0.1, 0, LossType.SIGMOID), width);
  }

  @Test
  void paramKeysAreHfNamesWithoutUnderscores() {
    GptDpoParamInitializer init = GptDpoParamInitializer.getInstance();
    List<String> keys = init.paramKeys(layer(5));
    List<String> names = GptCheckpoint.parameterNames(GPT);
    assertEquals(names.size(), keys.size());
    for (int i = 0; i < keys.size(); i++) {
      assertFalse(keys.get(i).contains("_"), keys.get(i));
      assertEquals(names.get(i), GptDpoParamInitializer.hfName(keys.get(i)));
    }
    assertEquals("transformer.h.1.attn.c-proj.weight",
        GptDpoParamInitializer.paramKey("transformer.h.1.attn.c_proj.weight"));
    assertTrue(init.isWeightParam(layer(5), "transformer.wte.weight"));
    assertTrue(init.isBiasParam(layer(5), "transformer.h.0.ln-1.weight"), "layer-norm gains group with biases");
    assertEquals(GptParams.count(GPT), init.numParams(layer(5)));
  }

  /** The network's parameter table is the GptParams layout: views named by key, GPT-2 init from the network seed. */
  @Test
  void networkParamsAreTheGptParamsLayout() {
    ComputationGraph g = DpoLayerFixtures.graph(layer(5), DataType.FLOAT, new Adam(1e-3), 17);
    GptParams expected = GptParams.from(GptInit.init(GPT, 17), DataType.FLOAT);
    assertEquals(expected.flat(), g.params().reshape(1, g.numParams())); // DL4J's flat vector is rank 1: [n]
    GptParams views = GptParams.over(GPT, g.params());
    String name = "transformer.h.1.mlp.c_fc.bias";
    g.getParam(DpoLayerFixtures.LAYER + "_" + GptDpoParamInitializer.paramKey(name)).addi(1);
    assertEquals(1.0, views.get(name).getDouble(3), 1e-7, "DL4J's view and GptParams' view share memory");
  }

  @Test
  void rejectsSettingsTheModelCannotRun() {
    assertThrows(IllegalArgumentException.class, () -> layer(GPT.nPositions() + 1), "width > n_positions");
    assertThrows(IllegalArgumentException.class, () -> layer(0));
    GptDpoOutputLayer l = layer(5);
    l.setNHead(3); // 8 % 3 != 0
    assertThrows(IllegalArgumentException.class, l::validate);
    assertThrows(IllegalStateException.class, () -> layer(5).setNIn(InputType.feedForward(14), false));
    layer(5).setNIn(InputType.feedForward(13), false);
    assertThrows(IllegalArgumentException.class,
        () -> DpoLayerFixtures.graph(layer(5), DataType.HALF, new Adam(1e-3), 1), "float16");
  }

  @Test
  void tokenIdsOutsideTheVocabularyAreAnError() {
    ComputationGraph g = DpoLayerFixtures.graph(layer(5), DataType.FLOAT, new Adam(1e-3), 1);
    DataSet data = new DpoBatch(5, new int[] {1}, new int[][] {{1, 13}}, new int[][] {{1, 2}}, new double[1],
        new double[1]).toDataSet();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> g.score(data));
    assertTrue(e.getMessage().contains("token id 13 at position 1 >= vocab size 13"), e.getMessage());
  }

  @Test
  void referenceFreeLayersNeedNoLabels() {
    DpoConfig referenceFree = new DpoConfig(0.1, 0, List.of(LossType.SIGMOID), null, true);
    GptDpoOutputLayer free = new GptDpoOutputLayer(GPT, referenceFree, 5);
    ComputationGraph g = DpoLayerFixtures.graph(free, DataType.FLOAT, new Adam(1e-3), 1);
    GptDpoLayer l = DpoLayerFixtures.layerOf(g);
    assertFalse(l.needsLabels());
    DataSet data = new DpoBatch(5, new int[] {1}, new int[][] {{1, 3}}, new int[][] {{1, 2}}, new double[] {-50},
        new double[] {50}).toDataSet();
    l.setInput(data.getFeatures(), LayerWorkspaceMgr.noWorkspaces());
    double withoutLabels = l.computeScore(0, false, LayerWorkspaceMgr.noWorkspaces());
    assertEquals(withoutLabels, g.score(data), 1e-7, "reference log-probs in the labels are ignored");
  }

  /** Without DL4J's minibatch division the score is the sum over pairs, like the gradient the layer hands over. */
  @Test
  void scoreIsTheSumWhenTheNetworkIsNotMiniBatch() {
    ComputationGraph mean = DpoLayerFixtures.graph(layer(5), DataType.FLOAT, new Adam(1e-3), 2);
    ComputationGraph sum = new ComputationGraph(DpoLayerFixtures.graphConfig(layer(5),
        DpoLayerFixtures.global(DataType.FLOAT, new Adam(1e-3), 2).miniBatch(false)));
    sum.init();
    DataSet data = new DpoBatch(5, new int[] {1, 2}, new int[][] {{1, 3}, {4, 5, 6}}, new int[][] {{1, 2}, {4, 5}},
        new double[] {-3, -4}, new double[] {-2, 0}).toDataSet();
    assertEquals(2 * mean.score(data), sum.score(data), 1e-6);
  }

  @Test
  void configEqualityCoversEverySetting() {
    GptDpoOutputLayer a = layer(5), b = layer(5);
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    b.setLabelSmoothing(0.1);
    assertNotEquals(a, b);
    GptDpoOutputLayer c = a.clone();
    assertEquals(a, c);
    c.getLossTypes().add(LossType.SFT);
    assertEquals(List.of(LossType.SIGMOID), a.getLossTypes(), "clones do not share the loss list");
  }

  @Test
  void memoryReportCountsParameters() {
    GptDpoOutputLayer l = layer(5);
    l.setLayerName("dpo");
    long bytes = l.getMemoryReport(InputType.feedForward(13)).getTotalMemoryBytes(4, MemoryUseMode.TRAINING,
        CacheMode.NONE, DataType.FLOAT);
    assertTrue(bytes > 4 * GptParams.count(GPT), "at least the float32 parameters: " + bytes);
  }
}
