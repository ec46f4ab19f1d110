package dev.sparkdpo.model;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * From-scratch init (GPT-2 / nanoGPT): every weight N(0, 0.02), residual projections (attn.c_proj.weight,
 * mlp.c_proj.weight) N(0, 0.02/sqrt(2*n_layer)), biases 0, layer-norm weights 1 and biases 0.
 *
 * <p>Deterministic for a seed: each tensor draws from its own {@link Random} seeded from the seed and the tensor's
 * name, so a tensor's values do not depend on the other tensors (e.g. wte is the same for any n_layer).
 */
public final class GptInit {
  public static final double STD = 0.02;

  private GptInit() {}

  public static GptCheckpoint init(GptConfig config, long seed) {
    Map<String, Tensor> weights = new LinkedHashMap<>();
    GptWeights.specs(config).forEach((name, spec) -> weights.put(name, tensor(config, seed, name, spec)));
    return new GptCheckpoint(config, weights);
  }

  /**
   * The same weights as {@link #init}, straight into a flat parameter vector one tensor at a time: the heap holds
   * one tensor (wte) at most, not the whole model (GPT-2 small: 0.5 GB of heap a process keeps resident after).
   */
  public static GptParams initParams(GptConfig config, long seed, DataType dataType) {
    GptParams params = GptParams.zeros(config, dataType);
    GptWeights.specs(config).forEach((name, spec) -> {
      if (spec.init() == GptWeights.Init.ZEROS) return;
      Tensor t = tensor(config, seed, name, spec);
      params.get(name).assign(Nd4j.createFromArray(t.data()).reshape(t.shape()).castTo(dataType));
    });
    return params;
  }

  private static Tensor tensor(GptConfig config, long seed, String name, GptWeights.Spec spec) {
    Tensor t = Tensor.zeros(spec.shape());
    switch (spec.init()) {
      case ONES -> java.util.Arrays.fill(t.data(), 1f);
      case NORMAL -> fillNormal(t.data(), STD, new Random(Seeds.mix(seed, name)));
      case RESIDUAL -> fillNormal(t.data(), STD / Math.sqrt(2.0 * config.nLayer()),
          new Random(Seeds.mix(seed, name)));
      case ZEROS -> { }
    }
    return t;
  }

  private static void fillNormal(float[] a, double std, Random r) {
    for (int i = 0; i < a.length; i++) a[i] = (float) (std * r.nextGaussian());
  }
}
