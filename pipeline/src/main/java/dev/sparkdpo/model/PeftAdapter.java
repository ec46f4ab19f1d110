package dev.sparkdpo.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;

import org.nd4j.linalg.api.buffer.DataType;

/**
 * LoRA adapters in PEFT's saved format (PeftModel.save_pretrained / from_pretrained): a directory with
 * adapter_config.json ({@code peft_type: LORA}, r, lora_alpha, lora_dropout, target_modules, fan_in_fan_out, bias,
 * task_type, base_model_name_or_path) and adapter_model.safetensors with PEFT's tensor names, e.g.
 * {@code base_model.model.transformer.h.0.attn.c_attn.lora_A.weight} [r, in] and {@code ...lora_B.weight} [out, r].
 * fan_in_fan_out is true: GPT-2's linear layers are Conv1D ([in, out] weights), which PEFT adapts with it set.
 */
public final class PeftAdapter {
  public static final String CONFIG = "adapter_config.json";
  public static final String WEIGHTS = "adapter_model.safetensors";
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private PeftAdapter() {}

  /** adapter_config.json as PEFT writes it for these adapters on a GPT-2 whose path or hub id is {@code baseModel}. */
  public static ObjectNode configJson(LoraConfig lora, String baseModel) {
    ObjectNode c = JSON.createObjectNode();
    c.put("peft_type", "LORA");
    c.put("task_type", "CAUSAL_LM");
    c.put("base_model_name_or_path", baseModel);
    c.put("r", lora.rank());
    c.put("lora_alpha", lora.alpha());
    c.put("lora_dropout", lora.dropout());
    ArrayNode targets = c.putArray("target_modules");
    lora.targets().forEach(targets::add);
    c.put("fan_in_fan_out", true);
    c.put("bias", "none");
    c.put("use_rslora", false);
    c.put("init_lora_weights", true);
    c.put("inference_mode", true);
    c.putNull("modules_to_save");
    c.putNull("layers_to_transform");
    return c;
  }

  /** Writes adapter_config.json and adapter_model.safetensors into {@code dir} (created if missing). */
  public static void writeFiles(Path dir, LoraParams adapters, String baseModel) throws IOException {
    Files.createDirectories(dir);
    JSON.writeValue(dir.resolve(CONFIG).toFile(), configJson(adapters.lora(), baseModel));
    Safetensors.write(dir.resolve(WEIGHTS), adapters.toPeftTensors(), Map.of());
  }

  /** As {@link #writeFiles}, into a temporary sibling moved into place: {@code dir} is replaced as a whole. */
  public static void save(Path dir, LoraParams adapters, String baseModel) {
    GptCheckpoint.replaceDirectory(dir, "adapters", temp -> writeFiles(temp, adapters, baseModel));
  }

  /**
   * The LoraConfig of {@code dir}'s adapter_config.json; refuses what the adapters here cannot run (another
   * peft_type, target_modules as a regular expression, bias other than none, rsLoRA; lora_dropout must be in [0, 1)).
   * {@code what} names the directory in errors (e.g. "--resume checkpoint ...").
   */
  public static LoraConfig readConfig(Path dir, String what) {
    Path file = dir.resolve(CONFIG);
    JsonNode c;
    try {
      c = JSON.readTree(file.toFile());
    } catch (NoSuchFileException | java.io.FileNotFoundException e) {
      throw new IllegalArgumentException(what + ": no " + CONFIG + " in " + dir + " (not a PEFT adapter directory)");
    } catch (IOException e) {
      throw new IllegalArgumentException(what + ": " + file + " is not JSON: " + e.getMessage(), e);
    }
    if (!"LORA".equals(c.path("peft_type").asText())) {
      throw new IllegalArgumentException(what + ": " + file + " has peft_type " + c.get("peft_type")
          + "; only LORA adapters are supported");
    }
    if (!c.path("target_modules").isArray()) {
      throw new IllegalArgumentException(what + ": " + file + ": target_modules must be a list of module names"
          + " (a regular expression is not supported), got " + c.get("target_modules"));
    }
    if (c.has("bias") && !"none".equals(c.get("bias").asText())) {
      throw new IllegalArgumentException(what + ": " + file + ": bias " + c.get("bias") + " is not supported (none)");
    }
    if (c.path("use_rslora").asBoolean(false)) {
      throw new IllegalArgumentException(what + ": " + file + ": use_rslora is not supported");
    }
    if (!c.path("r").canConvertToInt() || !c.path("lora_alpha").isNumber()) {
      throw new IllegalArgumentException(what + ": " + file + " needs integer r and numeric lora_alpha");
    }
    List<String> targets = new ArrayList<>();
    c.get("target_modules").forEach(t -> targets.add(t.asText()));
    return new LoraConfig(c.get("r").asInt(), c.get("lora_alpha").asDouble(), c.path("lora_dropout").asDouble(0),
        targets);
  }

  /** The adapters of {@code dir} for a model of this config, in the given data type (a new vector). */
  public static LoraParams load(Path dir, GptConfig config, DataType dataType, String what) {
    LoraConfig lora = readConfig(dir, what);
    Path weights = dir.resolve(WEIGHTS);
    if (!Files.isRegularFile(weights)) {
      throw new IllegalArgumentException(what + ": no " + WEIGHTS + " in " + dir);
    }
    LoraParams p = LoraParams.zeros(config, lora, dataType);
    p.copyFrom(Safetensors.read(weights, what + " " + weights), what + " " + weights);
    return p;
  }
}
