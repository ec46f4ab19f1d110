package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * One training step of any {@link Trainable} model: forward, then the loss callback maps the rows' sequence log-probs
 * to d(loss)/d(log-prob) per row, then the backward overwrites a flat gradient vector. All activations and temporaries
 * live in one per-thread workspace reused from step to step, which is what makes it fast: fresh off-heap buffers cost
 * more than the arithmetic at these sizes. With the model's rows split over threads, each part forwards its rows, the
 * loss sees all rows' log-probs, each part's backward writes its own gradient vector and the vectors are summed.
 * Runs one step at a time (the parts' gradient vectors are reused).
 */
final class TrainingStep {

  private final Trainable model;
  private final List<INDArray> partGradients = new ArrayList<>();

  TrainingStep(Trainable model) {
    this.model = model;
  }

  /**
   * The step; returns the rows' sequence log-probs. {@code out}: [1, n] or [n], the model's parameter count.
   * {@code seed}: of the step's random masks; row part i > 0 gets its own seed derived from it and i (part 0, or the
   * whole batch on one thread, has {@code seed} itself), so a step is reproducible for a given seed and thread count.
   */
  double[] run(int[][] tokens, int[] promptLengths, Function<double[], double[]> lossGradient, INDArray out,
      long seed) {
    checkGradientVector(out);
    Predictions.checkPromptLengths(tokens, promptLengths); // here, so that errors name the row of the whole batch
    int[][] parts = RowThreads.split(tokens.length, model.rowThreadsCount());
    if (parts.length == 1) {
      return Workspaces.inWorkspace(Workspaces.PASS, () -> {
        Trainable.Pass f = model.forwardKeeping(tokens, promptLengths, seed);
        double[] logps = f.logps().clone();
        model.backward(f, checkedGradient(lossGradient.apply(logps.clone()), tokens.length), out);
        return logps;
      });
    }
    List<CompletableFuture<double[]>> logps = new ArrayList<>();
    for (int i = 0; i < parts.length; i++) logps.add(new CompletableFuture<>());
    CompletableFuture<double[]> dSeq = new CompletableFuture<>();
    INDArray[] grads = new INDArray[parts.length];
    grads[0] = out;
    for (int i = 1; i < parts.length; i++) grads[i] = partGradients(i);
    RowThreads.run(parts.length, i -> {
      try {
        return Workspaces.inWorkspace(Workspaces.PASS, () -> {
          Trainable.Pass f = model.forwardKeeping(RowThreads.rows(tokens, parts[i]),
              RowThreads.rows(promptLengths, parts[i]), i == 0 ? seed : Seeds.mix(seed, i));
          logps.get(i).complete(f.logps().clone());
          if (i == 0) dSeq.complete(checkedGradient(lossGradient.apply(joined(logps, parts, tokens.length)),
              tokens.length));
          model.backward(f, Arrays.copyOfRange(dSeq.join(), parts[i][0], parts[i][1]), grads[i]);
          return null;
        });
      } catch (RuntimeException | Error e) { // never leave the other parts waiting
        logps.get(i).completeExceptionally(e);
        dSeq.completeExceptionally(e);
        throw e;
      }
    });
    INDArray row = out.rank() == 2 ? out : out.reshape('c', true, 1, out.length()); // a view: the sum lands in out
    for (int i = 1; i < parts.length; i++) row.addi(grads[i]);
    return joined(logps, parts, tokens.length);
  }

  /** The parts' log-probs in batch-row order (waits for every part). */
  private static double[] joined(List<CompletableFuture<double[]>> logps, int[][] parts, int rows) {
    double[] all = new double[rows];
    for (int j = 0; j < parts.length; j++) {
      System.arraycopy(logps.get(j).join(), 0, all, parts[j][0], parts[j][1] - parts[j][0]);
    }
    return all;
  }

  private static double[] checkedGradient(double[] dSeq, int rows) {
    if (dSeq.length != rows) throw new IllegalArgumentException("one gradient per batch row");
    return dSeq;
  }

  private void checkGradientVector(INDArray out) {
    long n = model.trainableParameterCount();
    if (out.length() != n) {
      throw new IllegalArgumentException("gradient vector has " + out.length() + " elements, the model " + n);
    }
    if (out.dataType() != model.dataType()) {
      throw new IllegalArgumentException("gradient vector is " + out.dataType() + ", the model " + model.dataType());
    }
  }

  /** The gradient vector of row part i > 0, allocated once (outside any workspace). */
  private synchronized INDArray partGradients(int i) {
    while (partGradients.size() < i) {
      partGradients.add(Workspaces.outside(() -> Nd4j.zeros(model.dataType(), 1, model.trainableParameterCount())));
    }
    return partGradients.get(i - 1);
  }
}
