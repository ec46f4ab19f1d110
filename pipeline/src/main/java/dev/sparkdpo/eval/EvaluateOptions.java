package dev.sparkdpo.eval;

/**
 * What {@code bin/spark-dpo evaluate} asks for. {@code reward} is a {@link RewardModel#parse} spec; {@code label}
 * and {@code trainMetrics} may be null (label: the train output's name, else the policy model directory's).
 */
public record EvaluateOptions(String data, String model, String referenceModel, String output, String reward,
    int prompts, int samplesPerPrompt, int maxNewTokens, double temperature, double topP, long seed, double beta,
    String label, String trainMetrics, boolean force, long progressSeconds) {

  public EvaluateOptions {
    require(data, "--data");
    require(model, "--model");
    require(referenceModel, "--reference-model");
    require(output, "--output");
    require(reward, "--reward");
    if (prompts < 1) throw new IllegalArgumentException("--prompts must be >= 1, got " + prompts);
    if (samplesPerPrompt < 1) {
      throw new IllegalArgumentException("--samples-per-prompt must be >= 1, got " + samplesPerPrompt);
    }
    if (maxNewTokens < 1) throw new IllegalArgumentException("--max-new-tokens must be >= 1, got " + maxNewTokens);
    if (!(temperature >= 0) || Double.isInfinite(temperature)) {
      throw new IllegalArgumentException("--temperature must be >= 0 (0 = greedy) and finite, got " + temperature);
    }
    if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
    if (!(beta > 0) || Double.isInfinite(beta)) {
      throw new IllegalArgumentException("--beta must be > 0 and finite (the DPO beta the policy was trained with),"
          + " got " + beta);
    }
    if (progressSeconds < 1) throw new IllegalArgumentException("--progress-seconds must be >= 1, got " + progressSeconds);
  }

  private static void require(String value, String option) {
    if (value == null || value.isBlank()) throw new IllegalArgumentException(option + " is required");
  }
}
