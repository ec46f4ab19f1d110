package dev.sparkdpo.model;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Autoregressive sampling from a {@link Gpt} with a KV cache: one forward over the prompt fills every layer's keys
 * and values, then each new token runs only its own position through the blocks, attending to the cache.
 *
 * <p>Rows are decoded one at a time (batch size 1): prompts of different lengths need no padding or per-row masks,
 * and a row that hit EOS costs nothing more. The model math is INDArray ops only; the sampling itself is a Java loop
 * over one row's V probabilities.
 */
public final class Sampler {
  private final Gpt model;
  private final GptConfig config;

  public Sampler(Gpt model) {
    this.model = model;
    this.config = model.config();
  }

  /**
   * Continues each prompt by up to {@code maxNewTokens} tokens, stopping a row after its EOS token (which is
   * included) or when prompt + continuation reaches nPositions. Returns the new tokens only (not the prompt), one
   * array per prompt, unpadded. Row i draws from its own random stream, so a row's sample does not depend on the
   * other prompts.
   */
  public int[][] generate(int[][] prompts, SamplingConfig sampling) {
    if (sampling.eosId().isPresent() && sampling.eosId().getAsInt() >= config.vocabSize()) {
      throw new IllegalArgumentException("eosId " + sampling.eosId().getAsInt() + " >= vocab size " + config.vocabSize());
    }
    for (int i = 0; i < prompts.length; i++) checkPrompt(i, prompts[i]);
    SplittableRandom root = new SplittableRandom(sampling.seed());
    int[][] out = new int[prompts.length][];
    for (int i = 0; i < prompts.length; i++) out[i] = generateRow(prompts[i], sampling, root.split());
    return out;
  }

  private void checkPrompt(int row, int[] prompt) {
    if (prompt.length == 0) throw new IllegalArgumentException("prompt " + row + " is empty");
    if (prompt.length > config.nPositions()) {
      throw new IllegalArgumentException("prompt " + row + " has " + prompt.length + " tokens > nPositions "
          + config.nPositions());
    }
    for (int id : prompt) {
      if (id < 0 || id >= config.vocabSize()) {
        throw new IllegalArgumentException("prompt " + row + ": token id out of range: " + id);
      }
    }
  }

