package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Explicit (llm.c style) backward pass of {@link Gpt} for sequence-level losses such as DPO: a forward that keeps the
 * activations each layer's backward needs, then gradients of the loss with respect to every parameter given
 * d(loss)/d(sequence log-prob) of each row.
 *
 * <p>Sequence log-prob of row b = sum over response positions t of log softmax(h_t wte^T)[y_{t+1}], so
 * d/dlogits_t = dseq_b (onehot(y_{t+1}) - softmax(logits_t)) at those positions and 0 elsewhere. The [rows, V] logits
 * are recomputed in chunks in the backward (never [B, T, V] at once). No ND4J workspaces: cached activations must
 * outlive each layer, and everything is allocated outside any workspace the caller may have open.
 */
public final class GptTraining {

  /** Layer-norm output with what its backward needs: normalised input xhat = (x - mean) * rstd and rstd [N, 1]. */
  record Norm(INDArray out, INDArray xhat, INDArray rstd) {}

  /** Activations of one block kept for its backward. */
  record BlockCache(Norm ln1, INDArray q, INDArray k, INDArray v, INDArray att, INDArray y, Norm ln2,
      INDArray fcPre, INDArray fcAct) {}

  /** One forward pass: the sequence log-probs and the cache its backward reads. */
  public static final class Forward {
    private final Gpt.Batch batch;
    private final int[] rows, targets, rowOfSeq; // response (row of h, next token, batch row) triples
    private final List<BlockCache> blocks;
    private final Norm lnF;
    private final double[] logps;

    private Forward(Gpt.Batch batch, int[] rows, int[] targets, int[] rowOfSeq, List<BlockCache> blocks, Norm lnF,
        double[] logps) {
      this.batch = batch;
      this.rows = rows;
      this.targets = targets;
      this.rowOfSeq = rowOfSeq;
      this.blocks = blocks;
      this.lnF = lnF;
      this.logps = logps;
    }

    /** Summed response log-prob of each batch row (as {@link Gpt#responseLogProbs}). */
    public double[] logps() {
      return logps.clone();
    }
  }

  private final Gpt gpt;
  private final GptConfig config;

  public GptTraining(Gpt gpt) {
    this.gpt = gpt;
    this.config = gpt.config();
  }

