package dev.sparkdpo.train;

import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.DpoLoss;
import dev.sparkdpo.dpo.DpoResult;
import dev.sparkdpo.dpo.PairLogps;
import dev.sparkdpo.model.LanguageModel;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.NativeThreads;
import dev.sparkdpo.executor.ExecutorModels;
import dev.sparkdpo.reference.ReferenceScorer;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The eval split scored with the current policy across the executors: the weights travel as one broadcast float
 * array (not an INDArray: Spark's MemoryStore closes AutoCloseable broadcast values), each executor JVM builds the
 * model from it once, pairs are length-packed like the reference stage's, and the driver computes the loss and TRL's
 * metrics over all eval pairs at once, named as TRL logs them ({@code eval_loss}, {@code eval_rewards/accuracies},
 * ...). Also {@code eval_perplexity}: exp of the chosen responses' mean token negative log-likelihood.
 */
final class PolicyEval {
  private PolicyEval() {}

  private static final long BATCH_TOKENS = 16384;

  /**
   * With LoRA, the policy is the frozen base model (each executor's one copy from the executor model cache) with the
   * broadcast adapters: the broadcast is the adapters only.
   */
  record Adapters(dev.sparkdpo.model.LoraConfig lora, String baseModel, String baseFingerprint)
      implements java.io.Serializable {}

  static Map<String, Double> evaluate(JavaSparkContext jsc, JavaRDD<TrainPair> pairs, float[] params, GptConfig config,
      DpoConfig loss, boolean sft) {
    return evaluate(jsc, pairs, params, config, null, loss, sft);
  }

  /** As above; {@code params} are the adapters' if {@code adapters} is not null. */
  static Map<String, Double> evaluate(JavaSparkContext jsc, JavaRDD<TrainPair> pairs, float[] params, GptConfig config,
      Adapters adapters, DpoConfig loss, boolean sft) {
    Broadcast<float[]> weights = jsc.broadcast(params);
    try {
      List<double[]> rows = pairs.mapPartitions((Iterator<TrainPair> it) -> score(it, weights, config, adapters))
          .collect();
      int n = rows.size();
      if (n == 0) return Map.of();
      double[] pc = new double[n], pr = new double[n], rc = new double[n], rr = new double[n];
      int[] ct = new int[n], rt = new int[n];
      double nll = 0;
      long tokens = 0;
      for (int i = 0; i < n; i++) {
        double[] r = rows.get(i);
        pc[i] = r[0];
        pr[i] = r[1];
        rc[i] = r[2];
        rr[i] = r[3];
        ct[i] = (int) r[4];
        rt[i] = (int) r[5];
        nll -= pc[i];
        tokens += ct[i];
      }
      DpoResult result = DpoLoss.compute(loss, new PairLogps(pc, pr, rc, rr, ct, rt));
      Map<String, Double> out = new LinkedHashMap<>();
      if (sft) {
        out.put("eval_loss", result.loss());
      } else {
        result.metrics().forEach((k, v) -> out.put("eval_" + k, v));
      }
      out.put("eval_perplexity", Math.exp(nll / tokens));
      out.put("eval_pairs", (double) n);
      return out;
    } finally {
      weights.destroy();
    }
  }

  /** Per pair: policy chosen, policy rejected, reference chosen, reference rejected, chosen tokens, rejected tokens. */
  private static Iterator<double[]> score(Iterator<TrainPair> it, Broadcast<float[]> weights, GptConfig config,
      Adapters adapters) {
    TaskContext task = TaskContext.get();
    if (task != null) NativeThreads.set(Math.max(1, task.cpus()), 1);
    List<TrainPair> pairs = new ArrayList<>();
    it.forEachRemaining(pairs::add);
    if (pairs.isEmpty()) return List.<double[]>of().iterator();
    int n = pairs.size();
    String[] ids = new String[n];
    int[][] prompt = new int[n][], chosen = new int[n][], rejected = new int[n][];
    for (int i = 0; i < n; i++) {
      TrainPair p = pairs.get(i);
      ids[i] = p.id;
      prompt[i] = p.prompt;
      chosen[i] = p.chosen;
      rejected[i] = p.rejected;
    }
    double[][] out = new double[n][];
    ReferenceScorer.pairLogps(model(weights, config, adapters), ids, prompt, chosen, rejected, BATCH_TOKENS,
        ReferenceScorer.DEFAULT_ATTENTION_BYTES, (batch, logps) -> {
          int m = batch.pairs().length;
          for (int j = 0; j < m; j++) {
            TrainPair p = pairs.get(batch.pairs()[j]);
            out[batch.pairs()[j]] = new double[] {logps[j], logps[m + j], p.refChosen, p.refRejected,
                p.chosen.length, p.rejected.length};
          }
        });
    Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
    return List.of(out).iterator();
  }

  /** The model over the broadcast weights, built once per executor JVM and broadcast (one slot: the latest eval's). */
  private static LanguageModel model(Broadcast<float[]> weights, GptConfig config, Adapters adapters) {
    // broadcast ids restart with each SparkContext: the application id tells two runs in one JVM apart
    String key = "policy-eval:" + org.apache.spark.SparkEnv.get().conf().getAppId() + ":" + weights.id();
    return ExecutorModels.latest("train.policy-eval", key, () -> {
      float[] w = weights.value();
      try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
        if (adapters == null) return config.model(Nd4j.createFromArray(w).reshape(1, w.length));
        LanguageModel base = ExecutorModels.get(adapters.baseModel(), adapters.baseFingerprint(),
            dev.sparkdpo.io.HadoopFiles.defaultConf(), null);
        return ((dev.sparkdpo.model.Gpt) base).withAdapters(dev.sparkdpo.model.LoraParams.over(config,
            adapters.lora(), Nd4j.createFromArray(w).reshape(1, w.length)));
      }
    });
  }
}
