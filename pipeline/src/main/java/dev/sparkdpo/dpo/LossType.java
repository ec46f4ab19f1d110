package dev.sparkdpo.dpo;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The preference losses of TRL's {@code DPOTrainer.dpo_loss} that spark-dpo implements, plus TRL's {@code "sft"} term
 * (the NLL of the chosen response, for MPO-style mixes such as {@code ["sigmoid", "sft"]}). Formulas: {@link DpoLoss}.
 */
public enum LossType {
  SIGMOID, IPO, HINGE, ROBUST, EXO_PAIR, NCA_PAIR, BCO_PAIR, SPPO_HARD, APO_ZERO, APO_DOWN, SFT;

  /** The name as TRL spells it in {@code loss_type}: {@code "sigmoid"}, {@code "exo_pair"}, ... */
  public String trlName() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** Parses a TRL {@code loss_type} name (case and surrounding spaces ignored). */
  public static LossType parse(String trlName) {
    if (trlName == null) throw new IllegalArgumentException("loss type is missing; valid: " + validNames());
    String key = trlName.strip().toLowerCase(Locale.ROOT);
    for (LossType t : values()) {
      if (t.trlName().equals(key)) return t;
    }
    String hint = switch (key) {
      case "aot", "aot_pair", "aot_unpaired", "discopop" -> " (a TRL loss spark-dpo does not implement)";
      default -> "";
    };
    throw new IllegalArgumentException("unknown DPO loss type '" + trlName + "'" + hint + "; valid: " + validNames());
  }

  static String validNames() {
    return Arrays.stream(values()).map(LossType::trlName).collect(Collectors.joining(", "));
  }
}