  /** Forward with cached activations for the right-padded batch; promptLengths as in {@link Gpt#responseLogProbs}. */
  public Forward forward(int[][] tokens, int[] promptLengths) {
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return forwardImpl(tokens, promptLengths);
    }
  }

  /**
   * Gradients of the loss for the cached forward, given d(loss)/d(logps()[b]) per row: HF names and shapes, in
   * {@link GptCheckpoint#parameterNames} order; wte holds both the embedding and the tied lm_head contribution.
   */
  public Map<String, Tensor> backward(Forward f, double[] dLossDSeqLogp) {
    if (dLossDSeqLogp.length != f.batch.b()) throw new IllegalArgumentException("one gradient per batch row");
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return toTensors(backwardImpl(f, dLossDSeqLogp));
    }
  }

  /**
   * As {@link #backward(Forward, double[])}, writing the gradients into {@code out} (e.g. a view of DL4J's flat
   * gradient vector): every element of {@code out} is overwritten.
   */
  public void backward(Forward f, double[] dLossDSeqLogp, GptParams out) {
    if (dLossDSeqLogp.length != f.batch.b()) throw new IllegalArgumentException("one gradient per batch row");
    if (!out.config().equals(config)) throw new IllegalArgumentException("gradient vector of another model config");
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      Map<String, INDArray> g = backwardImpl(f, dLossDSeqLogp);
      out.views().forEach((name, view) -> view.assign(g.get(name)));
    }
  }

  /** Forward then backward in one call. */
  public Map<String, Tensor> backward(int[][] tokens, int[] promptLengths, double[] dLossDSeqLogp) {
    return backward(forward(tokens, promptLengths), dLossDSeqLogp);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // forward

  private Forward forwardImpl(int[][] tokens, int[] promptLengths) {
    if (promptLengths.length != tokens.length) throw new IllegalArgumentException("one prompt length per row");
    Gpt.Batch batch = Gpt.Batch.of(tokens, config);
    // response positions: promptLen - 1 .. len - 2 predict tokens promptLen .. len - 1
    int n = 0;
    for (int i = 0; i < tokens.length; i++) {
      if (promptLengths[i] < 1 || promptLengths[i] > tokens[i].length) {
        throw new IllegalArgumentException("row " + i + ": prompt length " + promptLengths[i] + " not in [1, "
            + tokens[i].length + "]");
      }
      n += tokens[i].length - promptLengths[i];
    }
    int[] rows = new int[n], targets = new int[n], rowOfSeq = new int[n];
    int k = 0;
    for (int i = 0; i < tokens.length; i++) {
      for (int t = promptLengths[i] - 1; t < tokens[i].length - 1; t++, k++) {
        rows[k] = i * batch.t() + t;
        targets[k] = tokens[i][t + 1];
        rowOfSeq[k] = i;
      }
    }

    INDArray x = gpt.embed(batch);
    List<BlockCache> caches = new ArrayList<>();
    for (Gpt.Block w : gpt.blocks()) {
      BlockCache c = block(w, x, batch);
      caches.add(c);
    }
    // block() adds into x in place: x is now the last block's output
    Norm lnF = layerNorm(x, gpt.lnFW(), gpt.lnFB());

    double[] tokenLogps = gpt.logProbsOf(lnF.out(), rows, targets);
    double[] logps = new double[tokens.length];
    for (int j = 0; j < n; j++) logps[rowOfSeq[j]] += tokenLogps[j];
    return new Forward(batch, rows, targets, rowOfSeq, List.copyOf(caches), lnF, logps);
  }

  /** As Gpt.block + Gpt.attention + Gpt.mlp, keeping activations; the residual stream x is updated in place. */
  private BlockCache block(Gpt.Block w, INDArray x, Gpt.Batch batch) {
    int b = batch.b(), t = batch.t(), h = config.nHead(), hs = config.headSize();
    long rows = (long) b * t;

    Norm ln1 = layerNorm(x, w.ln1W(), w.ln1B());
    INDArray qkv = Gpt.linear(ln1.out(), w.attnW(), w.attnB());                               // [B*T, 3D]
    INDArray heads = qkv.reshape('c', b, t, 3, h, hs).permute(2, 0, 3, 1, 4).dup('c');   // [3, B, H, T, hs]
    INDArray q = heads.slice(0), k = heads.slice(1), v = heads.slice(2);                      // [B, H, T, hs]
    q.muli(1.0 / Math.sqrt(hs));
    INDArray mask = gpt.causalMask().get(NDArrayIndex.interval(0, t), NDArrayIndex.interval(0, t));
    INDArray att = Nd4j.matmul(q, k, false, true, false).addi(mask);                         // [B, H, T, T]
    Transforms.softmax(att, false);
    INDArray y = Nd4j.matmul(att, v).permute(0, 2, 1, 3).dup('c').reshape('c', rows, config.nEmbd());
    x.addi(Gpt.linear(y, w.attnProjW(), w.attnProjB()));

    Norm ln2 = layerNorm(x, w.ln2W(), w.ln2B());
    INDArray fcPre = Gpt.linear(ln2.out(), w.fcW(), w.fcB());                                 // [B*T, 4D]
    INDArray fcAct = Gpt.geluNew(fcPre);
    x.addi(Gpt.linear(fcAct, w.mlpProjW(), w.mlpProjB()));
    return new BlockCache(ln1, q, k, v, att, y, ln2, fcPre, fcAct);
  }

  private Norm layerNorm(INDArray x, INDArray w, INDArray b) {
    INDArray xc = x.subColumnVector(x.mean(true, 1));
    INDArray variance = xc.mul(xc).mean(true, 1); // biased, as torch
    INDArray rstd = Transforms.pow(variance.addi(config.layerNormEpsilon()), -0.5, false);
    INDArray xhat = xc.muliColumnVector(rstd);
    return new Norm(xhat.mulRowVector(w).addiRowVector(b), xhat, rstd);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // backward

  private Map<String, INDArray> backwardImpl(Forward f, double[] dSeq) {
    Map<String, INDArray> g = new LinkedHashMap<>();
    Gpt.Batch batch = f.batch;
    int d = config.nEmbd(), vocab = config.vocabSize();
    INDArray wte = gpt.wte();
    DataType type = gpt.dataType();
    INDArray dWte = Nd4j.zeros(type, vocab, d);
    INDArray dx = Nd4j.zeros(type, (long) batch.b() * batch.t(), d); // d loss / d h (after ln_f)

    // lm_head + log-softmax, chunk by chunk: dlogits = dseq (onehot(y) - softmax(logits))
    INDArray h = f.lnF.out();
    int n = f.rows.length;
    int chunk = (int) Math.max(1, Math.min(Integer.MAX_VALUE, gpt.logitsChunkBytes() / (4L * vocab)));
    for (int start = 0; start < n; start += chunk) {
      int end = Math.min(n, start + chunk);
      int[] chunkRows = Arrays.copyOfRange(f.rows, start, end);
      double[] scale = new double[end - start];
      for (int i = start; i < end; i++) scale[i - start] = dSeq[f.rowOfSeq[i]];
      int first = start;
      try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(Gpt.WORKSPACE, "gpt-logits")) {
        INDArray hc = Nd4j.pullRows(h, 1, chunkRows);                                           // [c, D]
        INDArray dLogits = Transforms.softmax(gpt.lmHead(hc), false);                          // [c, V]
        dLogits.muliColumnVector(Nd4j.createFromArray(scale).castTo(type).reshape(end - start, 1).negi());
        for (int i = first; i < end; i++) {
          int r = i - first, y = f.targets[i];
          dLogits.putScalar(r, y, dLogits.getDouble(r, y) + scale[r]);
        }
        Nd4j.gemm(dLogits, hc, dWte, true, false, 1.0, 1.0);                                  // dWte += dl^T h
        INDArray dhc = dLogits.mmul(wte);                                                      // [c, D]
        for (int r = 0; r < chunkRows.length; r++) dx.getRow(chunkRows[r]).assign(dhc.getRow(r)); // distinct rows
      }
    }

    dx = layerNormBackward(dx, f.lnF, gpt.lnFW(), "transformer.ln_f.", g);
    for (int l = config.nLayer() - 1; l >= 0; l--) {
      // a block's temporaries live in a reused workspace; its input gradient and parameter gradients are detached
      Map<String, INDArray> blockGrads = new LinkedHashMap<>();
      try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(Gpt.WORKSPACE, "gpt-backward")) {
        dx = blockBackward(gpt.blocks().get(l), f.blocks.get(l), dx, batch, "transformer.h." + l + ".", blockGrads)
            .detach();
        blockGrads.forEach((name, grad) -> g.put(name, grad.detach()));
      }
    }

    // embeddings: index-add of dx at token ids; positions are j for row i * T + j, so dWpe[j] = sum_i dx[i, j]
    for (int r = 0; r < batch.ids().length; r++) dWte.getRow(batch.ids()[r]).addi(dx.getRow(r));
    INDArray dWpe = Nd4j.zeros(type, config.nPositions(), d);
    dWpe.get(NDArrayIndex.interval(0, batch.t()), NDArrayIndex.all())
        .assign(dx.reshape('c', batch.b(), batch.t(), d).sum(0));
    g.put("transformer.wte.weight", dWte);
    g.put("transformer.wpe.weight", dWpe);
    return g;
  }

  /** d loss / d block input, given d loss / d block output; adds the block's parameter gradients to g. */
  private INDArray blockBackward(Gpt.Block w, BlockCache c, INDArray dOut, Gpt.Batch batch, String p,
      Map<String, INDArray> g) {
    int b = batch.b(), t = batch.t(), h = config.nHead(), hs = config.headSize();
    long rows = (long) b * t;

    // MLP: out = x2 + proj(gelu(fc(ln_2(x2))))
    INDArray dAct = linearBackward(c.fcAct(), dOut, w.mlpProjW(), p + "mlp.c_proj.", g);
    INDArray dFcPre = dAct.muli(geluNewGrad(c.fcPre()));
    INDArray dLn2 = linearBackward(c.ln2().out(), dFcPre, w.fcW(), p + "mlp.c_fc.", g);
    INDArray dx2 = layerNormBackward(dLn2, c.ln2(), w.ln2W(), p + "ln_2.", g).addi(dOut);

    // attention: x2 = x + proj(att v), att = softmax(q k^T / sqrt(hs) + mask), q k v from c_attn(ln_1(x))
    INDArray dy = linearBackward(c.y(), dx2, w.attnProjW(), p + "attn.c_proj.", g);
    INDArray dyHeads = dy.reshape('c', b, t, h, hs).permute(0, 2, 1, 3).dup('c');            // [B, H, T, hs]
    INDArray dAtt = Nd4j.matmul(dyHeads, c.v(), false, true, false);                          // [B, H, T, T]
    INDArray dv = Nd4j.matmul(c.att(), dyHeads, true, false, false);
    // softmax backward along keys: dscore = att * (datt - sum_j datt_j att_j)
    INDArray dotRow = dAtt.mul(c.att()).sum(true, 3);                                         // [B, H, T, 1]
    INDArray dScore = dAtt.subi(dotRow).muli(c.att());
    // q was scaled before the product: dk = dscore^T q_scaled, dq = dscore k / sqrt(hs)
    INDArray dq = Nd4j.matmul(dScore, c.k()).muli(1.0 / Math.sqrt(hs));
    INDArray dk = Nd4j.matmul(dScore, c.q(), true, false, false);
    INDArray dqkv = Nd4j.stack(0, dq, dk, dv)                                                 // [3, B, H, T, hs]
        .permute(1, 3, 0, 2, 4).dup('c').reshape('c', rows, 3L * config.nEmbd());
    INDArray dLn1 = linearBackward(c.ln1().out(), dqkv, w.attnW(), p + "attn.c_attn.", g);
    return layerNormBackward(dLn1, c.ln1(), w.ln1W(), p + "ln_1.", g).addi(dx2);
  }

  /** y = x W + b (W [in, out]): dW = x^T dy, db = sum_rows dy; returns dx = dy W^T. */
  private static INDArray linearBackward(INDArray x, INDArray dy, INDArray w, String p, Map<String, INDArray> g) {
    g.put(p + "weight", Nd4j.gemm(x, dy, true, false));
    g.put(p + "bias", dy.sum(0));
    return Nd4j.gemm(dy, w, false, true);
  }

  /**
   * y = xhat w + b, xhat = (x - mean) rstd: dw = sum_rows dy xhat, db = sum_rows dy, and with g = dy w,
   * dx = rstd (g - mean(g) - xhat mean(g xhat)), means over the row.
   */
  private static INDArray layerNormBackward(INDArray dy, Norm n, INDArray w, String p, Map<String, INDArray> g) {
    g.put(p + "weight", dy.mul(n.xhat()).sum(0));
    g.put(p + "bias", dy.sum(0));
    INDArray dxhat = dy.mulRowVector(w);
    INDArray meanG = dxhat.mean(true, 1);
    INDArray meanGx = dxhat.mul(n.xhat()).mean(true, 1);
    return dxhat.subiColumnVector(meanG).subi(n.xhat().mulColumnVector(meanGx)).muliColumnVector(n.rstd());
  }

  /**
   * d gelu_new / dx. With gelu_new(x) = x s(z), s the logistic function, z = c2 (x + 0.044715 x^3), c2 = 2 sqrt(2/pi)
   * (see Gpt.geluNew): s + x s (1 - s) c2 (1 + 3 * 0.044715 x^2).
   */
  static INDArray geluNewGrad(INDArray x) {
    double c2 = 2 * Math.sqrt(2.0 / Math.PI);
    INDArray x2 = x.mul(x);
    INDArray s = Transforms.sigmoid(x2.mul(c2 * 0.044715).addi(c2).muli(x), false);
    INDArray dz = x2.muli(3 * c2 * 0.044715).addi(c2);
    return s.rsub(1.0).muli(s).muli(dz).muli(x).addi(s);
  }

  private Map<String, Tensor> toTensors(Map<String, INDArray> g) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (Map.Entry<String, long[]> e : GptCheckpoint.parameterShapes(config).entrySet()) {
      INDArray a = g.get(e.getKey());
      if (a == null) throw new IllegalStateException("no gradient for " + e.getKey());
      float[] data = a.dup('c').reshape(a.length()).toFloatVector();
      out.put(e.getKey(), new Tensor(e.getValue(), data));
    }
    return out;
  }
}
