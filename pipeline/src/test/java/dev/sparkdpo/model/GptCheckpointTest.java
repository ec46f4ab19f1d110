package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GptCheckpointTest {
  private static final GptConfig TINY = new GptConfig(1000, 64, 64, 2, 4, 1e-5);

  @TempDir Path dir;

  @Test
  void loadsTheFixture() {
    GptCheckpoint ckpt = GptCheckpoint.load(ModelFixtures.tinyGpt2());
    assertEquals(TINY, ckpt.config());
    Map<String, long[]> shapes = GptCheckpoint.parameterShapes(TINY);
    assertEquals(2 + 12 * 2 + 2, shapes.size());
    assertEquals(List.copyOf(shapes.keySet()), List.copyOf(ckpt.weights().keySet()));
    shapes.forEach((name, shape) -> assertArrayEquals(shape, ckpt.weights().get(name).shape(), name));
    assertArrayEquals(new long[] {1000, 64}, ckpt.weights().get("transformer.wte.weight").shape());
    assertArrayEquals(new long[] {64, 192}, ckpt.weights().get("transformer.h.1.attn.c_attn.weight").shape());
    assertArrayEquals(new long[] {256, 64}, ckpt.weights().get("transformer.h.0.mlp.c_proj.weight").shape());
    assertEquals(1000 * 64 + 64 * 64 + 2 * (12 * 64 * 64 + 13 * 64) + 2 * 64, ckpt.parameterCount());
    assertEquals(GptCheckpoint.parameterNames(TINY), List.copyOf(shapes.keySet()));
  }

  @Test
  void saveThenLoadIsBitExactAndHasTheFixtureLayout() throws Exception {
    GptCheckpoint original = GptCheckpoint.load(ModelFixtures.tinyGpt2());
    Path saved = dir.resolve("model");
    original.save(saved);
    GptCheckpoint back = GptCheckpoint.load(saved);
    assertEquals(original.config(), back.config());
    original.weights().forEach((name, t) ->
        SafetensorsTest.assertBits(t.data(), back.weights().get(name).data()));

    ModelFixtures.RawFile fixture = ModelFixtures.RawFile.of(ModelFixtures.tinyGpt2().resolve("model.safetensors"));
    ModelFixtures.RawFile ours = ModelFixtures.RawFile.of(saved.resolve("model.safetensors"));
    assertEquals(names(fixture.header()), names(ours.header()));
    for (String name : names(fixture.header())) {
      JsonNode f = fixture.header().get(name);
      JsonNode o = ours.header().get(name);
      assertEquals(f.get("dtype"), o.get("dtype"), name);
      assertEquals(f.get("shape"), o.get("shape"), name);
      assertEquals(f.get("data_offsets"), o.get("data_offsets"), name);
      assertArrayEquals(fixture.tensorBytes(name), ours.tensorBytes(name), name);
    }
    try (var files = Files.list(dir)) {
      assertEquals(List.of(saved), files.toList(), "no temporary directories left behind");
    }
  }

  @Test
  void saveReplacesAnExistingDirectory() throws Exception {
    Path target = dir.resolve("model");
    Files.createDirectories(target);
    Files.writeString(target.resolve("stale.txt"), "old");
    GptInit.init(TINY, 1).save(target);
    assertFalse(Files.exists(target.resolve("stale.txt")));
    assertEquals(GptInit.init(TINY, 1), GptCheckpoint.load(target));
  }

  @Test
  void missingConfigFailsClearly() throws Exception {
    Path d = Files.createDirectories(dir.resolve("noconfig"));
    Files.copy(ModelFixtures.tinyGpt2().resolve("model.safetensors"), d.resolve("model.safetensors"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GptCheckpoint.load(d));
    assertTrue(e.getMessage().contains("config.json"), e.getMessage());
  }

  @Test
  void missingTensorIsNamed() throws Exception {
    Map<String, Tensor> w = fixtureTensors();
    w.remove("transformer.h.1.mlp.c_fc.bias");
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GptCheckpoint.load(modelDir(w)));
    assertTrue(e.getMessage().contains("transformer.h.1.mlp.c_fc.bias") && e.getMessage().contains("[256]"),
        e.getMessage());
  }

  @Test
  void wrongShapeNamesTensorExpectedAndActual() throws Exception {
    Map<String, Tensor> w = fixtureTensors();
    Tensor t = w.get("transformer.h.0.attn.c_attn.weight");
    w.put("transformer.h.0.attn.c_attn.weight", new Tensor(new long[] {192, 64}, t.data()));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GptCheckpoint.load(modelDir(w)));
    String m = e.getMessage();
    assertTrue(m.contains("transformer.h.0.attn.c_attn.weight") && m.contains("[192, 64]") && m.contains("[64, 192]"),
        m);
  }

  @Test
  void acceptsUnprefixedNamesTiedLmHeadAndAttentionBuffers() throws Exception {
    Map<String, Tensor> w = new LinkedHashMap<>();
    fixtureTensors().forEach((name, t) -> w.put(name.substring("transformer.".length()), t));
    w.put("lm_head.weight", w.get("wte.weight"));
    w.put("h.0.attn.bias", Tensor.zeros(1, 1, 64, 64));
    w.put("h.0.attn.masked_bias", Tensor.zeros());
    GptCheckpoint loaded = GptCheckpoint.load(modelDir(w));
    assertEquals(GptCheckpoint.load(ModelFixtures.tinyGpt2()), loaded);
  }

  @Test
  void untiedLmHeadIsRejected() throws Exception {
    Map<String, Tensor> w = fixtureTensors();
    Tensor wte = w.get("transformer.wte.weight");
    float[] other = wte.data().clone();
    other[5] += 1f;
    w.put("lm_head.weight", new Tensor(wte.shape(), other));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GptCheckpoint.load(modelDir(w)));
    assertTrue(e.getMessage().contains("lm_head.weight"), e.getMessage());
  }

  @Test
  void extraLayerIsRejected() throws Exception {
    Map<String, Tensor> w = fixtureTensors();
    w.put("transformer.h.2.ln_1.weight", Tensor.zeros(64));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GptCheckpoint.load(modelDir(w)));
    assertTrue(e.getMessage().contains("transformer.h.2.ln_1.weight"), e.getMessage());
  }

  private static Map<String, Tensor> fixtureTensors() {
    return new LinkedHashMap<>(Safetensors.read(ModelFixtures.tinyGpt2().resolve("model.safetensors")));
  }

  private Path modelDir(Map<String, Tensor> weights) throws Exception {
    Path d = Files.createTempDirectory(dir, "model");
    Files.copy(ModelFixtures.tinyGpt2().resolve("config.json"), d.resolve("config.json"));
    Safetensors.write(d.resolve("model.safetensors"), weights, Map.of());
    return d;
  }

  private static List<String> names(JsonNode header) {
    List<String> out = new java.util.ArrayList<>();
    header.fieldNames().forEachRemaining(n -> {
      if (!n.equals("__metadata__")) out.add(n);
    });
    return out;
  }
}