  private int[] generateRow(int[] prompt, SamplingConfig sampling, SplittableRandom random) {
    int maxNew = Math.min(sampling.maxNewTokens(), config.nPositions() - prompt.length);
    if (maxNew == 0) return new int[0];
    // the last sampled token is never fed back, so the cache needs prompt + maxNew - 1 positions
    Decoder decoder = new Decoder(prompt.length + maxNew - 1);
    float[] logits = decoder.feed(prompt);
    int[] generated = new int[maxNew];
    int n = 0;
    while (true) {
      int token = sample(logits, sampling, random);
      generated[n++] = token;
      if (n == maxNew || (sampling.eosId().isPresent() && token == sampling.eosId().getAsInt())) break;
      logits = decoder.feed(new int[] {token});
    }
    return Arrays.copyOf(generated, n);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // KV-cached forward

  /** Decoding state of one sequence: per-layer keys and values [1, H, capacity, hs] of the positions fed so far. */
  final class Decoder {
    private final INDArray[] keys, values;
    private final int capacity;
    private int length;

    Decoder(int capacity) {
      if (capacity < 1 || capacity > config.nPositions()) {
        throw new IllegalArgumentException("capacity " + capacity + " not in [1, " + config.nPositions() + "]");
      }
      this.capacity = capacity;
      int layers = config.nLayer();
      keys = new INDArray[layers];
      values = new INDArray[layers];
      // the cache outlives every step, so it must not live in a caller's (or our own step's) workspace
      try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
        for (int l = 0; l < layers; l++) {
          keys[l] = Nd4j.zeros(model.wte().dataType(), 1, config.nHead(), capacity, config.headSize());
          values[l] = Nd4j.zeros(model.wte().dataType(), 1, config.nHead(), capacity, config.headSize());
        }
      }
    }

    int length() {
      return length;
    }

    /** Appends ids at the next positions and returns the logits [V] after the last of them. */
    float[] feed(int[] ids) {
      if (ids.length == 0) throw new IllegalArgumentException("nothing to feed");
      if (length + ids.length > capacity) {
        throw new IllegalArgumentException("cache full: " + length + " + " + ids.length + " > " + capacity);
      }
      // the prompt and single-token steps get separate workspaces, each sized by its own first use
      String workspaceId = ids.length == 1 ? "sampler-step" : "sampler-prefill";
      float[] logits;
      try (MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(Gpt.WORKSPACE, workspaceId)) {
        logits = forward(ids).toFloatVector();
      }
      length += ids.length;
      return logits;
    }

    /** The model's forward for positions length..length+T-1 only, writing their K/V into the cache. [1, V]. */
    private INDArray forward(int[] ids) {
      int t = ids.length;
      int[] positions = new int[t];
      for (int j = 0; j < t; j++) positions[j] = length + j;
      INDArray x = Nd4j.pullRows(model.wte(), 1, ids).addi(Nd4j.pullRows(model.wpe(), 1, positions)); // [T, D]
      for (int l = 0; l < config.nLayer(); l++) {
        Gpt.Block w = model.blocks().get(l);
        INDArray afterAttn = x.add(attention(l, w, model.layerNorm(x, w.ln1W(), w.ln1B())));
        x = afterAttn.add(model.mlp(w, model.layerNorm(afterAttn, w.ln2W(), w.ln2B())));
      }
      INDArray last = x.getRow(t - 1, true);
      return model.lmHead(model.layerNorm(last, model.lnFW(), model.lnFB()));
    }

    /** Gpt.attention for the new rows x [T, D], with keys and values of all positions so far from the cache. */
    private INDArray attention(int layer, Gpt.Block w, INDArray x) {
      int t = x.rows(), h = config.nHead(), hs = config.headSize(), end = length + t;
      INDArray qkv = Gpt.linear(x, w.attnW(), w.attnB());                                     // [T, 3D]
      INDArray heads = qkv.reshape('c', 1, t, 3, h, hs).permute(2, 0, 3, 1, 4).dup('c');      // [3, 1, H, T, hs]
      INDArray q = heads.slice(0).muli(1.0 / Math.sqrt(hs));                                  // [1, H, T, hs]
      INDArrayIndex all = NDArrayIndex.all(), fresh = NDArrayIndex.interval(length, end);
      keys[layer].get(all, all, fresh, all).assign(heads.slice(1));
      values[layer].get(all, all, fresh, all).assign(heads.slice(2));
      INDArray k = keys[layer].get(all, all, NDArrayIndex.interval(0, end), all);              // [1, H, end, hs]
      INDArray v = values[layer].get(all, all, NDArrayIndex.interval(0, end), all);
      INDArray att = Nd4j.matmul(q, k, false, true, false);                                   // [1, H, T, end]
      if (t > 1) {
        // query i sits at position length + i: the causal mask's rows length..end, keys 0..end
        att.addi(model.causalMask().get(fresh, NDArrayIndex.interval(0, end)));
      }
      Transforms.softmax(att, false);
      INDArray y = Nd4j.matmul(att, v);                                                       // [1, H, T, hs]
      y = y.permute(0, 2, 1, 3).dup('c').reshape('c', t, config.nEmbd());
      return Gpt.linear(y, w.attnProjW(), w.attnProjB());
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // sampling one token from one row's logits

  static int sample(float[] logits, SamplingConfig s, SplittableRandom random) {
    if (s.isGreedy()) return argmax(logits);
    int v = logits.length;
    int[] order = null; // candidate ids, most likely first; null = all of them, unsorted
    int keep = v;
    if ((s.topK() > 0 && s.topK() < v) || s.topP() < 1) {
      order = descendingOrder(logits);
      if (s.topK() > 0) keep = Math.min(s.topK(), v);
    }
    // softmax(logits / T) over the candidates, unnormalised: exp((l - max) / T)
    double max = Double.NEGATIVE_INFINITY;
    for (float l : logits) max = Math.max(max, l);
    double[] p = new double[keep];
    double total = 0;
    for (int i = 0; i < keep; i++) {
      p[i] = Math.exp((logits[order == null ? i : order[i]] - max) / s.temperature());
      total += p[i];
    }
    if (s.topP() < 1) {
      // nucleus: the smallest prefix (of the top-k renormalised distribution) whose mass reaches topP
      double cumulative = 0, newTotal = total;
      for (int i = 0; i < keep; i++) {
        cumulative += p[i];
        if (cumulative >= s.topP() * total) {
          keep = i + 1;
          newTotal = cumulative;
          break;
        }
      }
      total = newTotal;
    }
    double u = random.nextDouble() * total;
    int chosen = keep - 1; // if rounding leaves u just above the running sum
    for (int i = 0; i < keep; i++) {
      u -= p[i];
      if (u < 0) {
        chosen = i;
        break;
      }
    }
    return order == null ? chosen : order[chosen];
  }

  static int argmax(float[] logits) {
    int best = 0;
    for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
    return best;
  }

  /** Token ids by logit, largest first; ties by smaller id. */
  static int[] descendingOrder(float[] logits) {
    // sort primitive longs: high 32 bits an int that orders like -logit, low 32 bits the id
    long[] keys = new long[logits.length];
    for (int i = 0; i < logits.length; i++) {
      int bits = Float.floatToIntBits(-logits[i] + 0f); // + 0f: -0.0 -> 0.0
      int ordered = bits ^ ((bits >> 31) & 0x7fffffff);  // IEEE sign-magnitude -> two's complement order
      keys[i] = ((long) ordered << 32) | i;
    }
    Arrays.sort(keys);
    int[] order = new int[logits.length];
    for (int i = 0; i < order.length; i++) order[i] = (int) keys[i];
    return order;
  }
}
