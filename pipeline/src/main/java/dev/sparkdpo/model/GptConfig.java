package dev.sparkdpo.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * GPT-2 hyper-parameters, as in a Hugging Face config.json (model_type gpt2).
 *
 * <p>Only the architecture the forward pass implements is accepted: {@code gelu_new} activation, tied input/output
 * embeddings, MLP width 4 * n_embd, attention scaled by 1/sqrt(head size) and not by layer index, no cross-attention.
 * Dropout settings are ignored (training here uses none).
 */
public record GptConfig(int vocabSize, int nPositions, int nEmbd, int nLayer, int nHead, double layerNormEpsilon)
    implements ModelConfig, java.io.Serializable {
  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  /** The fix for a config.json that is damaged or hand-written: let transformers write it. */
  private static final String RESAVE =
      "expected a Hugging Face GPT-2 config.json (re-save the model with save_pretrained)";

  public GptConfig {
    positive("vocab_size", vocabSize);
    positive("n_positions", nPositions);
    positive("n_embd", nEmbd);
    positive("n_layer", nLayer);
    positive("n_head", nHead);
    if (nEmbd % nHead != 0) {
      throw new IllegalArgumentException("n_embd (" + nEmbd + ") must be a multiple of n_head (" + nHead + ")");
    }
    if (!(layerNormEpsilon > 0) || Double.isInfinite(layerNormEpsilon)) {
      throw new IllegalArgumentException("layer_norm_epsilon must be > 0, got " + layerNormEpsilon);
    }
  }

  private static void positive(String key, int value) {
    if (value <= 0) throw new IllegalArgumentException(key + " must be > 0, got " + value);
  }

  public int headSize() {
    return nEmbd / nHead;
  }

  @Override
  public int contextLength() {
    return nPositions;
  }

  @Override
  public int attentionHeads() {
    return nHead;
  }

  @Override
  public java.util.Map<String, long[]> parameterShapes() {
    return GptWeights.shapes(this);
  }

  /** A GPT-2 over the flat vector (see {@link GptParams#over}), computing in its data type. */
  @Override
  public Gpt model(org.nd4j.linalg.api.ndarray.INDArray flatParameters) {
    return Workspaces.outside(() -> Gpt.of(GptParams.over(this, flatParameters))); // not in a caller's workspace
  }

  public static GptConfig read(Path configJson) {
    return read(configJson, configJson.toString());
  }

  /** Reads {@code configJson}; errors call it {@code name} (e.g. "--model /models/sft: config.json"). */
  public static GptConfig read(Path configJson, String name) {
    JsonNode root;
    try {
      root = JSON.readTree(configJson.toFile());
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(name + " is not valid JSON (" + e.getOriginalMessage().replaceAll("\\s+", " ")
          + " at line " + e.getLocation().getLineNr() + "): " + RESAVE, e);
    } catch (NoSuchFileException | java.io.FileNotFoundException e) {
      throw new IllegalArgumentException("no config file " + name, e);
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + name + ": " + e.getMessage(), e);
    }
    if (root == null || !root.isObject()) throw new IllegalArgumentException(name + " is not a JSON object: " + RESAVE);
    Reader r = new Reader(name, root);
    String modelType = r.string("model_type", null);
    if (!"gpt2".equals(modelType)) {
      throw r.error("model_type", "is " + quote(modelType) + "; only \"gpt2\" is supported");
    }
    String activation = r.string("activation_function", "gelu_new");
    if (!"gelu_new".equals(activation)) {
      throw r.error("activation_function", "is " + quote(activation)
          + "; only \"gelu_new\" (GPT-2's tanh approximation) is supported");
    }
    if (!r.bool("tie_word_embeddings", true)) {
      throw r.error("tie_word_embeddings", "is false; only tied input/output embeddings are supported");
    }
    r.requireBool("scale_attn_weights", true);
    r.requireBool("scale_attn_by_inverse_layer_idx", false);
    r.requireBool("add_cross_attention", false);
    GptConfig c = new GptConfig(r.integer("vocab_size"), r.integer("n_positions"), r.integer("n_embd"),
        r.integer("n_layer"), r.integer("n_head"), r.number("layer_norm_epsilon"));
    JsonNode inner = root.get("n_inner");
    if (inner != null && !inner.isNull() && !(inner.canConvertToInt() && inner.isIntegralNumber()
        && inner.intValue() == 4 * c.nEmbd())) {
      throw r.error("n_inner", "is " + inner + "; only null (= 4 * n_embd = " + 4 * c.nEmbd() + ") is supported");
    }
    return c;
  }

  /** Writes an HF-loadable config.json without BOS/EOS ids. */
  public void write(Path configJson) {
    write(configJson, null, null);
  }

  /** Writes an HF-loadable config.json (GPT2LMHeadModel) with the given BOS/EOS ids (null: none). */
  public void write(Path configJson, Integer bosTokenId, Integer eosTokenId) {
    ObjectNode o = JSON.createObjectNode();   // keys sorted, as transformers writes them
    o.put("activation_function", "gelu_new");
    o.put("add_cross_attention", false);
    o.putArray("architectures").add("GPT2LMHeadModel");
    o.put("attn_pdrop", 0.0);
    o.put("bos_token_id", bosTokenId);
    o.put("dtype", "float32");
    o.put("embd_pdrop", 0.0);
    o.put("eos_token_id", eosTokenId);
    o.put("initializer_range", 0.02);
    o.put("layer_norm_epsilon", layerNormEpsilon);
    o.put("model_type", "gpt2");
    o.put("n_embd", nEmbd);
    o.put("n_head", nHead);
    o.putNull("n_inner");
    o.put("n_layer", nLayer);
    o.put("n_positions", nPositions);
    o.putNull("pad_token_id");
    o.put("reorder_and_upcast_attn", false);
    o.put("resid_pdrop", 0.0);
    o.put("scale_attn_by_inverse_layer_idx", false);
    o.put("scale_attn_weights", true);
    o.put("tie_word_embeddings", true);
    o.put("use_cache", true);
    o.put("vocab_size", vocabSize);
    try {
      Files.writeString(configJson, JSON.writeValueAsString(o) + "\n");
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + configJson, e);
    }
  }

  private static String quote(String s) {
    return s == null ? "missing" : "\"" + s + "\"";
  }

  /** Typed access to config.json keys with errors that name the file and the key. */
  private record Reader(String file, JsonNode root) {
    IllegalArgumentException error(String key, String problem) {
      return new IllegalArgumentException(file + ": \"" + key + "\" " + problem);
    }

    String string(String key, String absent) {
      JsonNode v = root.get(key);
      if (v == null || v.isNull()) return absent;
      if (!v.isTextual()) throw error(key, "must be a string, got " + v);
      return v.textValue();
    }

    boolean bool(String key, boolean absent) {
      JsonNode v = root.get(key);
      if (v == null || v.isNull()) return absent;
      if (!v.isBoolean()) throw error(key, "must be true or false, got " + v);
      return v.booleanValue();
    }

    void requireBool(String key, boolean supported) {
      if (bool(key, supported) != supported) throw error(key, "is " + !supported + "; only " + supported + " is supported");
    }

    int integer(String key) {
      JsonNode v = root.get(key);
      if (v == null || v.isNull()) throw error(key, "is missing: " + RESAVE);
      if (!v.isIntegralNumber() || !v.canConvertToInt()) throw error(key, "must be an integer, got " + v);
      return v.intValue();
    }

    double number(String key) {
      JsonNode v = root.get(key);
      if (v == null || v.isNull()) throw error(key, "is missing: " + RESAVE);
      if (!v.isNumber()) throw error(key, "must be a number, got " + v);
      return v.doubleValue();
    }
  }
}
