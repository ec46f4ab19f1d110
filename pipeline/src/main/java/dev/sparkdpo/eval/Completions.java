package dev.sparkdpo.eval;

import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import dev.sparkdpo.model.NativeThreads;
import dev.sparkdpo.model.SamplingConfig;
import java.io.Serializable;
import java.util.Arrays;
import java.util.OptionalInt;
import org.apache.spark.TaskContext;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What the stages that sample on executors share (evaluate's paired samples, generate-pairs' on-policy pairs): the
 * sampling settings without the seed, the task's native threads, the decoding tokenizer, and a completion's text.
 */
public final class Completions {
  private Completions() {}

  /** SamplingConfig without the seed (which is per prompt or per row); OptionalInt is not Serializable. */
  public record Sampling(double temperature, double topP, int maxNewTokens, int eosId) implements Serializable {
    public SamplingConfig withSeed(long seed) {
      return new SamplingConfig(temperature, 0, topP, maxNewTokens,
          eosId < 0 ? OptionalInt.empty() : OptionalInt.of(eosId), seed);
    }

    /** Whether a completion ended by its own EOS (else it ran into the token budget or the context). */
    public boolean ended(int[] tokens) {
      return eosId >= 0 && tokens.length > 0 && tokens[tokens.length - 1] == eosId;
    }
  }

  /**
   * Sets up the current Spark task for sampling (no-op outside a task): native threads = the task's cores, not the
   * machine's, and the task's ND4J workspaces freed when it ends.
   */
  public static void onTask() {
    TaskContext task = TaskContext.get();
    if (task != null) {
      NativeThreads.set(Math.max(1, task.cpus()), 1);
      task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) c ->
          Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread());
    }
  }

  /** The tokenizer that encodes prompts and decodes completions: no truncation, no EOS appended. */
  public static PairTokenizer tokenizer(String tokenizerJson) {
    return PairTokenizer.open(new TokenizerSpec(tokenizerJson, 0, 0, Truncation.KEEP_END, false));
  }

  /** A completion's text: its tokens decoded without the trailing EOS (EOS ends y; it is not text). */
  public static String text(int[] tokens, Sampling sampling, PairTokenizer tokenizer) {
    int textTokens = sampling.ended(tokens) ? tokens.length - 1 : tokens.length;
    return tokenizer.decode(Arrays.copyOf(tokens, textTokens));
  }
}
