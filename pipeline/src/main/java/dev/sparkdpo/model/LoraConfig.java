package dev.sparkdpo.model;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * LoRA adapters as PEFT's {@code LoraConfig} describes them: rank r, lora_alpha (the update is scaled by alpha / r),
 * lora_dropout, and the target modules by PEFT's names. A target matches a linear layer whose module name equals it
 * or ends with "." + it (PEFT's suffix matching of a list of targets): {@code c_proj} is both {@code attn.c_proj} and
 * {@code mlp.c_proj}, {@code h.0.attn.c_attn} only block 0's c_attn.
 *
 * @param rank r, the adapters' inner dimension (--lora-rank)
 * @param alpha lora_alpha (--lora-alpha); PEFT's default is 8
 * @param dropout lora_dropout (--lora-dropout), in [0, 1): in training only, the adapter path sees inverted dropout of
 *     its input, s dropout(x) A^T B^T (PEFT's; 0, PEFT's default, is none); see {@link LoraLinear}
 * @param targets target_modules (--lora-targets); PEFT's default for gpt2 is [c_attn]
 */
public record LoraConfig(int rank, double alpha, double dropout, List<String> targets) implements Serializable {
  /** PEFT's default target_modules for gpt2 (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
  public static final List<String> DEFAULT_TARGETS = List.of("c_attn");
  /** PEFT's default lora_alpha. */
  public static final double DEFAULT_ALPHA = 8;

  public LoraConfig {
    if (rank < 1) throw new IllegalArgumentException("--lora-rank must be >= 1, got " + rank);
    if (!(alpha > 0) || Double.isInfinite(alpha)) {
      throw new IllegalArgumentException("--lora-alpha must be a finite number > 0, got " + alpha);
    }
    // a probability of dropping; 1 would drop every input (and divide by 1 - p = 0)
    if (!(dropout >= 0 && dropout < 1)) {
      throw new IllegalArgumentException("--lora-dropout must be in [0, 1), got " + dropout);
    }
    if (targets == null || targets.isEmpty()) {
      throw new IllegalArgumentException("--lora-targets must name at least one module, e.g. c_attn");
    }
    List<String> clean = new ArrayList<>();
    for (String t : targets) {
      String s = t == null ? "" : t.trim();
      if (s.isEmpty() || s.startsWith(".") || s.endsWith(".")) {
        throw new IllegalArgumentException("--lora-targets: '" + t + "' is not a module name (e.g. c_attn, c_proj,"
            + " c_fc, h.0.attn.c_attn)");
      }
      if (!clean.contains(s)) clean.add(s);
    }
    targets = List.copyOf(clean);
  }

  /** PEFT's defaults for gpt2 at this rank: alpha 8, dropout 0, c_attn. */
  public static LoraConfig of(int rank) {
    return new LoraConfig(rank, DEFAULT_ALPHA, 0, DEFAULT_TARGETS);
  }

  /** s = alpha / r, the factor of the adapter's update. */
  public double scale() {
    return alpha / rank;
  }

  /** Whether the linear layer of this module name (e.g. {@code transformer.h.0.attn.c_attn}) gets an adapter. */
  public boolean targets(String moduleName) {
    for (String t : targets) {
      if (moduleName.equals(t) || moduleName.endsWith("." + t)) return true;
    }
    return false;
  }
}
