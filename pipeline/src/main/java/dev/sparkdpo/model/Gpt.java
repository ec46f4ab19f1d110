package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * GPT-2 (HF GPT2LMHeadModel weights, tied lm_head) on ND4J INDArray ops: embeddings, {@link GptBlock}s, ln_f and the
 * chunked lm_head ({@link LmHead}), in float32 (or float64 for gradient checks). Activations are [B*T, D] matrices for
 * the linear layers; attention runs batched on [B, H, T, hs]. Only INDArray/Nd4j/Transforms ops, so the same code
 * runs on the CUDA backend. The HF tensor names live in {@link GptWeights}.
 */
public final class Gpt implements LanguageModel, Trainable {

  /** Default memory budget for one chunk of [rows, V] logits in tokenLogProbs / responseLogProbs. */
  public static final long DEFAULT_LOGITS_CHUNK_BYTES = 64L << 20;

  /**
   * The one per-thread scratch workspace of a block's temporaries: inference forward, training forward and backward
   * never nest, so they share it (its size: the largest of them, one block's worth, not one per pass).
   */
  private static final String BLOCK_WORKSPACE = "gpt-block";

  /**
   * A forward pass that kept what its backward needs: per block its {@link GptBlock.Saved} (each dropped as the
   * backward passes it), ln_f's, the predictions scored and their summed log-probs per row.
   */
  static final class Activations implements Trainable.Pass {
    final TokenBatch batch;
    final Predictions predictions;
    final List<GptBlock.Saved> blocks;
    final LayerNorm.Normed lnF;
    final double[] logps;
    final Long passSeed; // the adapters' dropout masks of the forward, which the backward draws again; null: none

    private Activations(TokenBatch batch, Predictions predictions, List<GptBlock.Saved> blocks, LayerNorm.Normed lnF,
        double[] logps, Long passSeed) {
      this.batch = batch;
      this.predictions = predictions;
      this.blocks = blocks;
      this.lnF = lnF;
      this.logps = logps;
      this.passSeed = passSeed;
    }

    @Override
    public double[] logps() {
      return logps;
    }
  }

  /** Final hidden states of positions from..T-1 (after ln_f) and, if the forward kept them, the activations. */
  private record Hidden(INDArray h, List<GptBlock.Saved> blocks, LayerNorm.Normed lnF) {}

  private final GptConfig config;
  private final GptParams params;
  private final LoraParams adapters; // null: none; else the only trainable parameters, params frozen
  private final GptLayers layers; // over params (and adapters), no gradients
  private final INDArray causalMask; // [nPositions, nPositions]
  private final long logitsChunkBytes;
  private final int rowThreads;
  private TrainingStep step; // trainingStep's, with its row parts' gradient vectors; made on first use
  private final Map<INDArray, GptParams> viewsByGradientVector = new IdentityHashMap<>();
  private final Map<INDArray, LoraParams> adapterViewsByGradientVector = new IdentityHashMap<>();

  private Gpt(GptParams params, LoraParams adapters, INDArray causalMask, long logitsChunkBytes, int rowThreads) {
    this.config = params.config();
    this.params = params;
    this.adapters = adapters;
    this.layers = GptWeights.layers(config, params, null, adapters, null, null, logitsChunkBytes);
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
    return Workspaces.outside(() -> new Gpt(params, null, causalMask(params.config().nPositions(), params.dataType()),
        DEFAULT_LOGITS_CHUNK_BYTES, 1));
  }

  /** The same model (weights shared) with another memory budget per chunk of logits; at least one row per chunk. */
  public Gpt withLogitsChunkBytes(long bytes) {
    if (bytes <= 0) throw new IllegalArgumentException("chunk bytes must be > 0");
    return new Gpt(params, adapters, causalMask, bytes, rowThreads);
  }

  /**
   * The same model (weights shared) running the rows of a batch on this many threads, each with its share of the
   * rows (see RowThreads; set BLAS to 1 thread with NativeThreads.set(1, 1)). 1 = the calling thread only. A CPU
   * backend's tuning: on another backend (CUDA) the rows stay on the calling thread (see Nd4jBackend).
   */
  @Override
  public Gpt withRowThreads(int threads) {
    if (threads < 1) throw new IllegalArgumentException("row threads must be >= 1");
    return new Gpt(params, adapters, causalMask, logitsChunkBytes, Nd4jBackend.current().rowThreads(threads));
  }

