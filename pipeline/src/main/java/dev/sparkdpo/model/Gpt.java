package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * GPT-2 forward pass (HF GPT2LMHeadModel weights, tied lm_head) on ND4J INDArray ops, float32, and the next-token
 * log-probs DPO needs. Activations are [B*T, D] matrices for the linear layers; attention runs batched on
 * [B, H, T, hs]. Only INDArray/Nd4j/Transforms ops, so the same code runs on the CUDA backend.
 */
public final class Gpt {

  /** One transformer block. Linear weights in HF Conv1D layout [in, out]: y = x @ W + b. */
  record Block(
      INDArray ln1W, INDArray ln1B,
      INDArray attnW, INDArray attnB,         // c_attn [D, 3D]: q, k, v along the output dim
      INDArray attnProjW, INDArray attnProjB, // c_proj [D, D]
      INDArray ln2W, INDArray ln2B,
      INDArray fcW, INDArray fcB,             // c_fc [D, 4D]
      INDArray mlpProjW, INDArray mlpProjB) {} // c_proj [4D, D]

  /** Right-padded token ids flattened to B*T rows (pad id 0), with each row's position and real length. */
  record Batch(int b, int t, int[] ids, int[] positions, int[] lengths) {
    static Batch of(int[][] tokens, GptConfig config) {
      if (tokens.length == 0) throw new IllegalArgumentException("empty batch");
      int b = tokens.length;
      int t = Arrays.stream(tokens).mapToInt(row -> row.length).max().getAsInt();
      if (t == 0) throw new IllegalArgumentException("all sequences are empty");
      if (t > config.nPositions()) {
        throw new IllegalArgumentException("sequence length " + t + " > nPositions " + config.nPositions());
      }
      int[] ids = new int[b * t], positions = new int[b * t], lengths = new int[b];
      for (int i = 0; i < b; i++) {
        lengths[i] = tokens[i].length;
        for (int j = 0; j < t; j++) {
          int id = j < tokens[i].length ? tokens[i][j] : 0;
          if (id < 0 || id >= config.vocabSize()) throw new IllegalArgumentException("token id out of range: " + id);
          ids[i * t + j] = id;
          positions[i * t + j] = j;
        }
      }
      return new Batch(b, t, ids, positions, lengths);
    }
  }

  /** Default memory budget for one chunk of [rows, V] logits in tokenLogProbs / responseLogProbs. */
  public static final long DEFAULT_LOGITS_CHUNK_BYTES = 64L << 20;

  private final GptConfig config;
  private final GptParams params;
  private final INDArray wte; // [V, D], also the lm_head
  private final INDArray wpe; // [nPositions, D]
  private final List<Block> blocks;
  private final INDArray lnFW, lnFB;
  private final INDArray causalMask; // [nPositions, nPositions]
  private final long logitsChunkBytes;
  private final int rowThreads;

  private Gpt(GptParams params, INDArray causalMask, long logitsChunkBytes, int rowThreads) {
    GptConfig c = params.config();
    this.config = c;
    this.params = params;
    List<Block> blocks = new ArrayList<>();
    for (int i = 0; i < c.nLayer(); i++) {
      String p = "transformer.h." + i + ".";
      blocks.add(new Block(
          params.get(p + "ln_1.weight"), params.get(p + "ln_1.bias"),
          params.get(p + "attn.c_attn.weight"), params.get(p + "attn.c_attn.bias"),
          params.get(p + "attn.c_proj.weight"), params.get(p + "attn.c_proj.bias"),
          params.get(p + "ln_2.weight"), params.get(p + "ln_2.bias"),
          params.get(p + "mlp.c_fc.weight"), params.get(p + "mlp.c_fc.bias"),
          params.get(p + "mlp.c_proj.weight"), params.get(p + "mlp.c_proj.bias")));
    }
    this.blocks = List.copyOf(blocks);
    this.wte = params.get("transformer.wte.weight");
    this.wpe = params.get("transformer.wpe.weight");
    this.lnFW = params.get("transformer.ln_f.weight");
    this.lnFB = params.get("transformer.ln_f.bias");
    this.causalMask = causalMask;
    this.logitsChunkBytes = logitsChunkBytes;
    this.rowThreads = rowThreads;
  }

