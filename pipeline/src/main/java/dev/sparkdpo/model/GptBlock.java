package dev.sparkdpo.model;

import java.util.function.UnaryOperator;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * One GPT-2 block (nanoGPT's {@code Block}): x + attn(ln_1(x)), then + mlp(ln_2(.)), on [rows, D] activations with
 * attention batched on [B, H, T, hs]. Every path runs this one forward: the model's log-probs, the training forward
 * (which keeps {@link Saved} for {@link #backward}) and the KV-cached decoding step; they differ only in where keys and
 * values come from ({@link Context}).
 */
final class GptBlock {

  /** Where a block's keys and values come from and which of them each query sees. */
  sealed interface Context permits Causal, Cached {
    int b();

    int t();

    /** The first query position: rows of positions from..t-1 go through the block (from > 0: the last block only). */
    int from();

    /** Additive mask over the scores [.., Tq, Tk]: 0 visible, -1e9 hidden (exp underflows to exactly 0). */
    INDArray mask();
  }

  /**
   * Self-attention of a right-padded batch of b rows of t positions, queries from..t-1 over keys 0..t-1; mask
   * [t-from, t] is causal. Padding needs no mask of its own: rows are right-padded, so every padding position comes
   * after all of its row's real positions, and the causal mask already hides later positions from earlier ones.
   * Padding rows compute garbage that no real position ever reads (and whose log-probs are never taken).
   */
  record Causal(int b, int t, int from, INDArray mask) implements Context {}

  /**
   * New positions (t per row, each row at its own offset) attending to every slot of the row's KV cache: keys/values
   * [B, H, S, hs] (outside any workspace) get this step's K/V written first, at slots (flat indices into their
   * [B*H*S, hs] rows, one per (b, h, t) in that order); mask [B, 1, T, S] (broadcast over heads) hides each query's
   * later and unwritten slots.
   */
  record Cached(int b, int t, INDArray keys, INDArray values, INDArray slots, INDArray mask) implements Context {
    @Override
    public int from() {
      return 0;
    }
  }

  /**
   * What the training forward keeps for the backward, for query positions from..T-1 (see Causal): the smallest set
   * the backward cannot cheaply recompute. Layer norms keep xhat and rstd (their output is one multiply-add away);
   * attention keeps q (scaled), k, v and, only where they are small (see {@link #keepsAttention}), the probabilities
   * att [B, H, Tq, T] and y = att v [B*Tq, D]; otherwise (null) the backward recomputes them from q, k, v
   * (FlashAttention's trade), two batched products against the block's twelve; the MLP keeps fcPre only (gelu_new
   * and its sigmoid are elementwise in it). GPT-2 small, 8 pairs x 512 tokens: 255 MB per block instead of 725 MB.
   */
  record Saved(Causal context, LayerNorm.Normed ln1, INDArray q, INDArray k, INDArray v, INDArray att, INDArray y,
      LayerNorm.Normed ln2, INDArray fcPre) {

    /** The same activations copied by {@code copy} (out of the forward's scratch workspace). */
    Saved copiedBy(UnaryOperator<INDArray> copy) {
      return new Saved(context, ln1.copiedBy(copy), copy.apply(q), copy.apply(k), copy.apply(v),
          copiedOrNull(att, copy), copiedOrNull(y, copy), ln2.copiedBy(copy), copy.apply(fcPre));
    }

    private static INDArray copiedOrNull(INDArray a, UnaryOperator<INDArray> copy) {
      return a == null ? null : copy.apply(a);
    }
  }

  /** The block's output [B*(T-from), D] and, from a forward that kept them, its saved activations. */
  record Out(INDArray out, Saved saved) {

    /** The output and saved activations copied by {@code copy} (out of the forward's scratch workspace). */
    Out copiedBy(UnaryOperator<INDArray> copy) {
      return new Out(copy.apply(out), saved == null ? null : saved.copiedBy(copy));
    }
  }

  private final LayerNorm ln1, ln2;
  private final Linear attn;     // c_attn [D, 3D]: q, k, v along the output dim
  private final Linear attnProj; // attn.c_proj [D, D]
  private final Linear fc;       // c_fc [D, 4D]
  private final Linear mlpProj;  // mlp.c_proj [4D, D]
  private final int nHead, headSize;

  GptBlock(LayerNorm ln1, Linear attn, Linear attnProj, LayerNorm ln2, Linear fc, Linear mlpProj, int nHead,
      int headSize) {
    this.ln1 = ln1;
    this.attn = attn;
    this.attnProj = attnProj;
    this.ln2 = ln2;
    this.fc = fc;
    this.mlpProj = mlpProj;
    this.nHead = nHead;
    this.headSize = headSize;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // forward

  /**
   * x [B*T, D] to [B*(T-from), D]; with keep (Causal contexts only), also what {@link #backward} needs, the attention
   * probabilities included or not by {@link #keepsAttention}. The output is a new array: x is only read.
   */
  Out forward(INDArray x, Context c, boolean keep) {
    long d = (long) nHead * headSize;
    return forward(x, c, keep, keep && keepsAttention(c.b(), c.t(), c.t() - c.from(), nHead, d));
  }

  /** As above, keeping att and y (keepAttention, needs keep) or leaving them to the backward: the tests' knob. */
  Out forward(INDArray x, Context c, boolean keep, boolean keepAttention) {
    if (keep && !(c instanceof Causal)) throw new IllegalArgumentException("only a causal forward has a backward");
    if (keepAttention && !keep) throw new IllegalArgumentException("keepAttention needs keep");
    int b = c.b(), t = c.t(), tq = t - c.from();
    LayerNorm.Normed n1 = ln1.forward(x, keep);
    INDArray heads = qkvHeads(n1.out(), b, t);                                               // [3, B, H, T, hs]
    INDArray q = queriesFrom(heads.slice(0), c.from());                                      // [B, H, Tq, hs]
    INDArray k = heads.slice(1), v = heads.slice(2);                                          // [B, H, T, hs]
    if (c instanceof Cached cached) { // this step's K/V into the cache; the queries attend to the whole cache
      writeCache(cached, k, v);
      k = cached.keys();                                                                     // [B, H, S, hs]
      v = cached.values();
    }
    q.muli(1.0 / Math.sqrt(headSize));                         // scale q rather than the larger scores
    INDArray att = attention(q, k, c.mask());                                                // [B, H, Tq, Tk]
    INDArray y = mergeHeads(Nd4j.matmul(att, v), b, tq);                                     // [B*Tq, D]
    INDArray r = attnProj.forward(y).addi(positionsFrom(x, b, t, c.from()));                 // residual [B*Tq, D]

    LayerNorm.Normed n2 = ln2.forward(r, keep);
    INDArray fcPre = fc.forward(n2.out());                                                   // [B*Tq, 4D]
    r.addi(mlpProj.forward(geluSigmoid(fcPre).muli(fcPre)));                                 // + proj(gelu_new)
    Saved saved = !keep ? null
        : new Saved((Causal) c, n1, q, k, v, keepAttention ? att : null, keepAttention ? y : null, n2, fcPre);
    return new Out(r, saved);
  }

  /**
   * Keep att and y for the backward when they add at most this fraction to a block's other kept activations. Per
   * query row they are H T + D elements against about 9 D + 2 (see Saved), a ratio that does not depend on the
   * batch (so nor on how rows are split over threads): the tiny bench config (D 256, H 4, T 256) 1280 / 2306 = 0.56,
   * keeps (8.4 MB of att per block and thread, 8 of the 16 rows each; recomputing it cost the train step up to 20%:
   * 0.83-1.01x PyTorch instead of 1.05x); GPT-2 small at T 512 (D 768, H 12) 6912 / 6914 = 1.0, recomputes (att
   * 101 MB per block and thread; keeping att and y would add about 2.6 GB to the step's 8.3 GB peak, over the
   * 0.6x-PyTorch bar). GPT-2 small and medium (D 1024, H 16) both keep them up to T 320.
   */
  static final double KEEP_ATTENTION_UP_TO = 2.0 / 3;

  /**
   * Whether a training forward of b rows of t positions, queries of the last tq of them, through a block of nHead
   * heads and width d keeps att and y.
   */
  static boolean keepsAttention(long b, long t, long tq, long nHead, long d) {
    long n = b * t, rows = b * tq;
    long attention = b * nHead * tq * t + rows * d;                    // att [B, H, Tq, T], y [B*Tq, D]
    long others = 3 * n * d + n + 6 * rows * d + rows;                 // ln_1 xhat rstd, k, v; q, ln_2, fcPre
    return attention <= KEEP_ATTENTION_UP_TO * others;
  }

  /** softmax(q k^T + mask) over the keys: q [B, H, Tq, hs] already scaled, k [B, H, Tk, hs] -> [B, H, Tq, Tk]. */
  private static INDArray attention(INDArray q, INDArray k, INDArray mask) {
    INDArray att = Nd4j.matmul(q, k, false, true, false).addi(mask);                          // [B, H, Tq, Tk]
    return Transforms.softmax(att, false);
  }

  /** c_attn's q, k, v split into heads: [B*T, D] (after ln_1) to [3, B, H, T, hs], contiguous. */
  private INDArray qkvHeads(INDArray x, int b, int t) {
    INDArray qkv = attn.forward(x);                                                          // [B*T, 3D]
    return qkv.reshape('c', b, t, 3, nHead, headSize).permute(2, 0, 3, 1, 4).dup('c');
  }

  /**
   * The KV cache write, one scatter per layer for the whole batch whatever each row's offset: rows of the cache's
   * [B*H*S, hs] view at the context's slots get this step's k, v [B, H, T, hs] (libnd4j's scatter_upd, in place).
   */
  private void writeCache(Cached c, INDArray k, INDArray v) {
    long hs = headSize, n = c.slots().length();
    scatterUpdateRows(c.keys().reshape('c', c.keys().length() / hs, hs), c.slots(), k.reshape('c', n, hs));
    scatterUpdateRows(c.values().reshape('c', c.values().length() / hs, hs), c.slots(), v.reshape('c', n, hs));
  }

  private static void scatterUpdateRows(INDArray target, INDArray indices, INDArray updates) {
    Nd4j.exec(DynamicCustomOp.builder("scatter_upd")
        .addInputs(target, indices, updates).addOutputs(target).build());
  }

  /** [B, H, T, hs] heads to [B*T, D] rows with the heads side by side. */
  private INDArray mergeHeads(INDArray y, int b, int t) {
    return y.permute(0, 2, 1, 3).dup('c').reshape('c', (long) b * t, (long) nHead * headSize);
  }

  /** Rows of positions from..T-1 of every batch row of a [B*T, D] array, as a new [B*(T-from), D] array. */
  static INDArray positionsFrom(INDArray x, int b, int t, int from) {
    if (from == 0) return x;
    long d = x.size(1);
    return x.reshape('c', b, t, d)
        .get(NDArrayIndex.all(), NDArrayIndex.interval(from, t), NDArrayIndex.all())
        .dup('c').reshape('c', (long) b * (t - from), d);
  }

  /** Query heads [B, H, T, hs] of positions from..T-1, contiguous. */
  private static INDArray queriesFrom(INDArray q, int from) {
    if (from == 0) return q;
    return q.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, q.size(2)), NDArrayIndex.all())
        .dup('c');
  }

  /**
   * gelu_new: 0.5 x (1 + tanh(c (x + 0.044715 x^3))), c = sqrt(2/pi), computed as x sigmoid(2c (x + 0.044715 x^3))
   * since 0.5 (1 + tanh z) = sigmoid(2z) (fewer passes). ND4J's GELU / PreciseGELU ops are different approximations.
   * This is the sigmoid, the factor of x (the backward reuses it).
   */
  static INDArray geluSigmoid(INDArray x) {
    double c2 = 2 * Math.sqrt(2.0 / Math.PI);
    INDArray z = x.mul(x).muli(c2 * 0.044715).addi(c2).muli(x);
    return Transforms.sigmoid(z, false);
  }

  /**
   * d gelu_new / dx from x and s = geluSigmoid(x) of the forward. With gelu_new(x) = x s(z),
   * z = c2 (x + 0.044715 x^3), c2 = 2 sqrt(2/pi): s + x s (1 - s) c2 (1 + 3 * 0.044715 x^2).
   */
  static INDArray geluNewGrad(INDArray x, INDArray s) {
    double c2 = 2 * Math.sqrt(2.0 / Math.PI);
    INDArray dz = x.mul(x).muli(3 * c2 * 0.044715).addi(c2);
    return s.rsub(1.0).muli(s).muli(dz).muli(x).addi(s);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // backward

  /**
   * d loss / d block input [B*T, D], given d loss / d block output dOut [B*(T-from), D]; writes the
   * block's parameter gradients through its layers.
   */
  INDArray backward(Saved c, INDArray dOut) {
    INDArray dx2 = mlpBackward(c, dOut).addi(dOut);                                          // d residual after attn
    return attentionBackward(c, dx2);
  }

  /** MLP: out = x2 + proj(gelu(fc(ln_2(x2)))); d loss / dx2 through the MLP branch only. */
  private INDArray mlpBackward(Saved c, INDArray dOut) {
    INDArray fcSigmoid = geluSigmoid(c.fcPre());                                             // recomputed [rows, 4D]
    INDArray fcAct = fcSigmoid.mul(c.fcPre());                                               // gelu_new(fcPre)
    INDArray dAct = mlpProj.backward(fcAct, dOut);                                           // [rows, 4D]
    INDArray dFcPre = dAct.muli(geluNewGrad(c.fcPre(), fcSigmoid));
    INDArray dLn2 = fc.backward(ln2.output(c.ln2()), dFcPre);                                // [rows, D]
    return ln2.backward(c.ln2(), dLn2);
  }

  /**
   * Attention: x2 = x[from:] + proj(att v), att = softmax(q k^T / sqrt(hs) + mask), q k v from c_attn(ln_1(x));
   * d loss / dx [B*T, D] given dx2 [B*(T-from), D]. att and y = att v are the saved ones or recomputed from q, k, v.
   */
  private INDArray attentionBackward(Saved c, INDArray dx2) {
    Causal ctx = c.context();
    int b = ctx.b(), t = ctx.t(), from = ctx.from(), tq = t - from, d = nHead * headSize;
    INDArray att = c.att() != null ? c.att() : attention(c.q(), c.k(), ctx.mask());          // [B, H, Tq, T]
    INDArray y = c.y() != null ? c.y() : mergeHeads(Nd4j.matmul(att, c.v()), b, tq);         // [B*Tq, D]
    INDArray dy = attnProj.backward(y, dx2);                                                 // [B*Tq, D]
    INDArray dyHeads = dy.reshape('c', b, tq, nHead, headSize).permute(0, 2, 1, 3).dup('c'); // [B, H, Tq, hs]
    INDArray dAtt = Nd4j.matmul(dyHeads, c.v(), false, true, false);                          // [B, H, Tq, T]
    INDArray dv = Nd4j.matmul(att, dyHeads, true, false, false);                              // [B, H, T, hs]
    // softmax backward along keys: dscore = att * (datt - sum_j datt_j att_j), where
    // sum_j datt_j att_j = sum_j (dy . v_j) att_j = dy . y (per head): [B, H, Tq, hs] work, not [B, H, Tq, T]
    INDArray dotRow = dy.mul(y).reshape('c', b, tq, nHead, headSize).sum(3)                  // [B, Tq, H]
        .permute(0, 2, 1).reshape('c', b, nHead, tq, 1);                                     // [B, H, Tq, 1]
    INDArray dScore = dAtt.subi(dotRow).muli(att);                                           // att only read
    // q was scaled before the product: dk = dscore^T q_scaled, dq = dscore k / sqrt(hs)
    INDArray dq = Nd4j.matmul(dScore, c.k()).muli(1.0 / Math.sqrt(headSize));               // [B, H, Tq, hs]
    INDArray dk = Nd4j.matmul(dScore, c.q(), true, false, false);                            // [B, H, T, hs]
    if (from > 0) { // positions before from asked no queries
      INDArray full = Nd4j.zeros(dq.dataType(), b, nHead, t, headSize);
      full.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(from, t), NDArrayIndex.all()).assign(dq);
      dq = full;
    }
    INDArray dqkv = Nd4j.stack(0, dq, dk, dv)                                                 // [3, B, H, T, hs]
        .permute(1, 3, 0, 2, 4).dup('c').reshape('c', (long) b * t, 3L * d);
    INDArray dLn1 = attn.backward(ln1.output(c.ln1()), dqkv);                                      // [B*T, D]
    INDArray dx = ln1.backward(c.ln1(), dLn1);
    // the residual: x[from:] feeds x2 directly
    if (from == 0) return dx.addi(dx2);
    dx.reshape('c', true, b, t, d) // a view: the add must land in dx
        .get(NDArrayIndex.all(), NDArrayIndex.interval(from, t), NDArrayIndex.all())
        .addi(dx2.reshape('c', b, tq, d));
    return dx;
  }
}
