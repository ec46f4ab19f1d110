package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

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
 * are recomputed in chunks in the backward (never [B, T, V] at once). Parameter gradients are written straight into
 * a {@link GptParams} gradient vector (BLAS gemm into its views); {@link #step} runs forward and backward with every
 * temporary and cached activation in one reused ND4J workspace, which is what makes it fast: fresh off-heap buffers
 * cost more than the arithmetic at these sizes.
 */
public final class GptTraining {

  /** Layer-norm output with what its backward needs: normalised input xhat = (x - mean) * rstd and rstd [N, 1]. */
  record Norm(INDArray out, INDArray xhat, INDArray rstd) {}

  /**
   * Activations of one block kept for its backward; queries (and the block's output rows) are positions from..T-1
   * (from > 0 only in the last block, see Gpt#hidden(Batch, int)). out is the block's output (the residual stream).
   */
  record BlockCache(int from, Norm ln1, INDArray q, INDArray k, INDArray v, INDArray att, INDArray y, Norm ln2,
      INDArray fcPre, INDArray fcSigmoid, INDArray fcAct, INDArray out) {}

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

  private static final String STEP_WORKSPACE = "gpt-train-step";

  private final Gpt gpt;
  private final GptConfig config;
  private final List<GptParams> partGradients = new ArrayList<>();

  public GptTraining(Gpt gpt) {
    this.gpt = gpt;
    this.config = gpt.config();
  }

  /**
   * One training step's gradients: forward, then {@code lossGradient} maps the rows' sequence log-probs to
   * d(loss)/d(log-prob) per row, then the backward overwrites {@code out} with d(loss)/d(params). All activations
   * and temporaries live in one per-thread workspace reused from step to step. Returns the sequence log-probs.
   */
  public double[] step(int[][] tokens, int[] promptLengths, Function<double[], double[]> lossGradient,
      GptParams out) {
    checkGradientVector(out);
    Gpt.checkPromptLengths(tokens, promptLengths); // here, so that errors name the row of the whole batch
    int[][] parts = RowThreads.split(tokens.length, gpt.rowThreadsCount());
    if (parts.length == 1) {
      return Gpt.inWorkspace(STEP_WORKSPACE, () -> {
        Forward f = forwardImpl(tokens, promptLengths);
        backwardImpl(f, checkedGradient(lossGradient.apply(f.logps()), tokens.length), out);
        return f.logps;
      });
    }
    // rows split over threads (Gpt#withRowThreads): each forwards its rows, the loss sees all rows' log-probs, each
    // backward writes its own gradient vector, and the vectors are summed into out
    List<CompletableFuture<double[]>> logps = new ArrayList<>();
    for (int i = 0; i < parts.length; i++) logps.add(new CompletableFuture<>());
    CompletableFuture<double[]> dSeq = new CompletableFuture<>();
    GptParams[] grads = new GptParams[parts.length];
    grads[0] = out;
    for (int i = 1; i < parts.length; i++) grads[i] = partGradients(i);
    RowThreads.run(parts.length, i -> {
      try {
        return Gpt.inWorkspace(STEP_WORKSPACE, () -> {
          Forward f = forwardImpl(RowThreads.rows(tokens, parts[i]), RowThreads.rows(promptLengths, parts[i]));
          logps.get(i).complete(f.logps);
          if (i == 0) {
            double[] all = new double[tokens.length];
            for (int j = 0; j < parts.length; j++) {
              System.arraycopy(logps.get(j).join(), 0, all, parts[j][0], parts[j][1] - parts[j][0]);
            }
            dSeq.complete(checkedGradient(lossGradient.apply(all), tokens.length));
          }
          backwardImpl(f, Arrays.copyOfRange(dSeq.join(), parts[i][0], parts[i][1]), grads[i]);
          return f.logps;
        });
      } catch (RuntimeException | Error e) { // never leave the other parts waiting
        logps.get(i).completeExceptionally(e);
        dSeq.completeExceptionally(e);
        throw e;
      }
    });
    for (int i = 1; i < parts.length; i++) out.flat().addi(grads[i].flat());
    double[] all = new double[tokens.length];
    for (int j = 0; j < parts.length; j++) {
      System.arraycopy(logps.get(j).join(), 0, all, parts[j][0], parts[j][1] - parts[j][0]);
    }
    return all;
  }

  private static double[] checkedGradient(double[] dSeq, int rows) {
    if (dSeq.length != rows) throw new IllegalArgumentException("one gradient per batch row");
    return dSeq;
  }

  /**
   * The gradient vector of row part i > 0, allocated once per GptTraining (outside any workspace); so one
   * GptTraining runs one step at a time (as DL4J and the bench use it).
   */
  private synchronized GptParams partGradients(int i) {
    while (partGradients.size() < i) partGradients.add(GptParams.zeros(config, gpt.dataType()));
    return partGradients.get(i - 1);
  }

  /**
   * Forward with cached activations for the right-padded batch; promptLengths as in {@link Gpt#responseLogProbs}.
   * The cache is ordinary (garbage-collected) memory: prefer {@link #step} in loops.
   */
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
    GptParams g = GptParams.zeros(config, gpt.dataType());
    backward(f, dLossDSeqLogp, g);
    return g.toCheckpoint().weights();
  }

  /**
   * As {@link #backward(Forward, double[])}, writing the gradients into {@code out} (e.g. a view of DL4J's flat
   * gradient vector): every element of {@code out} is overwritten.
   */
  public void backward(Forward f, double[] dLossDSeqLogp, GptParams out) {
    if (dLossDSeqLogp.length != f.batch.b()) throw new IllegalArgumentException("one gradient per batch row");
    checkGradientVector(out);
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      backwardImpl(f, dLossDSeqLogp, out);
    }
  }

  /** Forward then backward in one call. */
  public Map<String, Tensor> backward(int[][] tokens, int[] promptLengths, double[] dLossDSeqLogp) {
    return backward(forward(tokens, promptLengths), dLossDSeqLogp);
  }

  private void checkGradientVector(GptParams out) {
    if (!out.config().equals(config)) throw new IllegalArgumentException("gradient vector of another model config");
    if (out.dataType() != gpt.dataType()) {
      throw new IllegalArgumentException("gradient vector is " + out.dataType() + ", the model " + gpt.dataType());
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // forward

  private Forward forwardImpl(int[][] tokens, int[] promptLengths) {
    Gpt.checkPromptLengths(tokens, promptLengths);
    Gpt.Batch batch = Gpt.Batch.of(tokens, config);
    // response positions: promptLen - 1 .. len - 2 predict tokens promptLen .. len - 1
    int n = 0;
    for (int i = 0; i < tokens.length; i++) n += tokens[i].length - promptLengths[i];
    int[] from = new int[tokens.length];
    for (int i = 0; i < tokens.length; i++) from[i] = promptLengths[i] - 1;
    int first = Gpt.firstQuery(batch, from); // the last block computes positions first..T-1 only
    int tq = batch.t() - first;
    int[] rows = new int[n], targets = new int[n], rowOfSeq = new int[n];
    int k = 0;
    for (int i = 0; i < tokens.length; i++) {
      for (int t = promptLengths[i] - 1; t < tokens[i].length - 1; t++, k++) {
        rows[k] = i * tq + t - first;
        targets[k] = tokens[i][t + 1];
        rowOfSeq[k] = i;
      }
    }

    INDArray x = gpt.embed(batch);
    List<BlockCache> caches = new ArrayList<>();
    for (int l = 0; l < config.nLayer(); l++) {
      BlockCache c = block(gpt.blocks().get(l), x, batch, l == config.nLayer() - 1 ? first : 0);
      caches.add(c);
      x = c.out();
    }
    Norm lnF = layerNorm(x, gpt.lnFW(), gpt.lnFB());

    double[] tokenLogps = gpt.logProbsOf(lnF.out(), rows, targets);
    double[] logps = new double[tokens.length];
    for (int j = 0; j < n; j++) logps[rowOfSeq[j]] += tokenLogps[j];
    return new Forward(batch, rows, targets, rowOfSeq, List.copyOf(caches), lnF, logps);
  }

  /**
   * As Gpt.block + Gpt.attention + Gpt.mlp for query positions from..T-1, keeping activations. With from = 0 the
   * residual stream x is updated in place and is the output.
   */
  private BlockCache block(Gpt.Block w, INDArray x, Gpt.Batch batch, int from) {
    int b = batch.b(), t = batch.t(), hs = config.headSize();

    Norm ln1 = layerNorm(x, w.ln1W(), w.ln1B());
    INDArray qkv = Gpt.linear(ln1.out(), w.attnW(), w.attnB());                               // [B*T, 3D]
    INDArray heads = qkv.reshape('c', b, t, 3, config.nHead(), hs).permute(2, 0, 3, 1, 4).dup('c'); // [3,B,H,T,hs]
    INDArray q = Gpt.queriesFrom(heads.slice(0), from), k = heads.slice(1), v = heads.slice(2);
    q.muli(1.0 / Math.sqrt(hs));
    INDArray att = Nd4j.matmul(q, k, false, true, false).addi(gpt.maskFrom(t, from));        // [B, H, T-from, T]
    Transforms.softmax(att, false);
    INDArray y = gpt.mergeHeads(Nd4j.matmul(att, v), b, t - from);                           // [B*(T-from), D]
    INDArray out = Gpt.positionsFrom(x, batch, from).addi(Gpt.linear(y, w.attnProjW(), w.attnProjB()));

    Norm ln2 = layerNorm(out, w.ln2W(), w.ln2B());
    INDArray fcPre = Gpt.linear(ln2.out(), w.fcW(), w.fcB());                                 // [rows, 4D]
    INDArray fcSigmoid = Gpt.geluSigmoid(fcPre);                                               // kept for the backward
    INDArray fcAct = fcSigmoid.mul(fcPre);                                                    // gelu_new(fcPre)
    out.addi(Gpt.linear(fcAct, w.mlpProjW(), w.mlpProjB()));
    return new BlockCache(from, ln1, q, k, v, att, y, ln2, fcPre, fcSigmoid, fcAct, out);
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

  private void backwardImpl(Forward f, double[] dSeq, GptParams out) {
    Gpt.Batch batch = f.batch;
    int d = config.nEmbd();
    DataType type = gpt.dataType();
    INDArray wte = gpt.wte();
    INDArray dWte = out.get("transformer.wte.weight").assign(0);
    INDArray dx = Nd4j.zeros(type, h0Rows(f), d); // d loss / d h (after ln_f), rows of the last block's output

    // lm_head + log-softmax, chunk by chunk: dlogits = dseq (onehot(y) - softmax(logits))
    INDArray h = f.lnF.out();
    int n = f.rows.length;
    int chunk = gpt.logitsChunkRows();
    for (int start = 0; start < n; start += chunk) {
      int end = Math.min(n, start + chunk), first = start;
      int[] chunkRows = Arrays.copyOfRange(f.rows, start, end);
      double[] scale = new double[end - start];
      for (int i = start; i < end; i++) scale[i - start] = dSeq[f.rowOfSeq[i]];
      try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(Gpt.WORKSPACE, "gpt-logits")) {
        INDArray hc = Nd4j.pullRows(h, 1, chunkRows);                                           // [c, D]
        INDArray dLogits = Transforms.softmax(gpt.lmHead(hc), false);                          // [c, V]
        dLogits.muliColumnVector(Nd4j.createFromArray(scale).castTo(type).reshape(end - start, 1).negi());
        for (int i = first; i < end; i++) {
          int r = i - first, y = f.targets[i];
          dLogits.putScalar(r, y, dLogits.getDouble(r, y) + scale[r]);
        }
        gemm(dLogits, hc, dWte, true, false, 1.0);                                           // dWte += dl^T h
        Gpt.scatterAddRows(dx, chunkRows, Nd4j.gemm(dLogits, wte, false, false));            // rows are distinct
      }
    }

    dx = layerNormBackward(dx, f.lnF, gpt.lnFW(), out, "transformer.ln_f.");
    for (int l = config.nLayer() - 1; l >= 0; l--) {
      // a block's temporaries live in a reused workspace; only its input gradient leaves it
      INDArray dOut = dx;
      int layer = l;
      dx = Gpt.scoped("gpt-backward", () -> blockBackward(gpt.blocks().get(layer), f.blocks.get(layer), dOut, batch,
          out, "transformer.h." + layer + "."));
    }

    // embeddings: index-add of dx at token ids; positions are j for row i * T + j, so dWpe[j] = sum_i dx[i, j]
    Gpt.scatterAddRows(dWte, batch.ids(), dx);
    INDArray dWpe = out.get("transformer.wpe.weight").assign(0);
    dWpe.get(NDArrayIndex.interval(0, batch.t()), NDArrayIndex.all())
        .assign(dx.reshape('c', batch.b(), batch.t(), d).sum(0));
  }

  /** d loss / d block input, given d loss / d block output; writes the block's parameter gradients into g. */
  private INDArray blockBackward(Gpt.Block w, BlockCache c, INDArray dOut, Gpt.Batch batch, GptParams g, String p) {
    int b = batch.b(), t = batch.t(), h = config.nHead(), hs = config.headSize();
    long rows = (long) b * t;

    // MLP: out = x2 + proj(gelu(fc(ln_2(x2))))
    INDArray dAct = linearBackward(c.fcAct(), dOut, w.mlpProjW(), g, p + "mlp.c_proj.");
    INDArray dFcPre = dAct.muli(geluNewGrad(c.fcPre(), c.fcSigmoid()));
    INDArray dLn2 = linearBackward(c.ln2().out(), dFcPre, w.fcW(), g, p + "mlp.c_fc.");
    INDArray dx2 = layerNormBackward(dLn2, c.ln2(), w.ln2W(), g, p + "ln_2.").addi(dOut);

    // attention: x2 = x[from:] + proj(att v), att = softmax(q k^T / sqrt(hs) + mask), q k v from c_attn(ln_1(x))
    int from = c.from(), tq = t - from;
    INDArray dy = linearBackward(c.y(), dx2, w.attnProjW(), g, p + "attn.c_proj.");
    INDArray dyHeads = dy.reshape('c', b, tq, h, hs).permute(0, 2, 1, 3).dup('c');           // [B, H, Tq, hs]
    INDArray dAtt = Nd4j.matmul(dyHeads, c.v(), false, true, false);                          // [B, H, Tq, T]
    INDArray dv = Nd4j.matmul(c.att(), dyHeads, true, false, false);                          // [B, H, T, hs]
    // softmax backward along keys: dscore = att * (datt - sum_j datt_j att_j)
    INDArray dotRow = dAtt.mul(c.att()).sum(true, 3);                                         // [B, H, Tq, 1]
    INDArray dScore = dAtt.subi(dotRow).muli(c.att());
    // q was scaled before the product: dk = dscore^T q_scaled, dq = dscore k / sqrt(hs)
    INDArray dq = Nd4j.matmul(dScore, c.k()).muli(1.0 / Math.sqrt(hs));                      // [B, H, Tq, hs]
    INDArray dk = Nd4j.matmul(dScore, c.q(), true, false, false);                            // [B, H, T, hs]
    if (from > 0) { // positions before from asked no queries
      INDArray full = Nd4j.zeros(dq.dataType(), b, h, t, hs);
      full.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, t), NDArrayIndex.all()).assign(dq);
      dq = full;
    }
    INDArray dqkv = Nd4j.stack(0, dq, dk, dv)                                                 // [3, B, H, T, hs]
        .permute(1, 3, 0, 2, 4).dup('c').reshape('c', rows, 3L * config.nEmbd());
    INDArray dLn1 = linearBackward(c.ln1().out(), dqkv, w.attnW(), g, p + "attn.c_attn.");
    INDArray dx = layerNormBackward(dLn1, c.ln1(), w.ln1W(), g, p + "ln_1.");
    // the residual: x[from:] feeds x2 directly
    if (from == 0) return dx.addi(dx2);
    dx.reshape('c', true, b, t, config.nEmbd()) // a view: the add must land in dx
        .get(NDArrayIndex.all(), NDArrayIndex.interval(from, t), NDArrayIndex.all())
        .addi(dx2.reshape('c', b, tq, config.nEmbd()));
    return dx;
  }

  /** Rows of the last block's output (and of ln_f): B * (T - from). */
  private static long h0Rows(Forward f) {
    return (long) f.batch.b() * (f.batch.t() - f.blocks.get(f.blocks.size() - 1).from());
  }

  /** y = x W + b (W [in, out]): dW = x^T dy, db = sum_rows dy into g; returns dx = dy W^T. */
  private static INDArray linearBackward(INDArray x, INDArray dy, INDArray w, GptParams g, String p) {
    gemm(x, dy, g.get(p + "weight"), true, false, 0.0);
    dy.sum(g.get(p + "bias"), 0);
    return Nd4j.gemm(dy, w, false, true);
  }

  /**
   * y = xhat w + b, xhat = (x - mean) rstd: dw = sum_rows dy xhat, db = sum_rows dy into g, and with g = dy w,
   * dx = rstd (g - mean(g) - xhat mean(g xhat)), means over the row.
   */
  private static INDArray layerNormBackward(INDArray dy, Norm n, INDArray w, GptParams g, String p) {
    dy.mul(n.xhat()).sum(g.get(p + "weight"), 0);
    dy.sum(g.get(p + "bias"), 0);
    INDArray dxhat = dy.mulRowVector(w);
    INDArray meanG = dxhat.mean(true, 1);
    INDArray meanGx = dxhat.mul(n.xhat()).mean(true, 1);
    return dxhat.subiColumnVector(meanG).subi(n.xhat().mulColumnVector(meanGx)).muliColumnVector(n.rstd());
  }

  /**
   * c = op(a) op(b) + beta c through BLAS into c, which may be a view (a gradient tensor inside the flat gradient
   * vector); Nd4j.gemm refuses views.
   */
  private static void gemm(INDArray a, INDArray b, INDArray c, boolean transposeA, boolean transposeB, double beta) {
    Nd4j.getBlasWrapper().level3().gemm(a, b, c, transposeA, transposeB, 1.0, beta);
  }

  /**
   * d gelu_new / dx from x and s = the sigmoid Gpt.geluSigmoid(x) of the forward. With gelu_new(x) = x s(z),
   * z = c2 (x + 0.044715 x^3), c2 = 2 sqrt(2/pi): s + x s (1 - s) c2 (1 + 3 * 0.044715 x^2).
   */
  static INDArray geluNewGrad(INDArray x, INDArray s) {
    double c2 = 2 * Math.sqrt(2.0 / Math.PI);
    INDArray dz = x.mul(x).muli(3 * c2 * 0.044715).addi(c2);
    return s.rsub(1.0).muli(s).muli(dz).muli(x).addi(s);
  }
}
