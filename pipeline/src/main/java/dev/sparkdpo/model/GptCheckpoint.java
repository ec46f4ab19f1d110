package dev.sparkdpo.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * An HF-shaped model directory: config.json, model.safetensors, tokenizer.json (optional).
 *
 * <p>{@code weights} always holds exactly {@link #parameterNames} (HF GPT-2 names with the {@code transformer.}
 * prefix) with {@link #parameterShapes}, in that order; the constructor checks it. Linear weights are HF Conv1D
 * layout {@code [in, out]}. The output projection is tied to {@code transformer.wte.weight}, so there is no
 * {@code lm_head.weight}.
 */
public record GptCheckpoint(GptConfig config, Map<String, Tensor> weights) {
  public static final String CONFIG = "config.json";
  public static final String WEIGHTS = "model.safetensors";
  public static final String TOKENIZER = "tokenizer.json";

  private static final String PREFIX = "transformer.";
  private static final String LM_HEAD = "lm_head.weight";
  /** Non-parameter buffers older transformers versions saved: the causal mask and its fill value. */
  private static final Pattern ATTN_BUFFER = Pattern.compile("(transformer\\.)?h\\.\\d+\\.attn\\.(bias|masked_bias)");

  public GptCheckpoint {
    Map<String, long[]> shapes = parameterShapes(config);
    for (String name : weights.keySet()) {
      if (!shapes.containsKey(name)) {
        throw new IllegalArgumentException("unexpected tensor '" + name + "' for a GPT-2 with n_layer="
            + config.nLayer() + " (expected HF names such as transformer.h.0.attn.c_attn.weight)");
      }
    }
    Map<String, Tensor> ordered = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      String name = e.getKey();
      long[] shape = e.getValue();
      Tensor t = weights.get(name);
      if (t == null) {
        throw new IllegalArgumentException("missing tensor '" + name + "' (expected shape " + Tensor.shapeString(shape)
            + ")");
      }
      if (!t.hasShape(shape)) {
        throw new IllegalArgumentException("tensor '" + name + "' has shape " + Tensor.shapeString(t.shape())
            + ", expected " + Tensor.shapeString(shape));
      }
      ordered.put(name, t);
    }
    weights = Collections.unmodifiableMap(ordered);
  }

  /** Loads {@code dir}/config.json and {@code dir}/model.safetensors, checking every tensor against the config. */
  public static GptCheckpoint load(Path dir) {
    if (!Files.isDirectory(dir)) throw new IllegalArgumentException("model directory " + dir + " does not exist");
    Path config = dir.resolve(CONFIG);
    Path weights = dir.resolve(WEIGHTS);
    if (!Files.isRegularFile(config)) throw new IllegalArgumentException("model directory " + dir + " has no " + CONFIG);
    if (!Files.isRegularFile(weights)) {
      String hint = Files.exists(dir.resolve("model.safetensors.index.json")) ? " (sharded checkpoints are not supported)"
          : Files.exists(dir.resolve("pytorch_model.bin")) ? " (only pytorch_model.bin: re-save it with"
              + " save_pretrained(safe_serialization=True))" : "";
      throw new IllegalArgumentException("model directory " + dir + " has no " + WEIGHTS + hint);
    }
    GptConfig c = GptConfig.read(config);
    try {
      return new GptCheckpoint(c, canonicalNames(Safetensors.read(weights)));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(weights + ": " + e.getMessage(), e);
    }
  }

  /**
   * HF files name parameters with or without the {@code transformer.} prefix (GPT2LMHeadModel vs GPT2Model), may
   * carry a tied {@code lm_head.weight} and old attention buffers: returns the prefixed parameters only.
   */
  static Map<String, Tensor> canonicalNames(Map<String, Tensor> file) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    Tensor lmHead = null;
    for (Map.Entry<String, Tensor> e : file.entrySet()) {
      String name = e.getKey();
      if (name.equals(LM_HEAD)) {
        lmHead = e.getValue();
      } else if (!ATTN_BUFFER.matcher(name).matches()) {
        String canonical = name.startsWith(PREFIX) ? name : PREFIX + name;
        if (out.put(canonical, e.getValue()) != null) {
          throw new IllegalArgumentException("tensor '" + canonical + "' appears both with and without the prefix");
        }
      }
    }
    Tensor wte = out.get(PREFIX + "wte.weight");
    if (lmHead != null && wte != null && !lmHead.equals(wte)) {
      throw new IllegalArgumentException(LM_HEAD + " differs from transformer.wte.weight: untied output embeddings"
          + " are not supported");
    }
    return out;
  }

  /** Writes config.json and model.safetensors, replacing {@code dir} (and anything in it) as a whole. */
  public void save(Path dir) {
    save(dir, null, null);
  }

  /**
   * Writes config.json (with {@code eosTokenId} as BOS and EOS id, as GPT-2 does; null: none), model.safetensors and
   * a copy of {@code tokenizerJson} (null: none) into a temporary sibling of {@code dir}, then moves it into place,
   * replacing an existing {@code dir} and everything in it.
   */
  public void save(Path dir, Integer eosTokenId, Path tokenizerJson) {
    Path target = dir.toAbsolutePath().normalize();
    Path parent = target.getParent();
    String id = UUID.randomUUID().toString();
    Path temp = parent.resolve("." + target.getFileName() + ".tmp-" + id);
    try {
      Files.createDirectories(temp);
      writeFiles(temp, eosTokenId, tokenizerJson);
      if (Files.exists(target)) {
        Path old = parent.resolve("." + target.getFileName() + ".old-" + id);
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
      } else {
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("saving model to " + target + ": " + e.getMessage(), e);
    } finally {
      deleteTree(temp);
    }
  }

  /** Writes config.json, model.safetensors and (if not null) a copy of {@code tokenizerJson} into {@code dir}. */
  public void writeFiles(Path dir, Integer eosTokenId, Path tokenizerJson) throws IOException {
    config.write(dir.resolve(CONFIG), eosTokenId, eosTokenId);
    Safetensors.write(dir.resolve(WEIGHTS), weights, Map.of());
    if (tokenizerJson != null) Files.copy(tokenizerJson, dir.resolve(TOKENIZER));
  }

  private static void deleteTree(Path p) {
    if (!Files.exists(p)) return;
    try (Stream<Path> s = Files.walk(p)) {
      for (Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
    } catch (IOException e) {
      throw new UncheckedIOException("deleting " + p, e);
    }
  }

  /** Total number of parameters (the tied output projection counted once). */
  public long parameterCount() {
    return weights.values().stream().mapToLong(Tensor::size).sum();
  }

  /** The HF names in PyTorch's named_parameters() order. */
  public static List<String> parameterNames(GptConfig c) {
    return List.copyOf(parameterShapes(c).keySet());
  }

  public static Map<String, long[]> parameterShapes(GptConfig c) {
    long v = c.vocabSize();
    long t = c.nPositions();
    long d = c.nEmbd();
    Map<String, long[]> s = new LinkedHashMap<>();
    s.put(PREFIX + "wte.weight", new long[] {v, d});
    s.put(PREFIX + "wpe.weight", new long[] {t, d});
    for (int i = 0; i < c.nLayer(); i++) {
      String h = PREFIX + "h." + i + ".";
      s.put(h + "ln_1.weight", new long[] {d});
      s.put(h + "ln_1.bias", new long[] {d});
      s.put(h + "attn.c_attn.weight", new long[] {d, 3 * d});
      s.put(h + "attn.c_attn.bias", new long[] {3 * d});
      s.put(h + "attn.c_proj.weight", new long[] {d, d});
      s.put(h + "attn.c_proj.bias", new long[] {d});
      s.put(h + "ln_2.weight", new long[] {d});
      s.put(h + "ln_2.bias", new long[] {d});
      s.put(h + "mlp.c_fc.weight", new long[] {d, 4 * d});
      s.put(h + "mlp.c_fc.bias", new long[] {4 * d});
      s.put(h + "mlp.c_proj.weight", new long[] {4 * d, d});
      s.put(h + "mlp.c_proj.bias", new long[] {d});
    }
    s.put(PREFIX + "ln_f.weight", new long[] {d});
    s.put(PREFIX + "ln_f.bias", new long[] {d});
    return s;
  }
}
