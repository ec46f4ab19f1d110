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

  private static final String PREFIX = GptWeights.PREFIX;
  private static final String LM_HEAD = GptWeights.LM_HEAD;

  public GptCheckpoint {
    Map<String, long[]> shapes = parameterShapes(config);
    Map<String, long[]> actual = new LinkedHashMap<>();
    weights.forEach((name, t) -> actual.put(name, t.shape()));
    checkShapes(config, actual);
    Map<String, Tensor> ordered = new LinkedHashMap<>();
    for (String name : shapes.keySet()) ordered.put(name, weights.get(name));
    weights = Collections.unmodifiableMap(ordered);
  }

  /**
   * Throws unless {@code actual} (tensor name to shape, names with the {@code transformer.} prefix) holds exactly the
   * parameters of a GPT-2 with {@code config}, each with its shape; errors name the tensor, both shapes and the fix.
   */
  static void checkShapes(GptConfig config, Map<String, long[]> actual) {
    Map<String, long[]> shapes = parameterShapes(config);
    String fix = ": config.json and model.safetensors do not belong together; re-save the model with save_pretrained";
    for (String name : actual.keySet()) {
      if (!shapes.containsKey(name)) {
        throw new IllegalArgumentException("unexpected tensor '" + name + "' for a GPT-2 with n_layer="
            + config.nLayer() + " (expected HF names such as transformer.h.0.attn.c_attn.weight)" + fix);
      }
    }
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      String name = e.getKey();
      long[] shape = e.getValue();
      long[] got = actual.get(name);
      if (got == null) {
        throw new IllegalArgumentException("missing tensor '" + name + "' (HF name '" + name.substring(PREFIX.length())
            + "' in a GPT2Model file), expected shape " + Tensor.shapeString(shape) + fix);
      }
      if (!java.util.Arrays.equals(got, shape)) {
        throw new IllegalArgumentException("tensor '" + name + "' has shape " + Tensor.shapeString(got)
            + ", expected " + Tensor.shapeString(shape) + " (vocab_size " + config.vocabSize() + ", n_positions "
            + config.nPositions() + ", n_embd " + config.nEmbd() + " in config.json)" + fix);
      }
    }
  }

  /** Loads {@code dir}/config.json and {@code dir}/model.safetensors, checking every tensor against the config. */
  public static GptCheckpoint load(Path dir) {
    return load(dir, "model directory " + dir);
  }

  /**
   * {@link #load(Path)}, with errors that start with {@code what} (e.g. {@code "--model /models/sft"}: the option the
   * user gave) and name the file and the fix.
   */
  public static GptCheckpoint load(Path dir, String what) {
    if (!Files.isDirectory(dir)) {
      throw new IllegalArgumentException(what + " does not exist or is not a directory: expected a Hugging Face model"
          + " directory (config.json, model.safetensors)");
    }
    Path config = dir.resolve(CONFIG);
    Path weights = dir.resolve(WEIGHTS);
    if (!Files.isRegularFile(config)) {
      throw new IllegalArgumentException(what + " has no " + CONFIG + ": expected a Hugging Face model directory"
          + " (config.json, model.safetensors)");
    }
    if (!Files.isRegularFile(weights)) {
      throw new IllegalArgumentException(what + " has no " + WEIGHTS + weightsHint(n -> Files.exists(dir.resolve(n))));
    }
    GptConfig c = GptConfig.read(config, what + ": " + CONFIG);
    Map<String, Tensor> tensors = Safetensors.read(weights, what + ": " + WEIGHTS);
    try {
      return new GptCheckpoint(c, canonicalNames(tensors));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(what + ": " + WEIGHTS + ": " + e.getMessage(), e);
    }
  }

  /**
   * Checks the header of a model's safetensors file against its config without reading the weights (which may be
   * gigabytes): the same names and shapes {@link #load} requires. Errors start with {@code what}.
   */
  public static void checkHeader(GptConfig config, Map<String, Safetensors.TensorInfo> header, String what) {
    Map<String, long[]> shapes = new LinkedHashMap<>();
    try {
      prefixed(header).forEach((name, info) -> shapes.put(name, info.shape()));
      checkShapes(config, shapes);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(what + ": " + WEIGHTS + ": " + e.getMessage(), e);
    }
  }

  /** What to do about a model directory without model.safetensors; {@code exists} tells whether a file is in it. */
  public static String weightsHint(java.util.function.Predicate<String> exists) {
    return exists.test("model.safetensors.index.json")
        ? " (sharded checkpoints are not supported: save it with save_pretrained(max_shard_size=\"100GB\"))"
        : exists.test("pytorch_model.bin") ? " (only pytorch_model.bin: re-save it with"
            + " save_pretrained(safe_serialization=True))" : ": expected a Hugging Face model directory (config.json,"
            + " model.safetensors)";
  }

  /**
   * HF files name parameters with or without the {@code transformer.} prefix (GPT2LMHeadModel vs GPT2Model), may
   * carry a tied {@code lm_head.weight} and old attention buffers: returns the prefixed parameters only.
   */
  static Map<String, Tensor> canonicalNames(Map<String, Tensor> file) {
    Map<String, Tensor> out = prefixed(file);
    Tensor lmHead = file.get(LM_HEAD);
    Tensor wte = out.get(GptWeights.WTE);
    if (lmHead != null && wte != null && !lmHead.equals(wte)) {
      throw new IllegalArgumentException(LM_HEAD + " differs from transformer.wte.weight: untied output embeddings"
          + " are not supported");
    }
    return out;
  }

  /** The parameters of a file's entries under their prefixed names, without lm_head.weight and attention buffers. */
  private static <T> Map<String, T> prefixed(Map<String, T> file) {
    Map<String, T> out = new LinkedHashMap<>();
    for (Map.Entry<String, T> e : file.entrySet()) {
      String name = e.getKey();
      if (!name.equals(LM_HEAD) && !GptWeights.ATTN_BUFFER.matcher(name).matches()) {
        String canonical = name.startsWith(PREFIX) ? name : PREFIX + name;
        if (out.put(canonical, e.getValue()) != null) {
          throw new IllegalArgumentException("tensor '" + canonical + "' appears both with and without the prefix");
        }
      }
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
    replaceDirectory(dir, "model", temp -> writeFiles(temp, eosTokenId, tokenizerJson));
  }

  /** Writes config.json, model.safetensors and (if not null) a copy of {@code tokenizerJson} into {@code dir}. */
  public void writeFiles(Path dir, Integer eosTokenId, Path tokenizerJson) throws IOException {
    config.write(dir.resolve(CONFIG), eosTokenId, eosTokenId);
    Safetensors.write(dir.resolve(WEIGHTS), weights, Map.of());
    if (tokenizerJson != null) Files.copy(tokenizerJson, dir.resolve(TOKENIZER));
  }

  /** Writes a directory's files into the given (temporary) directory. */
  interface DirectoryWriter {
    void write(Path dir) throws IOException;
  }

  /**
   * Writes {@code dir}'s files into a temporary sibling, then moves it into place, replacing an existing {@code dir}
   * (moved aside first, deleted after): a reader sees the old directory or the new one, never half of one. Shared by
   * models and adapters.
   */
  static void replaceDirectory(Path dir, String what, DirectoryWriter writer) {
    Path target = dir.toAbsolutePath().normalize();
    Path parent = target.getParent();
    String id = UUID.randomUUID().toString();
    Path temp = parent.resolve("." + target.getFileName() + ".tmp-" + id);
    try {
      Files.createDirectories(temp);
      writer.write(temp);
      if (Files.exists(target)) {
        Path old = parent.resolve("." + target.getFileName() + ".old-" + id);
        Files.move(target, old, StandardCopyOption.ATOMIC_MOVE);
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(old);
      } else {
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("saving " + what + " to " + target + ": " + e.getMessage(), e);
    } finally {
      deleteTree(temp);
    }
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

  /** The HF names and shapes of a GPT-2's parameters (see {@link GptWeights}). */
  public static Map<String, long[]> parameterShapes(GptConfig c) {
    return GptWeights.shapes(c);
  }
}
