package dev.sparkdpo.dpo;

/** Overflow-free sigmoid helpers: finite for any finite argument, including +-1000 and beyond. */
final class Sigmoids {
  private Sigmoids() {}

  /** log(1 + e^x) = max(x, 0) + log1p(e^-|x|). */
  static double softplus(double x) {
    return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
  }

  /** log sigma(x) = -softplus(-x). */
  static double logSigmoid(double x) {
    return -softplus(-x);
  }

  static double sigmoid(double x) {
    if (x >= 0) return 1 / (1 + Math.exp(-x));
    double e = Math.exp(x);
    return e / (1 + e);
  }

  /** sigma'(x) = sigma(x) sigma(-x). */
  static double sigmoidSlope(double x) {
    return sigmoid(x) * sigmoid(-x);
  }
}
