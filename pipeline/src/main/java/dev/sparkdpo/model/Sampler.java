package dev.sparkdpo.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Batched autoregressive sampling from a {@link LanguageModel} with a KV cache: one forward over all prompts together
 * (prefill) fills every layer's keys and values, then each step runs one new position of every row still running
 * through the blocks ({@link LanguageModel#decode}: for GPT-2 the one {@link GptBlock} forward), a [rows, D] gemm per
 * linear layer.
 *
 * <p>Rows of different prompt lengths: <b>per-row positions, right padding</b>. A row's cache slot is its position
 * (slot p holds the K/V of position p), so a row whose prompt is shorter starts decoding earlier in its cache; the
 * prefill pads short prompts at the end, writes the padding's K/V into the slots after the prompt (later overwritten
 * by the row's own tokens) and an additive mask hides from each query every slot after its own position. Each step
 * writes its K/V with one scatter per layer (one flat index per row and head), whatever the rows' offsets. A row
 * stops after EOS (included) or its token budget; finished rows leave the batch (their cache rows are dropped), so
 * the remaining rows' steps get cheaper.
 *
 * <p>Rows are split over {@link LanguageModel#rowThreadsCount()} threads (RowThreads: single-threaded BLAS each, see
 * NativeThreads), each running its own batch. Row i draws from its own random stream (the i-th split of the seed's
 * root stream), so its samples do not depend on the other prompts, the batch size or the thread split (up to the
 * float rounding of batched vs single-row products, far below a token's sampling probability).
 */
public final class Sampler {
  private final LanguageModel model;
  private final ModelConfig config;

  /** Wall time of a part's prefill and decode steps (for the bench; the slowest part when rows ran on threads). */
  public record Timing(double prefillSeconds, double decodeSeconds, int decodeSteps) {
    static Timing slowest(List<Timing> parts) {
      return parts.stream().max((a, b) -> Double.compare(a.prefillSeconds + a.decodeSeconds,
          b.prefillSeconds + b.decodeSeconds)).orElse(new Timing(0, 0, 0));
    }
  }

  /** Generated tokens (one unpadded array per prompt) and how long it took. */
  public record Generation(int[][] tokens, Timing timing) {}

  public Sampler(LanguageModel model) {
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
    return generateTimed(prompts, sampling).tokens();
  }

  /**
   * {@link #generate} with one random stream per row from (sampling seed, rowSeeds[i]) alone: a row's sample is the
   * same in any batch, at any index, on any thread split (e.g. row seed = a pair's id, so a Spark partition's batch
   * composition never changes what a pair gets).
   */
  public int[][] generate(int[][] prompts, long[] rowSeeds, SamplingConfig sampling) {
    return generateTimed(prompts, rowSeeds, sampling).tokens();
  }

  /** {@link #generate}, with the prefill and decode times. */
  public Generation generateTimed(int[][] prompts, SamplingConfig sampling) {
    SplittableRandom root = new SplittableRandom(sampling.seed());
    SplittableRandom[] streams = new SplittableRandom[prompts.length];
    for (int i = 0; i < prompts.length; i++) streams[i] = root.split(); // row i's stream: the seed and i only
    return run(prompts, streams, sampling);
  }

  /** {@link #generate(int[][], long[], SamplingConfig)}, with the prefill and decode times. */
  public Generation generateTimed(int[][] prompts, long[] rowSeeds, SamplingConfig sampling) {
    if (rowSeeds.length != prompts.length) {
      throw new IllegalArgumentException(rowSeeds.length + " row seeds for " + prompts.length + " prompts");
    }
    SplittableRandom[] streams = new SplittableRandom[prompts.length];
    for (int i = 0; i < prompts.length; i++) streams[i] = rowStream(sampling.seed(), rowSeeds[i]);
    return run(prompts, streams, sampling);
  }

  /** The stream of (seed, rowSeed): SplittableRandom's own mix of seed, then the row seed as the next seed. */
  static SplittableRandom rowStream(long seed, long rowSeed) {
    return new SplittableRandom(new SplittableRandom(seed ^ 0x9E3779B97F4A7C15L * rowSeed).nextLong() + rowSeed);
  }

  private Generation run(int[][] prompts, SplittableRandom[] streams, SamplingConfig sampling) {
    if (sampling.eosId().isPresent() && sampling.eosId().getAsInt() >= config.vocabSize()) {
      throw new IllegalArgumentException("eosId " + sampling.eosId().getAsInt() + " >= vocab size " + config.vocabSize());
    }
    for (int i = 0; i < prompts.length; i++) checkPrompt(i, prompts[i]);
    int[][] out = new int[prompts.length][];
    if (prompts.length == 0) return new Generation(out, new Timing(0, 0, 0));
    int[][] parts = RowThreads.split(prompts.length, model.rowThreadsCount());
    List<Timing> timings = RowThreads.run(parts.length, p -> generatePart(prompts, streams, sampling, parts[p], out));
    return new Generation(out, Timing.slowest(timings));
  }

  private void checkPrompt(int row, int[] prompt) {
    if (prompt.length == 0) throw new IllegalArgumentException("prompt " + row + " is empty");
    if (prompt.length > config.contextLength()) {
      throw new IllegalArgumentException("prompt " + row + " has " + prompt.length + " tokens > nPositions "
          + config.contextLength());
    }
    for (int id : prompt) {
      if (id < 0 || id >= config.vocabSize()) {
        throw new IllegalArgumentException("prompt " + row + ": token id out of range: " + id);
      }
    }
  }

  /** Decodes rows range[0]..range[1]-1 as one batch, writing out[row]. */
  private Timing generatePart(int[][] prompts, SplittableRandom[] streams, SamplingConfig s, int[] range,
      int[][] out) {
    // the rows with any budget: prompt + new tokens <= nPositions
    List<Integer> running = new ArrayList<>();
    int[] budget = new int[prompts.length];
    int capacity = 0;
    for (int r = range[0]; r < range[1]; r++) {
      budget[r] = Math.min(s.maxNewTokens(), config.contextLength() - prompts[r].length);
      out[r] = new int[budget[r]];
      if (budget[r] > 0) running.add(r);
      // the last sampled token is never fed back, so a row needs prompt + budget - 1 slots
      capacity = Math.max(capacity, prompts[r].length + budget[r] - 1);
    }
    int[] produced = new int[prompts.length];
    if (running.isEmpty()) return new Timing(0, 0, 0);

    long t0 = System.nanoTime();
    Decoder decoder = new Decoder(running.size(), capacity);
    float[][] logits = decoder.feed(running.stream().map(r -> prompts[r]).toArray(int[][]::new));
    long t1 = System.nanoTime();
    int steps = 0;
    while (true) {
      // sample one token per running row; rows that finish leave the batch
      List<Integer> keep = new ArrayList<>(), still = new ArrayList<>();
      for (int k = 0; k < running.size(); k++) {
        int r = running.get(k);
        int token = sample(logits[k], s, streams[r]);
        out[r][produced[r]++] = token;
        boolean eos = s.eosId().isPresent() && token == s.eosId().getAsInt();
        if (!eos && produced[r] < budget[r]) {
          keep.add(k);
          still.add(r);
        }
      }
      if (still.isEmpty()) break;
      if (still.size() < running.size()) decoder.keep(keep.stream().mapToInt(Integer::intValue).toArray());
      running = still;
      int[][] next = new int[running.size()][];
      for (int k = 0; k < next.length; k++) next[k] = new int[] {out[running.get(k)][produced[running.get(k)] - 1]};
      logits = decoder.feed(next);
      steps++;
    }
    long t2 = System.nanoTime();
    for (int r = range[0]; r < range[1]; r++) out[r] = Arrays.copyOf(out[r], produced[r]);
    return new Timing((t1 - t0) / 1e9, (t2 - t1) / 1e9, steps);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // KV-cached forward

  /**
   * Decoding state of a batch of rows: the model's KV cache (slot = position, plus a trash slot the padding of a
   * ragged feed writes to and no query ever sees) and each row's length so far.
   */
  final class Decoder {
    private final KvCache cache;
    private int[] lengths;

    /** One row (the single-sequence API the tests use). */
    Decoder(int capacity) {
      this(1, capacity);
    }

    Decoder(int rows, int capacity) {
      this.cache = model.newKvCache(rows, capacity); // checks both
      this.lengths = new int[rows];
    }

    int length() {
      return lengths[0];
    }

    int rows() {
      return lengths.length;
    }

    /** Single row: appends ids at the next positions and returns the logits [V] after the last of them. */
    float[] feed(int[] ids) {
      if (rows() != 1) throw new IllegalStateException("feed(int[]) is for a one-row decoder");
      return feed(new int[][] {ids})[0];
    }

    /**
     * Appends ids[i] (at least one token each, counts may differ) at row i's next positions; returns each row's
     * logits [V] after its last id.
     */
    float[][] feed(int[][] ids) {
      if (ids.length != rows()) throw new IllegalArgumentException(ids.length + " rows fed to " + rows());
      int t = 0;
      for (int i = 0; i < ids.length; i++) {
        if (ids[i].length == 0) throw new IllegalArgumentException("nothing to feed in row " + i);
        if (lengths[i] + ids[i].length > cache.capacity()) {
          throw new IllegalArgumentException("cache full: " + lengths[i] + " + " + ids[i].length + " > "
              + cache.capacity());
        }
        t = Math.max(t, ids[i].length);
      }
      int tt = t;
      // the prompt and single-token steps get separate workspaces, each sized by its own first use
      String workspaceId = t == 1 ? "sampler-step" : "sampler-prefill";
      float[][] logits = Workspaces.inWorkspace(workspaceId, () -> model.decode(cache, step(ids, tt)).toFloatMatrix());
      for (int i = 0; i < ids.length; i++) lengths[i] += ids[i].length;
      return logits;
    }

    /** Keeps only these rows (indices into the current rows, ascending): finished rows leave the batch. */
    void keep(int[] rows) {
      cache.keep(rows);
      int[] kept = new int[rows.length];
      for (int k = 0; k < rows.length; k++) kept[k] = lengths[rows[k]];
      lengths = kept;
    }

    /**
     * The new positions of every row, right-padded to t: tokens, positions, cache slots and the mask over the cache.
     */
    private DecodeStep step(int[][] ids, int t) {
      int b = ids.length, slots = cache.slots(), trash = cache.trashSlot();
      int[] tokens = new int[b * t], positions = new int[b * t], slot = new int[b * t], last = new int[b];
      // [B, 1, T, S], broadcast over heads (as the full forward's [T, T] mask): H times smaller, e.g. 32 MB instead
      // of 400 MB for a gpt2 prefill of 16 x 512 tokens over 1024 slots
      float[] mask = new float[b * t * slots];
      for (int i = 0; i < b; i++) {
        last[i] = i * t + ids[i].length - 1;
        for (int j = 0; j < t; j++) {
          boolean real = j < ids[i].length;
          int position = lengths[i] + j;
          tokens[i * t + j] = real ? ids[i][j] : 0;
          positions[i * t + j] = Math.min(position, config.contextLength() - 1); // padding: any valid position
          slot[i * t + j] = real ? position : trash;
          // query (i, j) sees slots 0..position: its own row's earlier and current tokens, never the trash slot
          int m = (i * t + j) * slots;
          Arrays.fill(mask, m + Math.min(position + 1, slots - 1), m + slots, -1e9f);
        }
      }
      INDArray maskArray = Nd4j.create(mask, new long[] {b, 1, t, slots}, 'c').castTo(model.dataType());
      return new DecodeStep(b, t, tokens, positions, slot, maskArray, last);
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
