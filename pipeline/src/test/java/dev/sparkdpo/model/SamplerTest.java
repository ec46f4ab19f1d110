package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.OptionalInt;
import java.util.SplittableRandom;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** KV-cached sampling on the tiny random GPT-2 (vocab 1000, 2 layers, 64 positions) against full forward passes. */
class SamplerTest {
  static Gpt gpt;
  static Sampler sampler;
  static final int[] PROMPT = {5, 17, 256, 999, 42, 7};
  static final int[] OTHER = {300, 1, 2};

  @BeforeAll
  static void load() {
    gpt = Gpt.from(GptCheckpoint.load(ModelFixtures.tinyGpt2()));
    sampler = new Sampler(gpt);
  }

  /** Greedy decoding with a full forward over the whole sequence at every step. */
  static int[] naiveGreedy(int[] prompt, int newTokens) {
    int[] seq = prompt.clone();
    for (int i = 0; i < newTokens; i++) {
      int next = Sampler.argmax(lastLogits(seq, seq.length - 1));
      seq = Arrays.copyOf(seq, seq.length + 1);
      seq[seq.length - 1] = next;
    }
    return Arrays.copyOfRange(seq, prompt.length, seq.length);
  }

  static float[] lastLogits(int[] seq, int position) {
    INDArray logits = gpt.logits(new int[][] {seq});
    return logits.get(NDArrayIndex.point(0), NDArrayIndex.point(position), NDArrayIndex.all()).toFloatVector();
  }

  static SamplingConfig sampling(double temperature, int topK, double topP, int maxNew, long seed) {
    return new SamplingConfig(temperature, topK, topP, maxNew, OptionalInt.empty(), seed);
  }

  @Test
  void greedyWithCacheEqualsNaiveLoop() {
    int[] expected = naiveGreedy(PROMPT, 10);
    assertArrayEquals(expected, sampler.generate(new int[][] {PROMPT}, SamplingConfig.greedy(10))[0]);
    // prompts of different lengths in one call: each row as if alone
    int[][] both = sampler.generate(new int[][] {OTHER, PROMPT}, SamplingConfig.greedy(10));
    assertArrayEquals(naiveGreedy(OTHER, 10), both[0]);
    assertArrayEquals(expected, both[1]);
  }

  @Test
  void cachedLogitsEqualFullForwardAtEveryPosition() {
    int[] seq = Arrays.copyOf(PROMPT, PROMPT.length + 12);
    System.arraycopy(naiveGreedy(PROMPT, 12), 0, seq, PROMPT.length, 12);
    INDArray full = gpt.logits(new int[][] {seq});
    Sampler.Decoder decoder = sampler.new Decoder(seq.length);
    float[] cached = decoder.feed(PROMPT);
    double maxErr = 0;
    for (int pos = PROMPT.length - 1; pos < seq.length; pos++) {
      if (pos > PROMPT.length - 1) cached = decoder.feed(new int[] {seq[pos]});
      assertEquals(pos + 1, decoder.length());
      for (int v = 0; v < cached.length; v++) {
        double err = Math.abs(full.getDouble(0, pos, v) - cached[v]);
        maxErr = Math.max(maxErr, err);
        assertTrue(err < 1e-4, "position " + pos + " token " + v + ": error " + err);
      }
    }
    // feeding several tokens at once after a prefix (a multi-row step at an offset) uses the mask correctly too
    Sampler.Decoder chunked = sampler.new Decoder(seq.length);
    chunked.feed(Arrays.copyOf(seq, 4));
    float[] afterChunk = chunked.feed(Arrays.copyOfRange(seq, 4, 11));
    for (int v = 0; v < afterChunk.length; v++) assertEquals(full.getDouble(0, 10, v), afterChunk[v], 1e-4);
    System.out.printf("SamplerTest max abs logit error, cached vs full forward: %.2e%n", maxErr);
  }

  @Test
  void seededSamplingIsDeterministic() {
    int[][] prompts = {PROMPT, OTHER};
    SamplingConfig a = sampling(1.0, 0, 1.0, 20, 123);
    int[][] first = sampler.generate(prompts, a);
    assertArrayEquals(first, sampler.generate(prompts, a));
    int[][] otherSeed = sampler.generate(prompts, sampling(1.0, 0, 1.0, 20, 124));
    assertFalse(Arrays.deepEquals(first, otherSeed), "different seeds gave identical samples");
    // rows have their own random streams: the first row does not depend on what follows it
    assertArrayEquals(first[0], sampler.generate(new int[][] {PROMPT}, a)[0]);
  }

