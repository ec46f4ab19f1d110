package dev.sparkdpo.model;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** GPT-2's token + learned position embeddings, wte [V, D] and wpe [P, D], with their gradient views (null: frozen). */
final class GptEmbedding {
  private final INDArray wte, wpe;
  private final INDArray wteGrad, wpeGrad;

  GptEmbedding(INDArray wte, INDArray wpe, INDArray wteGrad, INDArray wpeGrad) {
    this.wte = wte;
    this.wpe = wpe;
    this.wteGrad = wteGrad;
    this.wpeGrad = wpeGrad;
  }

  /** wte[id] + wpe[position] per row: [rows, D]. */
  INDArray forward(int[] ids, int[] positions) {
    return Nd4j.pullRows(wte, 1, ids).addi(Nd4j.pullRows(wpe, 1, positions));
  }

  /**
   * Index-add of dx [B*T, D] at the token ids into dWte, which the tied lm_head's backward has already written (so
   * it runs after it); positions are j for row i * T + j, so dWpe[j] = sum_i dx[i, j] (overwritten).
   */
  void backward(INDArray dx, TokenBatch batch) {
    if (wteGrad == null) return;
    LmHead.scatterAddRows(wteGrad, batch.ids(), dx);
    wpeGrad.assign(0);
    wpeGrad.get(NDArrayIndex.interval(0, batch.t()), NDArrayIndex.all())
        .assign(dx.reshape('c', batch.b(), batch.t(), dx.size(1)).sum(0));
  }
}
