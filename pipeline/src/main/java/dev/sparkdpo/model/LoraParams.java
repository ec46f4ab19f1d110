package dev.sparkdpo.model;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Every LoRA adapter tensor of a GPT in one flat row vector [1, n], with a named view per tensor (as {@link GptParams}
 * for the full model): for each targeted linear layer in the model's order ({@link GptWeights#linears}), lora_A
 * [r, in] then lora_B [out, r]. Names are the module's plus {@code .lora_A.weight} / {@code .lora_B.weight}, e.g.
 * {@code transformer.h.0.attn.c_attn.lora_A.weight}; a PEFT file prefixes them with {@link #PEFT_PREFIX}. The vector
 * is what training updates (DL4J's parameters, averaged across workers, checkpointed); the base model stays frozen.
 */
public final class LoraParams {
  /** What PEFT's get_peft_model_state_dict puts before a module's name (PeftModel.base_model.model). */
  public static final String PEFT_PREFIX = "base_model.model.";
  static final String A = ".lora_A.weight";
  static final String B = ".lora_B.weight";

  private final GptConfig config;
  private final LoraConfig lora;
  private final INDArray flat;
  private final Map<String, INDArray> views;

  private LoraParams(GptConfig config, LoraConfig lora, INDArray flat, Map<String, INDArray> views) {
    this.config = config;
    this.lora = lora;
    this.flat = flat;
    this.views = views;
  }

  /**
   * The adapter tensors' names and shapes, in flat order. Throws if a target matches no linear layer (as PEFT's
   * "Target modules ... not found in the base model").
   */
  public static Map<String, long[]> shapes(GptConfig config, LoraConfig lora) {
    Map<String, long[]> linears = GptWeights.linears(config);
    for (String t : lora.targets()) {
      if (linears.keySet().stream().noneMatch(m -> new LoraConfig(1, 1, 0, List.of(t)).targets(m))) {
        throw new IllegalArgumentException("--lora-targets: '" + t + "' matches no linear layer of the model; GPT-2's"
            + " are c_attn, c_proj (attn.c_proj and mlp.c_proj) and c_fc, e.g. transformer.h.0.attn.c_attn");
      }
    }
    Map<String, long[]> out = new LinkedHashMap<>();
    linears.forEach((module, inOut) -> {
      if (!lora.targets(module)) return;
      out.put(module + A, new long[] {lora.rank(), inOut[0]});                               // [r, in]
      out.put(module + B, new long[] {inOut[1], lora.rank()});                               // [out, r]
    });
    return out;
  }

  /** Number of adapter parameters: the length of the flat vector. */
  public static long count(GptConfig config, LoraConfig lora) {
    return shapes(config, lora).values().stream().mapToLong(Tensor::numel).sum();
  }

  /** Views over an existing contiguous [1, n] or [n] vector of {@link #count} elements (writes go through). */
  public static LoraParams over(GptConfig config, LoraConfig lora, INDArray flat) {
    Map<String, long[]> shapes = shapes(config, lora);
    long n = shapes.values().stream().mapToLong(Tensor::numel).sum();
    if (flat.length() != n) {
      throw new IllegalArgumentException("flat adapter vector has " + flat.length() + " elements, rank "
          + lora.rank() + " adapters on " + lora.targets() + " need " + n);
    }
    if (!flat.dataType().isFPType()) throw new IllegalArgumentException("adapters must be floating point");
    if (flat.rank() > 2 || (flat.rank() == 2 && flat.size(0) != 1) || flat.elementWiseStride() != 1) {
      throw new IllegalArgumentException("flat adapters must be a contiguous [1, n] or [n] vector, got shape "
          + Arrays.toString(flat.shape()));
    }
    INDArray row = flat.rank() == 2 ? flat : flat.reshape('c', true, 1, n); // enforceView: a copy would lose writes
    Map<String, INDArray> views = new LinkedHashMap<>();
    long offset = 0;
    for (Map.Entry<String, long[]> e : shapes.entrySet()) {
      long len = Tensor.numel(e.getValue());
      views.put(e.getKey(), row.get(NDArrayIndex.interval(0, 1), NDArrayIndex.interval(offset, offset + len))
          .reshape('c', true, e.getValue()));
      offset += len;
    }
    return new LoraParams(config, lora, row, Collections.unmodifiableMap(views));
  }

  /** A new zero vector (outside any workspace). */
  public static LoraParams zeros(GptConfig config, LoraConfig lora, DataType dataType) {
    return Workspaces.outside(() -> over(config, lora, Nd4j.zeros(dataType, 1, count(config, lora))));
  }

  /**
   * PEFT's init: A ~ Kaiming-uniform with a = sqrt(5) over fan_in = in (torch's nn.Linear default: U(-b, b) with
   * b = gain sqrt(3 / fan_in), gain = sqrt(2 / (1 + a^2)) = sqrt(1/3), so b = 1 / sqrt(in)); B = 0, so the adapted
   * model starts equal to the base. Seeded per tensor name, as GptInit.
   */
  public static LoraParams init(GptConfig config, LoraConfig lora, long seed, DataType dataType) {
    LoraParams p = zeros(config, lora, dataType);
    p.views.forEach((name, v) -> {
      if (!name.endsWith(A)) return;
      double bound = 1.0 / Math.sqrt(v.size(1));
      Random r = new Random(Seeds.mix(seed, name));
      double[] values = new double[(int) v.length()];
      for (int i = 0; i < values.length; i++) values[i] = bound * (2 * r.nextDouble() - 1);
      Workspaces.outside(() -> v.assign(Nd4j.createFromArray(values).castTo(dataType).reshape(v.shape())));
    });
    return p;
  }

  /**
   * Overwrites the adapters with {@code tensors} by name (these names, or PEFT's with {@link #PEFT_PREFIX}); every
   * adapter tensor must be there with its shape, and no other. {@code what} names the source in errors.
   */
  public void copyFrom(Map<String, Tensor> tensors, String what) {
    Map<String, Tensor> byName = new LinkedHashMap<>();
    tensors.forEach((k, t) -> byName.put(k.startsWith(PEFT_PREFIX) ? k.substring(PEFT_PREFIX.length()) : k, t));
    for (String k : byName.keySet()) {
      if (!views.containsKey(k)) {
        throw new IllegalArgumentException(what + ": tensor " + k + " is not an adapter of rank " + lora.rank()
            + " on " + lora.targets() + " (its adapter_config.json and the adapters differ?)");
      }
    }
    for (Map.Entry<String, INDArray> e : views.entrySet()) {
      Tensor t = byName.get(e.getKey());
      if (t == null) throw new IllegalArgumentException(what + ": no tensor " + PEFT_PREFIX + e.getKey());
      if (!Arrays.equals(t.shape(), e.getValue().shape())) {
        throw new IllegalArgumentException(what + ": " + e.getKey() + " has shape " + Tensor.shapeString(t.shape())
            + ", expected " + Tensor.shapeString(e.getValue().shape()));
      }
      Workspaces.outside(() -> e.getValue().assign(Nd4j.create(t.data(), t.shape(), 'c')));
    }
  }

  /** float32 copies by PEFT's tensor names ({@link #PEFT_PREFIX} + name), in flat order: adapter_model.safetensors. */
  public Map<String, Tensor> toPeftTensors() {
    Map<String, Tensor> out = new LinkedHashMap<>();
    views.forEach((name, v) -> out.put(PEFT_PREFIX + name, new Tensor(v.shape(),
        v.castTo(DataType.FLOAT).dup('c').reshape(v.length()).toFloatVector())));
    return out;
  }

  /**
   * The base with the adapters merged into it (a new vector; the base is unchanged): W' = W + s (B A)^T for every
   * adapted layer, in Conv1D's [in, out] layout (PEFT's get_delta_weight with fan_in_fan_out). Its forward equals the
   * base + adapter forward.
   */
  public GptParams mergedInto(GptParams base) {
    if (!base.config().equals(config)) throw new IllegalArgumentException("base model config differs");
    GptParams merged = Workspaces.outside(() -> GptParams.over(config, base.flat().dup('c')));
    for (String module : GptWeights.linears(config).keySet()) {
      if (!adapts(module)) continue;
      INDArray w = merged.get(module + ".weight");                                           // [in, out]
      INDArray a = a(module).castTo(w.dataType());                                           // [r, in]
      INDArray b = b(module).castTo(w.dataType());                                           // [out, r]
      Workspaces.outside(() -> {
        INDArray sAt = a.transpose().mul(lora.scale());                                      // [in, r] = s A^T
        Conv1D.gemm(sAt, b, w, false, true, 1.0);                                            // W += s A^T B^T
        return null;
      });
    }
    return merged;
  }

  /** Whether this module's linear layer has an adapter here. */
  boolean adapts(String module) {
    return views.containsKey(module + A);
  }

  /** lora_A of a module, [r, in]. */
  INDArray a(String module) {
    return get(module + A);
  }

  /** lora_B of a module, [out, r]. */
  INDArray b(String module) {
    return get(module + B);
  }

  public GptConfig config() {
    return config;
  }

  public LoraConfig lora() {
    return lora;
  }

  /** The flat [1, n] vector every view shares. */
  public INDArray flat() {
    return flat;
  }

  public DataType dataType() {
    return flat.dataType();
  }

  public INDArray get(String name) {
    INDArray v = views.get(name);
    if (v == null) throw new IllegalArgumentException("no adapter tensor " + name);
    return v;
  }

  /** Every view by name (without {@link #PEFT_PREFIX}), in flat order. */
  public Map<String, INDArray> views() {
    return views;
  }
}