  /** A float32 model with a copy of the checkpoint's weights. */
  public static Gpt from(GptCheckpoint checkpoint) {
    return of(GptParams.from(checkpoint, DataType.FLOAT));
  }

  /**
   * A model over these parameters (not copied: updating them updates the model), computing in their data type
   * (float32 for work, float64 for gradient checks).
   */
  public static Gpt of(GptParams params) {
    // the model's arrays must not live in a caller's workspace
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      return new Gpt(params, causalMask(params.config().nPositions(), params.dataType()), DEFAULT_LOGITS_CHUNK_BYTES, 1);
    }
  }

  /** The same model (weights shared) with another memory budget per chunk of logits; at least one row per chunk. */
  public Gpt withLogitsChunkBytes(long bytes) {
    if (bytes <= 0) throw new IllegalArgumentException("chunk bytes must be > 0");
    return new Gpt(params, causalMask, bytes, rowThreads);
  }

  /**
   * The same model (weights shared) running the rows of a batch on this many threads, each with its share of the
   * rows (see RowThreads; set BLAS to 1 thread with NativeThreads.set(1, 1)). 1 = the calling thread only. A CPU
   * backend's tuning: on another backend (CUDA) the rows stay on the calling thread (see Nd4jBackend).
   */
  public Gpt withRowThreads(int threads) {
    if (threads < 1) throw new IllegalArgumentException("row threads must be >= 1");
    return new Gpt(params, causalMask, logitsChunkBytes, Nd4jBackend.current().rowThreads(threads));
  }

  /** Threads the rows of a batch are split over (see withRowThreads). */
  public int rowThreadsCount() {
    return rowThreads;
  }

  public GptConfig config() {
    return config;
  }

  /** The parameters this model reads (shared, not a copy). */
  public GptParams params() {
    return params;
  }

  public DataType dataType() {
    return params.dataType();
  }

  List<Block> blocks() {
    return blocks;
  }

  // weights and settings for GptTraining's backward (same package)
  INDArray wte() {
    return wte;
  }

  INDArray wpe() {
    return wpe;
  }

  INDArray lnFW() {
    return lnFW;
  }

  INDArray lnFB() {
    return lnFB;
  }

  INDArray causalMask() {
    return causalMask;
  }

  /** Rows of [rows, V] logits that fit the chunk budget (at least one). */
  int logitsChunkRows() {
    long rowBytes = (long) dataType().width() * config.vocabSize();
    return (int) Math.max(1, Math.min(Integer.MAX_VALUE, logitsChunkBytes / rowBytes));
  }

  // ---------------------------------------------------------------------------------------------------------------
  // forward: embed -> block(0..L-1) -> lnF -> logits

  /** Final hidden states after ln_f, [B*T, D]. */
  INDArray hidden(Batch batch) {
    return hidden(batch, 0);
  }

  /**
   * Final hidden states after ln_f of positions from..T-1 of every row, [B*(T-from), D]. Earlier positions still
   * feed the attention of every layer; only the last layer's queries, MLP and ln_f skip them, which is all the
   * work log-probs of a response need (from = the first position that predicts a response token).
   */
  INDArray hidden(Batch batch, int from) {
    INDArray x = embed(batch);
    for (int l = 0; l < blocks.size(); l++) {
      INDArray in = x;
      Block block = blocks.get(l);
      int queriesFrom = l == blocks.size() - 1 ? from : 0;
      x = scoped("gpt-block", () -> block(block, in, batch, queriesFrom));
    }
    return layerNorm(x, lnFW, lnFB);
  }

  /** Token + position embeddings, [B*T, D]. */
  INDArray embed(Batch batch) {
    return Nd4j.pullRows(wte, 1, batch.ids()).addi(Nd4j.pullRows(wpe, 1, batch.positions()));
  }

  /**
   * Pre-LN residual block: x + attn(ln_1(x)), then + mlp(ln_2(.)), for query positions from..T-1 ([B*T, D] in,
   * [B*(T-from), D] out). The full forward and the KV-cached step ({@link #cachedBlock}) share every piece but where
   * keys and values come from: {@link #qkvHeads}, {@link #attend}, {@link #afterAttention}.
   */
  INDArray block(Block w, INDArray x, Batch batch, int from) {
    return afterAttention(w, positionsFrom(x, batch, from), attention(w, layerNorm(x, w.ln1W(), w.ln1B()), batch, from));
  }

  /**
   * Causal multi-head self-attention of query positions from..T-1 over all positions, on [B*T, D] rows, heads merged
   * ([B*(T-from), D], before c_proj). Padding needs no mask of its own: rows are right-padded, so every padding
   * position comes after all of its row's real positions, and the causal mask already hides later positions from
   * earlier ones. Padding rows compute garbage that no real position ever reads (and whose log-probs are never taken).
   */
  INDArray attention(Block w, INDArray x, Batch batch, int from) {
    int b = batch.b(), t = batch.t();
    INDArray heads = qkvHeads(w, x, b, t);                                                  // [3, B, H, T, hs]
    INDArray q = queriesFrom(heads.slice(0), from), k = heads.slice(1), v = heads.slice(2);  // q [B, H, T-from, hs]
    INDArray y = attend(q, k, v, maskFrom(t, from));                                        // [B, H, T-from, hs]
    return mergeHeads(y, b, t - from);
  }

  /**
   * The KV-cached block: new positions x [B*T, D] (T per row, each row at its own offset) attend to every slot of the
   * row's cache. keys/values [B, H, S, hs] (outside any workspace) get this step's K/V written first, at
   * {@code slots} (flat indices into their [B*H*S, hs] rows, one per (b, h, t) in that order); {@code mask}
   * [B, 1, T, S] (0 visible, -1e9 hidden; broadcast over heads) hides each query's later and unwritten slots. Same math as {@link #block}.
   */
  INDArray cachedBlock(Block w, INDArray x, int b, int t, INDArray keys, INDArray values, int[] slots, INDArray mask) {
    INDArray heads = qkvHeads(w, layerNorm(x, w.ln1W(), w.ln1B()), b, t);                   // [3, B, H, T, hs]
    long hs = config.headSize();
    INDArray slotIds = Nd4j.createFromArray(slots);
    scatterUpdateRows(keys.reshape('c', keys.length() / hs, hs), slotIds, heads.slice(1).reshape('c', slots.length, hs));
    scatterUpdateRows(values.reshape('c', values.length() / hs, hs), slotIds,
        heads.slice(2).reshape('c', slots.length, hs));
    INDArray y = attend(heads.slice(0), keys, values, mask);                                 // [B, H, T, hs]
    return afterAttention(w, x, mergeHeads(y, b, t));
  }

  /** c_attn's q, k, v split into heads: [B*T, D] (after ln_1) to [3, B, H, T, hs], contiguous. */
  INDArray qkvHeads(Block w, INDArray x, int b, int t) {
    INDArray qkv = linear(x, w.attnW(), w.attnB());                                         // [B*T, 3D]
    return qkv.reshape('c', b, t, 3, config.nHead(), config.headSize()).permute(2, 0, 3, 1, 4).dup('c');
  }

  /** softmax(q k^T / sqrt(hs) + mask) v: q [B, H, Tq, hs] (scaled in place), k, v [B, H, Tk, hs] -> [B, H, Tq, hs]. */
  static INDArray attend(INDArray q, INDArray k, INDArray v, INDArray mask) {
    q.muli(1.0 / Math.sqrt(q.size(3)));                        // scale q rather than the larger scores
    INDArray att = Nd4j.matmul(q, k, false, true, false).addi(mask);                        // [B, H, Tq, Tk]
    Transforms.softmax(att, false);                                                         // over the last dim
    return Nd4j.matmul(att, v);                                                             // [B, H, Tq, hs]
  }

  /** The rest of a block after attention: r = residual + c_proj(y), then r + mlp(ln_2(r)); y merged heads [rows, D]. */
  INDArray afterAttention(Block w, INDArray residual, INDArray y) {
    INDArray afterAttn = linear(y, w.attnProjW(), w.attnProjB()).addi(residual);
    return afterAttn.add(mlp(w, layerNorm(afterAttn, w.ln2W(), w.ln2B())));
  }

  /** Feed-forward: c_proj(gelu_new(c_fc(x))). */
  INDArray mlp(Block w, INDArray x) {
    return linear(geluNew(linear(x, w.fcW(), w.fcB())), w.mlpProjW(), w.mlpProjB());
  }

  /** Rows of positions from..T-1 of every batch row of a [B*T, D] array, as a new [B*(T-from), D] array. */
  static INDArray positionsFrom(INDArray x, Batch batch, int from) {
    if (from == 0) return x;
    long d = x.size(1);
    return x.reshape('c', batch.b(), batch.t(), d)
        .get(NDArrayIndex.all(), NDArrayIndex.interval(from, batch.t()), NDArrayIndex.all())
        .dup('c').reshape('c', (long) batch.b() * (batch.t() - from), d);
  }

  /** Query heads [B, H, T, hs] of positions from..T-1, contiguous. */
  static INDArray queriesFrom(INDArray q, int from) {
    if (from == 0) return q;
    return q.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, q.size(2)), NDArrayIndex.all())
        .dup('c');
  }

  /** Causal mask rows of queries from..t-1 over keys 0..t-1: [t-from, t]. */
  INDArray maskFrom(int t, int from) {
    return causalMask.get(NDArrayIndex.interval(from, t), NDArrayIndex.interval(0, t));
  }

  /** [B, H, T, hs] heads to [B*T, D] rows with the heads side by side. */
  INDArray mergeHeads(INDArray y, int b, int t) {
    return y.permute(0, 2, 1, 3).dup('c').reshape('c', (long) b * t, config.nEmbd());
  }

  /** Logits of the tied lm_head: h @ wte^T, [rows, V]. */
  INDArray lmHead(INDArray h) {
    return Nd4j.gemm(h, wte, false, true);
  }

  /** logits [B, T, V] for right-padded tokens. Small inputs only: the full [B, T, V] array is materialised. */
  public INDArray logits(int[][] tokens) {
    Batch batch = Batch.of(tokens, config);
    return lmHead(hidden(batch)).reshape('c', batch.b(), batch.t(), config.vocabSize());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // next-token log-probs

  /** out[b][t] = log softmax(logits[b, t])[tokens[b][t + 1]] for t < len_b - 1. */
  public float[][] tokenLogProbs(int[][] tokens) {
    double[][] logps = nextTokenLogProbs(tokens, new int[tokens.length]);
    float[][] out = new float[logps.length][];
    for (int i = 0; i < logps.length; i++) {
      out[i] = new float[logps[i].length];
      for (int t = 0; t < logps[i].length; t++) out[i][t] = (float) logps[i][t];
    }
    return out;
  }

  /**
   * Sum over each row's response tokens (positions promptLen..len-1) of their log-prob given everything before:
   * the DPO sequence log-prob. Chosen and rejected of a pair go through the same batch.
   */
  public double[] responseLogProbs(int[][] tokens, int[] promptLengths) {
    checkPromptLengths(tokens, promptLengths);
    int[] from = new int[tokens.length];
    for (int i = 0; i < tokens.length; i++) from[i] = promptLengths[i] - 1; // predicts the first response token
    int[][] parts = RowThreads.split(tokens.length, rowThreads);
    List<double[][]> partLogps = RowThreads.run(parts.length,
        i -> nextTokenLogProbs(RowThreads.rows(tokens, parts[i]), RowThreads.rows(from, parts[i])));
    double[][] logps = new double[tokens.length][];
    for (int i = 0; i < parts.length; i++) {
      System.arraycopy(partLogps.get(i), 0, logps, parts[i][0], parts[i][1] - parts[i][0]);
    }
    double[] out = new double[tokens.length];
    for (int i = 0; i < tokens.length; i++) {
      for (int t = from[i]; t < tokens[i].length - 1; t++) out[i] += logps[i][t];
    }
    return out;
  }

  /** Next-token log-probs of positions from[b] <= t < len_b - 1 (others left 0); rows of length len_b - 1. */
  double[][] nextTokenLogProbs(int[][] tokens, int[] from) {
    Batch batch = Batch.of(tokens, config);
    return inWorkspace("gpt-forward", () -> nextTokenLogProbs(batch, tokens, from));
  }

  private double[][] nextTokenLogProbs(Batch batch, int[][] tokens, int[] from) {
    int first = firstQuery(batch, from);
    INDArray h = hidden(batch, first); // positions first..T-1 of each row
    // the (row, position) pairs wanted, as rows of h, and the token each one predicts
    int n = 0;
    for (int i = 0; i < batch.b(); i++) n += Math.max(0, batch.lengths()[i] - 1 - from[i]);
    int[] rows = new int[n], targets = new int[n];
    int k = 0;
    for (int i = 0; i < batch.b(); i++) {
      for (int t = from[i]; t < batch.lengths()[i] - 1; t++, k++) {
        rows[k] = i * (batch.t() - first) + t - first;
        targets[k] = tokens[i][t + 1];
      }
    }
    double[] logps = logProbsOf(h, rows, targets);
    double[][] out = new double[batch.b()][];
    k = 0;
    for (int i = 0; i < batch.b(); i++) {
      out[i] = new double[Math.max(0, batch.lengths()[i] - 1)];
      for (int t = from[i]; t < batch.lengths()[i] - 1; t++) out[i][t] = logps[k++];
    }
    return out;
  }

  /** One prompt length per row, each in [1, row length] (the first response token needs a position before it). */
  static void checkPromptLengths(int[][] tokens, int[] promptLengths) {
    if (promptLengths.length != tokens.length) throw new IllegalArgumentException("one prompt length per row");
    for (int i = 0; i < tokens.length; i++) {
      if (promptLengths[i] < 1 || promptLengths[i] > tokens[i].length) {
        throw new IllegalArgumentException("row " + i + ": prompt length " + promptLengths[i] + " not in [1, "
            + tokens[i].length + "]");
      }
    }
  }

  /** The earliest position whose next-token log-prob is wanted (from[i] for rows with any), capped at T - 1. */
  static int firstQuery(Batch batch, int[] from) {
    int first = batch.t() - 1;
    for (int i = 0; i < batch.b(); i++) {
      if (batch.lengths()[i] - 1 > from[i]) first = Math.min(first, from[i]);
    }
    return first;
  }

  /**
   * log softmax(h[row] @ wte^T)[target] for each (row, target), computed chunk by chunk so that only
   * [chunk, V] logits exist at a time: log-prob = target logit - logsumexp over V.
   */
  double[] logProbsOf(INDArray h, int[] rows, int[] targets) {
    double[] out = new double[rows.length];
    int chunk = logitsChunkRows();
    for (int start = 0; start < rows.length; start += chunk) {
      int end = Math.min(rows.length, start + chunk);
      int[] chunkRows = Arrays.copyOfRange(rows, start, end), chunkTargets = Arrays.copyOfRange(targets, start, end);
      INDArray logp = scoped("gpt-logits", () -> {
        INDArray hc = Nd4j.pullRows(h, 1, chunkRows);                                  // [c, D]
        INDArray target = hc.mul(Nd4j.pullRows(wte, 1, chunkTargets)).sum(1);         // h . wte[y] = logit of y
        return target.subi(logSumExp(lmHead(hc)));
      });
      System.arraycopy(logp.toDoubleVector(), 0, out, start, end - start);
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // building blocks

  /**
   * Per-thread ND4J workspace: the temporaries of one block / logits chunk reuse the same memory from call to call
   * instead of fresh off-heap buffers freed by GC (3-4x faster on CPU; works the same on CUDA).
   */
  static final WorkspaceConfiguration WORKSPACE = WorkspaceConfiguration.builder()
      .policyAllocation(AllocationPolicy.OVERALLOCATE).overallocationLimit(0.2)
      .policyLearning(LearningPolicy.FIRST_LOOP).policySpill(SpillPolicy.REALLOCATE)
      .build();

  /**
   * f's result, computed inside the workspace; the only array that outlives the scope, moved into the enclosing
   * workspace if there is one (see {@link #inWorkspace}), else detached to ordinary memory.
   */
  static INDArray scoped(String workspaceId, Supplier<INDArray> f) {
    MemoryWorkspace parent = Nd4j.getMemoryManager().getCurrentWorkspace();
    try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(WORKSPACE, workspaceId)) {
      INDArray result = f.get();
      return parent == null ? result.detach() : result.leverageTo(parent.getId());
    }
  }

  /** Runs f with every ND4J array it allocates in a reused per-thread workspace; f must return plain Java data. */
  static <T> T inWorkspace(String workspaceId, Supplier<T> f) {
    try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(WORKSPACE, workspaceId)) {
      return f.get();
    }
  }

  /** x W + b. Nd4j.gemm calls BLAS directly; INDArray.mmul goes through the MatMul op at twice the cost. */
  static INDArray linear(INDArray x, INDArray w, INDArray b) {
    return Nd4j.gemm(x, w, false, false).addiRowVector(b);
  }

  /**
   * Adds the rows of {@code updates} into {@code target} at {@code indices} (repeated indices accumulate): libnd4j's
   * scatter_add with its lock flag, which runs the updates one after another (without it, repeated indices race).
   */
  static void scatterAddRows(INDArray target, int[] indices, INDArray updates) {
    Nd4j.exec(DynamicCustomOp.builder("scatter_add")
        .addInputs(target, Nd4j.createFromArray(indices), updates).addOutputs(target)
        .addBooleanArguments(true).build());
  }

  /**
   * target[indices[i]] = updates[i] for rows of a [N, hs] target (libnd4j's scatter_upd, in place): the KV cache
   * write, one op per layer for the whole batch whatever each row's offset.
   */
  static void scatterUpdateRows(INDArray target, INDArray indices, INDArray updates) {
    Nd4j.exec(DynamicCustomOp.builder("scatter_upd")
        .addInputs(target, indices, updates).addOutputs(target).build());
  }

  INDArray layerNorm(INDArray x, INDArray w, INDArray b) {
    INDArray xc = x.subColumnVector(x.mean(true, 1));
    INDArray variance = xc.mul(xc).mean(true, 1); // biased, as torch
    INDArray rstd = Transforms.pow(variance.addi(config.layerNormEpsilon()), -0.5, false);
    return xc.muliColumnVector(rstd).muliRowVector(w).addiRowVector(b);
  }

  /**
   * gelu_new: 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi), computed as x sigmoid(2c (x + 0.044715 x^3))
   * since 0.5 (1 + tanh z) = sigmoid(2z) (fewer passes). ND4J's GELU / PreciseGELU ops are different approximations.
   */
  static INDArray geluNew(INDArray x) {
    return geluSigmoid(x).muli(x);
  }

  /** sigmoid(2c (x + 0.044715 x^3)), the factor of x in gelu_new (the backward reuses it). */
  static INDArray geluSigmoid(INDArray x) {
    double c2 = 2 * Math.sqrt(2.0 / Math.PI);
    INDArray z = x.mul(x).muli(c2 * 0.044715).addi(c2).muli(x);
    return Transforms.sigmoid(z, false);
  }

  /**
   * [n, n]: 0 where key j <= query i, -1e9 above the diagonal (exp underflows to exactly 0, no inf - inf NaNs).
   * Not Nd4j.tri: it leaves the upper triangle unwritten, i.e. garbage inside a workspace.
   */
  static INDArray causalMask(int n, DataType dataType) {
    INDArray idx = Nd4j.arange(n).castTo(dataType);
    INDArray keyMinusQuery = Nd4j.ones(dataType, n, n).muliRowVector(idx).subiColumnVector(idx.reshape(n, 1));
    return keyMinusQuery.gt(0).castTo(dataType).muli(-1e9);
  }

  /** log sum_j exp(x[i, j]) per row, [rows], stable; x is overwritten. */
  static INDArray logSumExp(INDArray x) {
    INDArray max = x.max(true, 1);
    INDArray sumExp = Transforms.exp(x.subiColumnVector(max), false).sum(true, 1);
    return Transforms.log(sumExp, false).addi(max).reshape(-1);
  }

}
