package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GptInitTest {
  private static final GptConfig CONFIG = new GptConfig(1000, 64, 64, 2, 4, 1e-5);

  @TempDir Path dir;

  @Test
  void shapesAndDistributions() {
    GptCheckpoint c = GptInit.init(CONFIG, 42);
    Map<String, long[]> shapes = GptCheckpoint.parameterShapes(CONFIG);
    assertEquals(shapes.keySet(), c.weights().keySet());
    shapes.forEach((name, shape) -> assertArrayEquals(shape, c.weights().get(name).shape(), name));

    assertStd(0.02, c.weights().get("transformer.wte.weight"));
    assertStd(0.02, c.weights().get("transformer.h.1.mlp.c_fc.weight"));
    double residual = 0.02 / Math.sqrt(2 * CONFIG.nLayer());
    assertStd(residual, c.weights().get("transformer.h.0.mlp.c_proj.weight"));
    assertStd(residual, c.weights().get("transformer.h.1.attn.c_proj.weight"));

    for (float v : c.weights().get("transformer.h.0.ln_1.weight").data()) assertEquals(1f, v);
    for (float v : c.weights().get("transformer.ln_f.weight").data()) assertEquals(1f, v);
    for (String bias : new String[] {"transformer.ln_f.bias", "transformer.h.0.attn.c_attn.bias",
        "transformer.h.1.mlp.c_proj.bias", "transformer.h.0.ln_2.bias"}) {
      for (float v : c.weights().get(bias).data()) assertEquals(0f, v, bias);
    }
  }

  @Test
  void initIntoParametersGivesTheCheckpointsWeights() {
    GptParams direct = GptInit.initParams(CONFIG, 7, org.nd4j.linalg.api.buffer.DataType.FLOAT);
    GptParams viaCheckpoint = GptParams.from(GptInit.init(CONFIG, 7), org.nd4j.linalg.api.buffer.DataType.FLOAT);
    org.junit.jupiter.api.Assertions.assertArrayEquals(viaCheckpoint.flat().data().asFloat(),
        direct.flat().data().asFloat(), 0f);
  }

  @Test
  void deterministicPerSeed() {
    assertEquals(GptInit.init(CONFIG, 7), GptInit.init(CONFIG, 7));
    assertNotEquals(GptInit.init(CONFIG, 7).weights().get("transformer.wte.weight"),
        GptInit.init(CONFIG, 8).weights().get("transformer.wte.weight"));
    assertNotEquals(GptInit.init(CONFIG, 7).weights().get("transformer.h.0.attn.c_attn.weight"),
        GptInit.init(CONFIG, 7).weights().get("transformer.h.1.attn.c_attn.weight"), "layers differ");
  }

  @Test
  void saveThenLoad() {
    GptCheckpoint c = GptInit.init(CONFIG, 3);
    c.save(dir.resolve("m"));
    assertEquals(c, GptCheckpoint.load(dir.resolve("m")));
  }

  private static void assertStd(double expected, Tensor t) {
    double sum = 0;
    double sq = 0;
    for (float v : t.data()) {
      sum += v;
      sq += (double) v * v;
    }
    double n = t.data().length;
    double mean = sum / n;
    double std = Math.sqrt(sq / n - mean * mean);
    assertEquals(0, mean, 0.05 * expected, "mean of " + t);
    assertEquals(expected, std, 0.05 * expected, "std of " + t);
  }
}
