package dev.sparkdpo.train;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one worker reports for one of its minibatches (a Spark accumulator carries it to the driver): the global step
 * (the network's iteration), the worker's slot in the round, its pair and token counts, the loss with TRL's metrics,
 * and the L2 norm of its minibatch gradient (of the mean loss, before clipping).
 */
public final class WorkerStep implements Serializable {
  private static final long serialVersionUID = 1L;

  public long step;
  public int worker;
  public int pairs;
  public long tokens;
  public double gradNorm;
  /** Seconds the worker spent in this minibatch's fit (forward, backward, update). */
  public double seconds;
  public LinkedHashMap<String, Double> metrics;

  public WorkerStep() {}

  public WorkerStep(long step, int worker, int pairs, long tokens, double gradNorm, double seconds,
      Map<String, Double> metrics) {
    this.step = step;
    this.worker = worker;
    this.pairs = pairs;
    this.tokens = tokens;
    this.gradNorm = gradNorm;
    this.seconds = seconds;
    this.metrics = new LinkedHashMap<>(metrics);
  }
}