  @Test
  void topK1AndTinyTopPAreGreedy() {
    int[] greedy = sampler.generate(new int[][] {PROMPT}, SamplingConfig.greedy(10))[0];
    assertArrayEquals(greedy, sampler.generate(new int[][] {PROMPT}, sampling(1.0, 1, 1.0, 10, 7))[0]);
    assertArrayEquals(greedy, sampler.generate(new int[][] {PROMPT}, sampling(1.5, 0, 1e-6, 10, 7))[0]);
    assertArrayEquals(greedy, sampler.generate(new int[][] {PROMPT}, sampling(1.0, 50, 1e-6, 10, 8))[0]);
  }

  @Test
  void topKAndTopPRestrictTheCandidates() {
    float[] logits = {0.1f, 3f, 2f, -1f, 2.5f};
    assertArrayEquals(new int[] {1, 4, 2, 0, 3}, Sampler.descendingOrder(logits));
    SplittableRandom random = new SplittableRandom(1);
    boolean[] seenK = new boolean[5], seenP = new boolean[5];
    for (int i = 0; i < 2000; i++) {
      seenK[Sampler.sample(logits, sampling(1.0, 2, 1.0, 1, 0), random)] = true;
      // probs at T=1: 3 -> .48, 2.5 -> .29, 2 -> .18, ...: p = 0.7 needs the top two, 0.8 the top three
      seenP[Sampler.sample(logits, sampling(1.0, 0, 0.7, 1, 0), random)] = true;
    }
    assertArrayEquals(new boolean[] {false, true, false, false, true}, seenK);
    assertArrayEquals(new boolean[] {false, true, false, false, true}, seenP);
  }

  @Test
  void eosStopsTheRowAndIsIncluded() {
    int[] greedy = naiveGreedy(PROMPT, 10);
    int eos = greedy[4];
    int stop = 0;
    while (greedy[stop] != eos) stop++; // the first time greedy produces it
    SamplingConfig withEos = new SamplingConfig(0, 0, 1, 10, OptionalInt.of(eos), 0);
    int[][] out = sampler.generate(new int[][] {PROMPT, OTHER}, withEos);
    assertArrayEquals(Arrays.copyOf(greedy, stop + 1), out[0]);
    int[] other = naiveGreedy(OTHER, 10);
    int otherStop = 0;
    while (otherStop < 9 && other[otherStop] != eos) otherStop++;
    assertArrayEquals(Arrays.copyOf(other, otherStop + 1), out[1]); // the other row is unaffected by row 0's stop
  }

  @Test
  void maxNewTokensAndNPositionsAreRespected() {
    int nPositions = gpt.config().nPositions(); // 64
    assertEquals(0, sampler.generate(new int[][] {PROMPT}, SamplingConfig.greedy(0))[0].length);
    assertEquals(3, sampler.generate(new int[][] {PROMPT}, sampling(1.0, 0, 1.0, 3, 1))[0].length);

    int[] longPrompt = new int[nPositions - 4];
    for (int i = 0; i < longPrompt.length; i++) longPrompt[i] = (i * 37) % 1000;
    int[] out = sampler.generate(new int[][] {longPrompt}, SamplingConfig.greedy(10))[0];
    assertArrayEquals(naiveGreedy(longPrompt, 4), out); // stops at nPositions tokens in total
    int[] full = new int[nPositions];
    assertEquals(0, sampler.generate(new int[][] {full}, SamplingConfig.greedy(10))[0].length);
    assertThrows(IllegalArgumentException.class,
        () -> sampler.generate(new int[][] {new int[nPositions + 1]}, SamplingConfig.greedy(1)));
  }

  @Test
  void invalidInputsAreRejected() {
    assertThrows(IllegalArgumentException.class, () -> sampling(-0.1, 0, 1, 1, 0));
    assertThrows(IllegalArgumentException.class, () -> sampling(1, -1, 1, 1, 0));
    assertThrows(IllegalArgumentException.class, () -> sampling(1, 0, 0, 1, 0));
    assertThrows(IllegalArgumentException.class, () -> sampling(1, 0, 1.01, 1, 0));
    assertThrows(IllegalArgumentException.class, () -> sampling(1, 0, 1, -1, 0));
    assertThrows(IllegalArgumentException.class, () -> sampler.generate(new int[][] {{}}, SamplingConfig.greedy(1)));
    assertThrows(IllegalArgumentException.class, () -> sampler.generate(new int[][] {{1000}}, SamplingConfig.greedy(1)));
    assertThrows(IllegalArgumentException.class, () -> sampler.generate(new int[][] {PROMPT},
        new SamplingConfig(0, 0, 1, 1, OptionalInt.of(1000), 0)));
  }
}
