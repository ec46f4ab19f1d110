package dev.sparkdpo.model;

import java.util.Arrays;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The output projection logits = h W^T (W [V, D]; GPT-2 ties it to wte) and the next-token log-probs of chosen rows of
 * h, computed chunk by chunk so that only [chunk, V] logits exist at a time (never [B, T, V]). Architecture-neutral.
 */
final class LmHead {
  private final INDArray weight;     // [V, D]
  private final INDArray weightGrad; // [V, D] or null (frozen)
  private final int chunkRows;

  LmHead(INDArray weight, INDArray weightGrad, long chunkBytes) {
    this.weight = weight;
    this.weightGrad = weightGrad;
    long rowBytes = (long) weight.dataType().width() * weight.size(0);
    this.chunkRows = (int) Math.max(1, Math.min(Integer.MAX_VALUE, chunkBytes / rowBytes));
  }

  /** Logits [rows, V] of hidden states h [rows, D]. */
  INDArray logits(INDArray h) {
    return Nd4j.gemm(h, weight, false, true);
  }

  /** log softmax(h[row] W^T)[target] for each (row, target): log-prob = target logit - logsumexp over V. */
  double[] logProbs(INDArray h, int[] rows, int[] targets) {
    double[] out = new double[rows.length];
    for (int start = 0; start < rows.length; start += chunkRows) {
      int end = Math.min(rows.length, start + chunkRows);
      int[] chunk = Arrays.copyOfRange(rows, start, end), chunkTargets = Arrays.copyOfRange(targets, start, end);
      INDArray logp = Workspaces.scoped("gpt-logits", () -> {
        INDArray hc = Nd4j.pullRows(h, 1, chunk);                                       // [c, D]
        INDArray target = hc.mul(Nd4j.pullRows(weight, 1, chunkTargets)).sum(1);      // h . W[y] = logit of y
        return target.subi(logSumExp(logits(hc)));
      });
      System.arraycopy(logp.toDoubleVector(), 0, out, start, end - start);
    }
    return out;
  }

  /**
   * Backward of sum_j scale[j] logProbs(h, rows, targets)[j]: dlogits = scale (onehot(y) - softmax(logits)), chunk by
   * chunk with the logits recomputed. Overwrites dW (which a tied embedding's backward then adds to) and returns
   * d/dh [h rows, D], zero in rows no prediction reads (rows must be distinct). A frozen head (no gradient view, as
   * under LoRA adapters) only returns d/dh.
   */
  INDArray backward(INDArray h, int[] rows, int[] targets, double[] scale) {
    if (weightGrad != null) weightGrad.assign(0);
    INDArray dh = Nd4j.zeros(h.dataType(), h.size(0), h.size(1));
    for (int start = 0; start < rows.length; start += chunkRows) {
      int end = Math.min(rows.length, start + chunkRows);
      int[] chunk = Arrays.copyOfRange(rows, start, end);
      double[] s = Arrays.copyOfRange(scale, start, end);
      try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(Workspaces.CONFIG, "gpt-logits")) {
        INDArray hc = Nd4j.pullRows(h, 1, chunk);                                            // [c, D]
        INDArray dLogits = Transforms.softmax(logits(hc), false);                            // [c, V]
        dLogits.muliColumnVector(Nd4j.createFromArray(s).castTo(h.dataType()).reshape(end - start, 1).negi());
        for (int r = 0; r < end - start; r++) {
          int y = targets[start + r];
          dLogits.putScalar(r, y, dLogits.getDouble(r, y) + s[r]);
        }
        if (weightGrad != null) Conv1D.gemm(dLogits, hc, weightGrad, true, false, 1.0);       // dW += dl^T h
        scatterAddRows(dh, chunk, Nd4j.gemm(dLogits, weight, false, false));                  // rows are distinct
      }
    }
    return dh;
  }

  /** log sum_j exp(x[i, j]) per row, [rows], stable; x is overwritten. */
  static INDArray logSumExp(INDArray x) {
    INDArray max = x.max(true, 1);
    INDArray sumExp = Transforms.exp(x.subiColumnVector(max), false).sum(true, 1);
    return Transforms.log(sumExp, false).addi(max).reshape(-1);
  }

  /**
   * Adds the rows of {@code updates} into {@code target} at {@code indices} (repeated indices accumulate): libnd4j's
   * scatter_add with its lock flag, which runs the updates one after another (without it, repeated indices race).
   */
  static void scatterAddRows(INDArray target, int[] indices, INDArray updates) {
    Nd4j.exec(org.nd4j.linalg.api.ops.DynamicCustomOp.builder("scatter_add")
        .addInputs(target, Nd4j.createFromArray(indices), updates).addOutputs(target)
        .addBooleanArguments(true).build());
  }
}
