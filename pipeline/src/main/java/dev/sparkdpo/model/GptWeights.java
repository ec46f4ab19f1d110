package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * GPT-2's checkpoint mapping, the one place Hugging Face's tensor names are spelled: the tensors of a GPT2LMHeadModel
 * (names with the {@code transformer.} prefix, linear weights in Conv1D layout [in, out], lm_head tied to wte), their
 * shapes and init, and which layer each one is. {@link GptCheckpoint} reads and writes files by it,
 * {@link GptParams} lays out the flat vector by it, {@link GptInit} initialises by it and {@link #layers} builds the
 * model's layers from it. A second architecture has its own mapping of this kind.
 */
final class GptWeights {
  private GptWeights() {}

  static final String PREFIX = "transformer.";
  /** The tied output projection some files carry (equal to wte); never a parameter of its own. */
  static final String LM_HEAD = "lm_head.weight";
  static final String WTE = PREFIX + "wte.weight";
  static final String WPE = PREFIX + "wpe.weight";
  /** Non-parameter buffers older transformers versions saved: the causal mask and its fill value. */
  static final Pattern ATTN_BUFFER = Pattern.compile("(transformer\\.)?h\\.\\d+\\.attn\\.(bias|masked_bias)");

  private static final String LN_F = PREFIX + "ln_f";
  // a block's layers, under transformer.h.<i>.
  private static final String LN_1 = "ln_1";
  private static final String C_ATTN = "attn.c_attn";
  private static final String ATTN_PROJ = "attn.c_proj";
  private static final String LN_2 = "ln_2";
  private static final String C_FC = "mlp.c_fc";
  private static final String MLP_PROJ = "mlp.c_proj";

  /** How a tensor starts in a from-scratch model (GPT-2 / nanoGPT). */
  enum Init {
    /** N(0, 0.02). */
    NORMAL,
    /** N(0, 0.02 / sqrt(2 n_layer)): the projections into the residual stream. */
    RESIDUAL,
    ZEROS,
    ONES
  }

  /** A tensor's shape and init. */
  record Spec(long[] shape, Init init) {}

  /** Every parameter in PyTorch's named_parameters() order, which is also the flat vector's order. */
  static Map<String, Spec> specs(GptConfig c) {
    long v = c.vocabSize(), t = c.nPositions(), d = c.nEmbd();
    Map<String, Spec> s = new LinkedHashMap<>();
    s.put(WTE, new Spec(new long[] {v, d}, Init.NORMAL));
    s.put(WPE, new Spec(new long[] {t, d}, Init.NORMAL));
    for (int i = 0; i < c.nLayer(); i++) {
      String h = block(i);
      norm(s, h + LN_1, d);
      linear(s, h + C_ATTN, d, 3 * d, Init.NORMAL);
      linear(s, h + ATTN_PROJ, d, d, Init.RESIDUAL);
      norm(s, h + LN_2, d);
      linear(s, h + C_FC, d, 4 * d, Init.NORMAL);
      linear(s, h + MLP_PROJ, 4 * d, d, Init.RESIDUAL);
    }
    norm(s, LN_F, d);
    return s;
  }

  /**
   * The linear layers (HF Conv1D) by module name, e.g. {@code transformer.h.0.attn.c_attn}, with their weight's
   * [in, out] shape, in the flat vector's order: what LoRA adapters target ({@link LoraParams}).
   */
  static Map<String, long[]> linears(GptConfig c) {
    long d = c.nEmbd();
    Map<String, long[]> out = new LinkedHashMap<>();
    for (int i = 0; i < c.nLayer(); i++) {
      String h = block(i);
      out.put(h + C_ATTN, new long[] {d, 3 * d});
      out.put(h + ATTN_PROJ, new long[] {d, d});
      out.put(h + C_FC, new long[] {d, 4 * d});
      out.put(h + MLP_PROJ, new long[] {4 * d, d});
    }
    return out;
  }

  static Map<String, long[]> shapes(GptConfig c) {
    Map<String, long[]> out = new LinkedHashMap<>();
    specs(c).forEach((name, spec) -> out.put(name, spec.shape()));
    return out;
  }

  private static String block(int i) {
    return PREFIX + "h." + i + ".";
  }

  private static void norm(Map<String, Spec> s, String name, long d) {
    s.put(name + ".weight", new Spec(new long[] {d}, Init.ONES));
    s.put(name + ".bias", new Spec(new long[] {d}, Init.ZEROS));
  }

  private static void linear(Map<String, Spec> s, String name, long in, long out, Init init) {
    s.put(name + ".weight", new Spec(new long[] {in, out}, init));
    s.put(name + ".bias", new Spec(new long[] {out}, Init.ZEROS));
  }

  /**
   * The layers over {@code weights}, writing their gradients into {@code grads} (same config; null: inference only).
   * The layers are views: nothing is copied, so building them per gradient vector is cheap.
   */
  static GptLayers layers(GptConfig c, GptParams weights, GptParams grads, long logitsChunkBytes) {
    return layers(c, weights, grads, null, null, null, logitsChunkBytes);
  }

  /**
   * As {@link #layers(GptConfig, GptParams, GptParams, long)}, with LoRA adapters (null: none) wrapping the linear
   * layers they target, writing their gradients into {@code adapterGrads} (null: inference only). With adapters the
   * base is frozen in a training step: {@code grads} is then null. {@code passSeed}: a training pass's seed of the
   * adapters' dropout masks (each module's mask seed is derived from it and the module's name, so a pass's forward and
   * backward, which build their layers apart, draw the same masks); null: no dropout (inference).
   */
  static GptLayers layers(GptConfig c, GptParams weights, GptParams grads, LoraParams adapters,
      LoraParams adapterGrads, Long passSeed, long logitsChunkBytes) {
    Binder p = new Binder(weights, grads, adapters, adapterGrads, passSeed, c.layerNormEpsilon());
    List<GptBlock> blocks = new ArrayList<>();
    for (int i = 0; i < c.nLayer(); i++) {
      String h = block(i);
      blocks.add(new GptBlock(p.norm(h + LN_1), p.linear(h + C_ATTN), p.linear(h + ATTN_PROJ), p.norm(h + LN_2),
          p.linear(h + C_FC), p.linear(h + MLP_PROJ), c.nHead(), c.headSize()));
    }
    GptEmbedding embedding = new GptEmbedding(weights.get(WTE), weights.get(WPE), p.grad(WTE), p.grad(WPE));
    return new GptLayers(embedding, List.copyOf(blocks), p.norm(LN_F),
        new LmHead(weights.get(WTE), p.grad(WTE), logitsChunkBytes)); // tied: lm_head is wte
  }

  /** Layers by HF name over a weight vector and an optional gradient vector. */
  private record Binder(GptParams weights, GptParams grads, LoraParams adapters, LoraParams adapterGrads,
      Long passSeed, double epsilon) {
    INDArray grad(String name) {
      return grads == null ? null : grads.get(name);
    }

    LayerNorm norm(String name) {
      String w = name + ".weight", b = name + ".bias";
      return new LayerNorm(weights.get(w), weights.get(b), grad(w), grad(b), epsilon);
    }

    /** Every linear layer of the model is made here: where an adapter (LoRA) wraps the ones it targets. */
    Linear linear(String name) {
      String w = name + ".weight", b = name + ".bias";
      Linear base = new Conv1D(weights.get(w), weights.get(b), grad(w), grad(b));
      if (adapters == null || !adapters.adapts(name)) return base;
      LoraConfig lora = adapters.lora();
      Long maskSeed = passSeed == null || lora.dropout() == 0 ? null : Seeds.mix(passSeed, name);
      return new LoraLinear(base, adapters.a(name), adapters.b(name), lora.scale(), lora.dropout(), maskSeed,
          adapterGrads == null ? null : adapterGrads.a(name), adapterGrads == null ? null : adapterGrads.b(name));
    }
  }
}
