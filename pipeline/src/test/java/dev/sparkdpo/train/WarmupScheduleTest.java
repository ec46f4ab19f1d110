package dev.sparkdpo.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.sparkdpo.train.WarmupSchedule.Decay;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.learning.config.Adam;

/** The schedule against Hugging Face's formulas (values worked out by hand) and inside DL4J's JSON. */
class WarmupScheduleTest {

  @Test
  void linearWarmupThenConstant() {
    WarmupSchedule s = new WarmupSchedule(1e-6, 150, 1000, Decay.CONSTANT);
    assertEquals(0.0, s.valueAt(0, 0));                 // HF: lr_lambda(0) = 0 / 150
    assertEquals(1e-6 / 150, s.valueAt(1, 0), 1e-20);
    assertEquals(0.5e-6, s.valueAt(75, 0), 1e-20);
    assertEquals(1e-6, s.valueAt(150, 0));
    assertEquals(1e-6, s.valueAt(5000, 3));             // constant after the warmup, whatever the epoch
  }

  @Test
  void cosineDecayAfterWarmup() {
    WarmupSchedule s = new WarmupSchedule(2e-5, 10, 110, Decay.COSINE);
    assertEquals(1e-5, s.valueAt(5, 0), 1e-18);
    assertEquals(2e-5, s.valueAt(10, 0), 1e-18);                        // progress 0
    assertEquals(1e-5, s.valueAt(60, 0), 1e-18);                        // progress 1/2: cos(pi/2) = 0
    assertEquals(2e-5 * 0.5 * (1 + Math.cos(Math.PI / 4)), s.valueAt(35, 0), 1e-18); // progress 1/4
    assertEquals(0.0, s.valueAt(110, 0), 1e-18);
    assertEquals(0.0, s.valueAt(500, 0), 1e-18);                        // clamped after the end
  }

  @Test
  void noWarmupStartsAtThePeak() {
    assertEquals(3e-4, new WarmupSchedule(3e-4, 0, 100, Decay.CONSTANT).valueAt(0, 0));
  }

  @Test
  void badSettingsNameTheProblem() {
    assertEquals("cosine decay needs total steps (10) > warmup steps (10)",
        assertThrows(IllegalArgumentException.class, () -> new WarmupSchedule(1e-5, 10, 10, Decay.COSINE))
            .getMessage());
    assertThrows(IllegalArgumentException.class, () -> new WarmupSchedule(0, 10, 100, Decay.CONSTANT));
    assertEquals("learning-rate decay must be constant or cosine, got 'linear'",
        assertThrows(IllegalArgumentException.class, () -> Decay.parse("linear")).getMessage());
  }

  @Test
  void survivesDl4jsJsonConfiguration() {
    WarmupSchedule s = new WarmupSchedule(5e-6, 150, 2000, Decay.COSINE);
    ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder().updater(new Adam(s)).graphBuilder()
        .addInputs("in").addLayer("dense", new DenseLayer.Builder().nIn(3).nOut(2).build(), "in")
        .setOutputs("dense").build();
    ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(conf.toJson());
    BaseLayer layer = (BaseLayer) back.getVertices().values().stream()
        .map(v -> ((org.deeplearning4j.nn.conf.graph.LayerVertex) v).getLayerConf().getLayer())
        .findFirst().orElseThrow();
    Adam adam = (Adam) layer.getIUpdater();
    assertEquals(s, adam.getLearningRateSchedule());
    assertEquals(s.valueAt(700, 1), adam.getLearningRate(700, 1));
  }
}
