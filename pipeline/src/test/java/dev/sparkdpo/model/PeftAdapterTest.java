package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/** adapter/ in PEFT's format: adapter_config.json and adapter_model.safetensors with PEFT's names, round trip. */
class PeftAdapterTest {
  static final GptConfig TINY = new GptConfig(1000, 64, 64, 2, 4, 1e-5);

  static LoraParams adapters(LoraConfig lora) {
    LoraParams p = LoraParams.init(TINY, lora, 4, DataType.FLOAT);
    Nd4j.getRandom().setSeed(4);
    p.views().forEach((name, v) -> {
      if (name.endsWith(LoraParams.B)) v.assign(Nd4j.rand(DataType.FLOAT, v.shape()));
    });
    return p;
  }

  @Test
  void writesPeftsFilesAndReadsThemBack(@TempDir Path tmp) throws Exception {
    LoraConfig lora = new LoraConfig(4, 16, 0.05, List.of("c_attn", "c_proj"));
    LoraParams p = adapters(lora);
    Path dir = tmp.resolve("adapter");
    PeftAdapter.save(dir, p, "/models/gpt2-sft");

    JsonNode c = ModelFixtures.JSON.readTree(dir.resolve("adapter_config.json").toFile());
    assertEquals("LORA", c.get("peft_type").asText());
    assertEquals("CAUSAL_LM", c.get("task_type").asText());
    assertEquals(4, c.get("r").asInt());
    assertEquals(16.0, c.get("lora_alpha").asDouble());
    assertEquals(0.05, c.get("lora_dropout").asDouble(), "the configured lora_dropout, as PEFT writes it");
    assertEquals("[\"c_attn\",\"c_proj\"]", c.get("target_modules").toString());
    assertTrue(c.get("fan_in_fan_out").asBoolean());
    assertEquals("none", c.get("bias").asText());
    assertEquals("/models/gpt2-sft", c.get("base_model_name_or_path").asText());

    ModelFixtures.RawFile raw = ModelFixtures.RawFile.of(dir.resolve("adapter_model.safetensors"));
    JsonNode a = raw.header().get("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight");
    assertEquals("F32", a.get("dtype").asText());
    assertEquals("[4,64]", a.get("shape").toString());
    assertEquals("[64,4]", raw.header().get("base_model.model.transformer.h.1.mlp.c_proj.lora_B.weight")
        .get("shape").toString());
    assertEquals("[192,4]", raw.header().get("base_model.model.transformer.h.1.attn.c_attn.lora_B.weight")
        .get("shape").toString());
    assertEquals(2 * 3 * 2 + 1, raw.header().size(), "2 blocks x (c_attn, attn.c_proj, mlp.c_proj) x (A, B) + metadata");

    LoraParams back = PeftAdapter.load(dir, TINY, DataType.FLOAT, "test");
    assertEquals(lora, back.lora());
    assertEquals(p.flat(), back.flat());
    assertEquals(List.copyOf(p.views().keySet()), List.copyOf(back.views().keySet()));
  }

  @Test
  void refusesWhatItCannotRun(@TempDir Path tmp) throws Exception {
    Path dir = tmp.resolve("adapter");
    PeftAdapter.save(dir, adapters(LoraConfig.of(2)), "gpt2");
    Path config = dir.resolve("adapter_config.json");
    String json = Files.readString(config);

    Files.writeString(config, json.replace("\"LORA\"", "\"IA3\""));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PeftAdapter.load(dir, TINY, DataType.FLOAT, "--adapter"));
    assertTrue(e.getMessage().startsWith("--adapter") && e.getMessage().contains("IA3"), e.getMessage());

    Files.writeString(config, json.replaceAll("\"target_modules\" : \\[[^]]*]", "\"target_modules\" : \".*c_attn\""));
    e = assertThrows(IllegalArgumentException.class, () -> PeftAdapter.load(dir, TINY, DataType.FLOAT, "x"));
    assertTrue(e.getMessage().contains("regular expression"), e.getMessage());

    // the config says rank 3: the tensors (rank 2) do not fit it
    Files.writeString(config, json.replaceAll("\"r\" : 2", "\"r\" : 3"));
    e = assertThrows(IllegalArgumentException.class, () -> PeftAdapter.load(dir, TINY, DataType.FLOAT, "x"));
    assertTrue(e.getMessage().contains("shape"), e.getMessage());
  }
}
