package dev.sparkdpo.dpo;

import dev.sparkdpo.model.GptConfig;

import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.IUpdater;

/** Networks with a GptDpoOutputLayer, for the layer's tests. */
final class DpoLayerFixtures {
  static final String INPUT = "pairs";
  static final String LAYER = "dpo";

  private DpoLayerFixtures() {}

  /** vocab 13, 10 positions, d 8, 2 layers, 2 heads. */
  static GptConfig tinyGpt() {
    return new GptConfig(13, 10, 8, 2, 2, 1e-5);
  }

  /** A ComputationGraph configuration: network input -> the DPO layer (the output). */
  static ComputationGraphConfiguration graphConfig(GptDpoOutputLayer layer, NeuralNetConfiguration.Builder global) {
    return global.graphBuilder()
        .addInputs(INPUT)
        .setInputTypes(InputType.feedForward(DpoBatch.featureColumns(layer.getWidth())))
        .addLayer(LAYER, layer, INPUT)
        .setOutputs(LAYER)
        .build();
  }

  static NeuralNetConfiguration.Builder global(DataType dataType, IUpdater updater, long seed) {
    return new NeuralNetConfiguration.Builder().seed(seed).dataType(dataType).updater(updater);
  }

  static ComputationGraph graph(GptDpoOutputLayer layer, DataType dataType, IUpdater updater, long seed) {
    ComputationGraph g = new ComputationGraph(graphConfig(layer, global(dataType, updater, seed)));
    g.init();
    return g;
  }

  static GptDpoLayer layerOf(ComputationGraph g) {
    return (GptDpoLayer) g.getLayer(LAYER);
  }
}
