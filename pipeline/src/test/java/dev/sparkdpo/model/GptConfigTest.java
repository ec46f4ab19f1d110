package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GptConfigTest {
  @TempDir Path dir;

  @Test
  void readsTheFixture() {
    GptConfig c = GptConfig.read(ModelFixtures.tinyGpt2().resolve("config.json"));
    assertEquals(new GptConfig(1000, 64, 64, 2, 4, 1e-5), c);
    assertEquals(16, c.headSize());
  }

  @Test
  void writeThenReadRoundTrips() throws Exception {
    GptConfig c = new GptConfig(50257, 256, 256, 4, 4, 1e-5);
    Path f = dir.resolve("config.json");
    c.write(f, 50256, 50256);
    assertEquals(c, GptConfig.read(f));
    JsonNode json = ModelFixtures.JSON.readTree(f.toFile());
    assertEquals("gpt2", json.get("model_type").asText());
    assertEquals("GPT2LMHeadModel", json.get("architectures").get(0).asText());
    assertEquals("gelu_new", json.get("activation_function").asText());
    assertTrue(json.get("tie_word_embeddings").asBoolean());
    assertTrue(json.get("n_inner").isNull());
    assertEquals(0.0, json.get("attn_pdrop").asDouble());
    assertEquals(50256, json.get("eos_token_id").asInt());
    assertEquals(50256, json.get("bos_token_id").asInt());

    c.write(f);
    assertTrue(ModelFixtures.JSON.readTree(f.toFile()).get("eos_token_id").isNull());
    assertEquals(c, GptConfig.read(f));
  }

  @Test
  void unsupportedArchitecturesNameTheKey() throws Exception {
    assertRejected("activation_function", "relu");
    assertRejected("model_type", "llama");
    assertRejected("tie_word_embeddings", false);
    assertRejected("n_inner", 100);
    ObjectNode missing = fixtureJson();
    missing.remove("n_head");
    assertMessageNames("n_head", missing);
  }

  @Test
  void invalidShapesAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> new GptConfig(10, 8, 30, 1, 4, 1e-5), "30 % 4 != 0");
    assertThrows(IllegalArgumentException.class, () -> new GptConfig(0, 8, 32, 1, 4, 1e-5));
  }

  private ObjectNode fixtureJson() throws Exception {
    return (ObjectNode) ModelFixtures.JSON.readTree(ModelFixtures.tinyGpt2().resolve("config.json").toFile());
  }

  private void assertRejected(String key, Object value) throws Exception {
    ObjectNode json = fixtureJson();
    json.set(key, ModelFixtures.JSON.valueToTree(value));
    assertMessageNames(key, json);
  }

  private void assertMessageNames(String key, ObjectNode json) throws Exception {
    Path f = Files.createTempFile(dir, "config", ".json");
    ModelFixtures.JSON.writeValue(f.toFile(), json);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GptConfig.read(f));
    assertTrue(e.getMessage().contains("\"" + key + "\""), e.getMessage());
  }
}
