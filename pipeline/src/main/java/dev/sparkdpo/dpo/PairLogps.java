package dev.sparkdpo.dpo;

/**
 * Per-pair inputs of {@link DpoLoss}: summed response log-probs of the policy and the reference model, and the response
 * token counts (used by {@link LossType#SFT}, and by {@link LossType#IPO} when {@link DpoConfig#ipoLengthNormalized()}).
 * The reference arrays are ignored (read as 0) when {@link DpoConfig#referenceFree()}.
 */
public record PairLogps(double[] policyChosen, double[] policyRejected, double[] refChosen, double[] refRejected,
    int[] chosenTokens, int[] rejectedTokens) {

  public PairLogps {
    int n = length("policyChosen", policyChosen);
    same(n, "policyRejected", length("policyRejected", policyRejected));
    same(n, "refChosen", length("refChosen", refChosen));
    same(n, "refRejected", length("refRejected", refRejected));
    if (chosenTokens == null || rejectedTokens == null) {
      throw new IllegalArgumentException("chosenTokens and rejectedTokens are required (response token counts)");
    }
    same(n, "chosenTokens", chosenTokens.length);
    same(n, "rejectedTokens", rejectedTokens.length);
  }

  public int size() {
    return policyChosen.length;
  }

  private static int length(String name, double[] a) {
    if (a == null) throw new IllegalArgumentException(name + " is null");
    return a.length;
  }

  private static void same(int n, String name, int len) {
    if (len != n) {
      throw new IllegalArgumentException(name + " has " + len + " entries but policyChosen has " + n
          + ": every array holds one value per pair");
    }
  }
}