  /**
   * This model's weights (shared, frozen) with LoRA adapters over them (shared: updating them updates the model; same
   * data type), replacing any it had: its forward is base + adapters, and its training step's gradient vector is the
   * adapters' flat vector ({@link LoraParams} layout), the base getting no gradient.
   */
  public Gpt withAdapters(LoraParams adapters) {
    if (!adapters.config().equals(config)) throw new IllegalArgumentException("adapters of another model config");
    if (adapters.dataType() != dataType()) {
      throw new IllegalArgumentException("adapters are " + adapters.dataType() + ", the model " + dataType());
    }
    return Workspaces.outside(() -> new Gpt(params, adapters, causalMask, logitsChunkBytes, rowThreads));
  }

  /** The adapters this model runs with (shared), or null. */
  public LoraParams adapters() {
    return adapters;
  }

  /** The adapters' count with adapters, else every parameter's: the length of a training step's gradient vector. */
  @Override
  public long trainableParameterCount() {
    return adapters == null ? config.parameterCount() : adapters.flat().length();
  }

  @Override
  public int rowThreadsCount() {
    return rowThreads;
  }

  @Override
  public GptConfig config() {
    return config;
  }

  /** The parameters this model reads (shared, not a copy). */
  public GptParams params() {
    return params;
  }

  @Override
  public DataType dataType() {
    return params.dataType();
  }

  // ---------------------------------------------------------------------------------------------------------------
  // forward: embed -> block(0..L-1) -> ln_f -> lm_head

  /** Final hidden states after ln_f, [B*T, D]. */
  INDArray hidden(TokenBatch batch) {
    return hidden(batch, 0);
  }

  /**
   * Final hidden states after ln_f of positions from..T-1 of every row, [B*(T-from), D]. Earlier positions still
   * feed the attention of every layer; only the last layer's queries, MLP and ln_f skip them, which is all the
   * work log-probs of a response need (from = the first position that predicts a response token).
   */
  INDArray hidden(TokenBatch batch, int from) {
    return forward(layers, batch, from, false).h();
  }

  /**
   * embed -> blocks -> ln_f, the last block's queries from {@code from} on. Without keep, each block's temporaries
   * live in a reused workspace and only its output leaves it; with keep, what each block's backward reads is copied
   * out of that scratch workspace into the caller's (see GptBlock.Saved). {@code layers}: the model's, or a training
   * pass's with its adapter dropout masks.
   */
  private Hidden forward(GptLayers layers, TokenBatch batch, int from, boolean keep) {
    INDArray x = layers.embedding().forward(batch.ids(), batch.positions());                // [B*T, D]
    List<GptBlock.Saved> saved = keep ? new ArrayList<>() : null;
    for (int i = 0; i < layers.blocks().size(); i++) {
      GptBlock block = layers.blocks().get(i);
      int queriesFrom = i == layers.blocks().size() - 1 ? from : 0;
      GptBlock.Causal context = new GptBlock.Causal(batch.b(), batch.t(), queriesFrom,
          maskFrom(batch.t(), queriesFrom));
      if (keep) { // temporaries in a reused scratch workspace; the output and what the backward reads leave it
        INDArray in = x;
        GptBlock.Out out = Workspaces.scoped(BLOCK_WORKSPACE, () -> block.forward(in, context, true),
            GptBlock.Out::copiedBy);
        saved.add(out.saved());
        x = out.out();
      } else {
        INDArray in = x;
        x = Workspaces.scoped(BLOCK_WORKSPACE, () -> block.forward(in, context, false).out());
      }
    }
    LayerNorm.Normed lnF = layers.lnF().forward(x, keep);                                   // [B*(T-from), D]
    return new Hidden(lnF.out(), saved, lnF);
  }

  /** Causal mask rows of queries from..t-1 over keys 0..t-1: [t-from, t]. */
  private INDArray maskFrom(int t, int from) {
    return causalMask.get(NDArrayIndex.interval(from, t), NDArrayIndex.interval(0, t));
  }

  /** logits [B, T, V] for right-padded tokens. Small inputs only: the full [B, T, V] array is materialised. */
  public INDArray logits(int[][] tokens) {
    TokenBatch batch = TokenBatch.of(tokens, config);
    return layers.lmHead().logits(hidden(batch)).reshape('c', batch.b(), batch.t(), config.vocabSize());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // next-token log-probs

  @Override
  public float[][] tokenLogProbs(int[][] tokens) {
    double[][] logps = nextTokenLogProbs(tokens, new int[tokens.length]);
    float[][] out = new float[logps.length][];
    for (int i = 0; i < logps.length; i++) {
      out[i] = new float[logps[i].length];
      for (int t = 0; t < logps[i].length; t++) out[i][t] = (float) logps[i][t];
    }
    return out;
  }

  @Override
  public double[] responseLogProbs(int[][] tokens, int[] promptLengths) {
    Predictions.checkPromptLengths(tokens, promptLengths);
    int[] from = Predictions.responseFrom(promptLengths); // predicts the first response token
    double[][] logps = RowThreads.mapRows(tokens, from, rowThreads, this::nextTokenLogProbs);
    double[] out = new double[tokens.length];
    for (int i = 0; i < tokens.length; i++) {
      for (int t = from[i]; t < tokens[i].length - 1; t++) out[i] += logps[i][t];
    }
    return out;
  }

  /** Next-token log-probs of positions from[b] <= t < len_b - 1 (others left 0); rows of length len_b - 1. */
  double[][] nextTokenLogProbs(int[][] tokens, int[] from) {
    TokenBatch batch = TokenBatch.of(tokens, config);
    return Workspaces.inWorkspace(Workspaces.PASS, () -> nextTokenLogProbs(batch, tokens, from));
  }

  private double[][] nextTokenLogProbs(TokenBatch batch, int[][] tokens, int[] from) {
    Predictions p = Predictions.of(batch, tokens, from);
    INDArray h = hidden(batch, p.first()); // positions first..T-1 of each row
    double[] logps = layers.lmHead().logProbs(h, p.rows(), p.targets());
    double[][] out = new double[batch.b()][];
    int k = 0;
    for (int i = 0; i < batch.b(); i++) {
      out[i] = new double[Math.max(0, batch.lengths()[i] - 1)];
      for (int t = from[i]; t < batch.lengths()[i] - 1; t++) out[i][t] = logps[k++];
    }
    return out;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // training: a forward that keeps activations, its backward (GptTraining runs them, per row part and thread)

  /**
   * The forward of the response log-probs, keeping every block's activations (in the caller's workspace). A training
   * pass: with adapters of lora_dropout > 0 their inputs are dropped with masks of {@code seed} (the backward draws
   * the same ones again); the log-probs are then those of this pass's masks, not the model's.
   */
  @Override
  public Activations forwardKeeping(int[][] tokens, int[] promptLengths, long seed) {
    Predictions.checkPromptLengths(tokens, promptLengths);
    TokenBatch batch = TokenBatch.of(tokens, config);
    Predictions p = Predictions.of(batch, tokens, Predictions.responseFrom(promptLengths));
    Long passSeed = adapters != null && adapters.lora().dropout() > 0 ? seed : null;
    GptLayers l = passSeed == null ? layers
        : GptWeights.layers(config, params, null, adapters, null, passSeed, logitsChunkBytes);
    Hidden hidden = forward(l, batch, p.first(), true);
    double[] tokenLogps = l.lmHead().logProbs(hidden.h(), p.rows(), p.targets());
    return new Activations(batch, p, hidden.blocks(), hidden.lnF(), p.perRow(tokenLogps, batch.b()), passSeed);
  }

  /**
   * Overwrites {@code grads} with d loss / d params given d loss / d (sequence log-prob) of each row: lm_head and
   * log-softmax chunk by chunk, ln_f, the blocks in reverse (each block's saved activations dropped once its backward
   * has run), the embeddings. Consumes {@code a}.
   */
  void backward(Activations a, double[] dSeq, GptParams grads) {
    backward(a, dSeq, grads, null);
  }

  /** As above, the model's gradients into {@code grads} or (with adapters, the base frozen) {@code adapterGrads}. */
  private void backward(Activations a, double[] dSeq, GptParams grads, LoraParams adapterGrads) {
    GptLayers l = GptWeights.layers(config, params, grads, adapters, adapterGrads, a.passSeed, logitsChunkBytes);
    Predictions p = a.predictions;
    double[] scale = new double[p.rows().length];
    for (int j = 0; j < scale.length; j++) scale[j] = dSeq[p.rowOfSeq()[j]];
    INDArray dh = l.lmHead().backward(a.lnF.out(), p.rows(), p.targets(), scale);            // [B*(T-first), D]
    INDArray dx = l.lnF().backward(a.lnF, dh);
    for (int i = l.blocks().size() - 1; i >= 0; i--) {
      // a block's temporaries live in a reused workspace; only its input gradient leaves it
      GptBlock block = l.blocks().get(i);
      GptBlock.Saved saved = a.blocks.set(i, null);
      INDArray dOut = dx;
      dx = Workspaces.scoped(BLOCK_WORKSPACE, () -> block.backward(saved, dOut));             // [B*T, D]
    }
    l.embedding().backward(dx, a.batch);
  }

  @Override
  public void backward(Trainable.Pass pass, double[] dSeq, INDArray grads) {
    if (adapters != null) backward((Activations) pass, dSeq, null, adapterGradientViews(grads));
    else backward((Activations) pass, dSeq, gradientViews(grads));
  }

  /** {@link #gradientViews} for the adapters' gradient vector. */
  private synchronized LoraParams adapterGradientViews(INDArray flat) {
    if (adapterViewsByGradientVector.size() > 8) adapterViewsByGradientVector.clear();
    return adapterViewsByGradientVector.computeIfAbsent(flat,
        f -> Workspaces.outside(() -> LoraParams.over(config, adapters.lora(), f)));
  }

  /**
   * Named views over a flat gradient vector, made once per vector (DL4J's gradient view, the row parts' vectors): a
   * step does not rebuild them. Forgets them all past a few vectors (a network handed new arrays).
   */
  private synchronized GptParams gradientViews(INDArray flat) {
    if (viewsByGradientVector.size() > 8) viewsByGradientVector.clear();
    return viewsByGradientVector.computeIfAbsent(flat, f -> Workspaces.outside(() -> GptParams.over(config, f)));
  }

  @Override
  public double[] trainingStep(int[][] tokens, int[] promptLengths, Function<double[], double[]> lossGradient,
      INDArray gradients, long seed) {
    return step().run(tokens, promptLengths, lossGradient, gradients, seed);
  }

  private synchronized TrainingStep step() {
    if (step == null) step = new TrainingStep(this);
    return step;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // KV-cached decoding

  @Override
  public KvCache newKvCache(int rows, int capacity) {
    if (capacity < 1 || capacity > config.nPositions()) {
      throw new IllegalArgumentException("capacity " + capacity + " not in [1, " + config.nPositions() + "]");
    }
    if (rows < 1) throw new IllegalArgumentException("rows must be >= 1");
    return new KvCache(config.nLayer(), rows, config.nHead(), capacity, config.headSize(), dataType());
  }

  @Override
  public INDArray decode(KvCache cache, DecodeStep s) {
    INDArray slots = headSlots(s, cache.slots());
    INDArray x = layers.embedding().forward(s.tokens(), s.positions());                     // [B*T, D]
    for (int l = 0; l < config.nLayer(); l++) {
      GptBlock.Cached context = new GptBlock.Cached(s.b(), s.t(), cache.keys(l), cache.values(l), slots, s.mask());
      x = layers.blocks().get(l).forward(x, context, false).out();
    }
    INDArray lastRows = s.t() == 1 ? x : Nd4j.pullRows(x, 1, s.last());                    // [B, D]
    return layers.lmHead().logits(layers.lnF().apply(lastRows));                            // [B, V]
  }

  /** Flat indices into a layer's [B*H*S, hs] cache rows, one per (b, h, t) in that order: each head's slot. */
  private INDArray headSlots(DecodeStep s, int slotsPerRow) {
    int b = s.b(), t = s.t(), h = config.nHead();
    int[] index = new int[b * h * t];
    for (int i = 0; i < b; i++) {
      for (int head = 0; head < h; head++) {
        for (int j = 0; j < t; j++) index[(i * h + head) * t + j] = (i * h + head) * slotsPerRow + s.slots()[i * t + j];
      }
    }
    return Nd4j.createFromArray(index);
  }

  // ---------------------------------------------------------------------------------------------------------------

  /**
   * [n, n]: 0 where key j <= query i, -1e9 above the diagonal (exp underflows to exactly 0, no inf - inf NaNs).
   * Not Nd4j.tri: it leaves the upper triangle unwritten, i.e. garbage inside a workspace.
   */
  static INDArray causalMask(int n, DataType dataType) {
    INDArray idx = Nd4j.arange(n).castTo(dataType);
    INDArray keyMinusQuery = Nd4j.ones(dataType, n, n).muliRowVector(idx).subiColumnVector(idx.reshape(n, 1));
    return keyMinusQuery.gt(0).castTo(dataType).muli(-1e9);
  }
}
