package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The batched KV-cached sampler on the tiny HF GPT-2 (fixtures/hf-gpt2-tiny), with the 8 golden sequences (9 to 21
 * tokens) as a ragged batch: cached logits against the full forward at every position, greedy decoding against the
 * full forward recomputed per step, seeds independent of the batch, EOS.
 */
class BatchedSamplerTest {
  static Gpt gpt;
  static Sampler sampler;
  static int[][] sequences; // the golden chosen and rejected ids, 8 rows of different lengths

  @BeforeAll
  static void load() throws Exception {
    gpt = Gpt.from(GptCheckpoint.load(ModelFixtures.tinyGpt2()));
    sampler = new Sampler(gpt);
    JsonNode root = new ObjectMapper().readTree(ModelFixtures.tinyGpt2().resolve("golden.json").toFile());
    List<int[]> rows = new ArrayList<>();
    for (JsonNode pair : root.get("pairs")) {
      for (String side : List.of("chosen_ids", "rejected_ids")) {
        int[] ids = new int[pair.get(side).size()];
        for (int i = 0; i < ids.length; i++) ids[i] = pair.get(side).get(i).asInt();
        rows.add(ids);
      }
    }
    sequences = rows.toArray(int[][]::new);
    assertEquals(8, sequences.length);
    assertTrue(Arrays.stream(sequences).mapToInt(r -> r.length).distinct().count() >= 5, "lengths should differ");
  }

  @Test
  void cachedLogitsEqualFullForwardAtEveryPositionOfARaggedBatch() {
    INDArray full = gpt.logits(sequences); // [8, 21, V], right-padded
    int b = sequences.length;
    // ragged prefill: row i feeds its first 1 + i % 4 tokens, then one token per step while it has any left
    int[] fed = new int[b];
    int[][] prefill = new int[b][];
    for (int i = 0; i < b; i++) {
      fed[i] = 1 + i % 4;
      prefill[i] = Arrays.copyOf(sequences[i], fed[i]);
    }
    Sampler.Decoder decoder = sampler.new Decoder(b, 21);
    float[][] logits = decoder.feed(prefill);
    int[] live = java.util.stream.IntStream.range(0, b).toArray(); // decoder row k is sequence live[k]
    double maxErr = 0;
    int checked = 0;
    while (true) {
      for (int k = 0; k < live.length; k++) {
        int row = live[k], pos = fed[row] - 1;
        for (int v = 0; v < logits[k].length; v++) {
          double err = Math.abs(full.getDouble(row, pos, v) - logits[k][v]);
          maxErr = Math.max(maxErr, err);
          assertTrue(err <= 1e-5, "row " + row + " position " + pos + " token " + v + ": error " + err);
        }
        checked++;
      }
      int[] liveNow = live;
      int[] keep = java.util.stream.IntStream.range(0, live.length)
          .filter(k -> fed[liveNow[k]] < sequences[liveNow[k]].length).toArray();
      if (keep.length == 0) break;
      if (keep.length < live.length) decoder.keep(keep);
      live = Arrays.stream(keep).map(k -> liveNow[k]).toArray();
      int[][] next = new int[live.length][];
      for (int k = 0; k < live.length; k++) next[k] = new int[] {sequences[live[k]][fed[live[k]]++]};
      logits = decoder.feed(next);
    }
    int expected = Arrays.stream(sequences).mapToInt(s -> s.length).sum() - Arrays.stream(prefill)
        .mapToInt(p -> p.length - 1).sum();
    assertEquals(expected, checked); // every position from each row's prefill end to its last token
    System.out.printf("BatchedSamplerTest max abs logit error, batched cache vs full forward: %.2e over %d positions%n",
        maxErr, checked);
  }

  @Test
  void greedyBatchEqualsArgmaxOfTheFullForwardRecomputedPerStep() {
    int[][] ragged = new int[sequences.length][];
    for (int i = 0; i < ragged.length; i++) ragged[i] = Arrays.copyOf(sequences[i], 3 + i); // 3..10 tokens
    int steps = 12;
    int[][] got = sampler.generate(ragged, SamplingConfig.greedy(steps));
    // reference: the whole (right-padded) batch through the full forward at every step, argmax at each row's end
    int[][] seqs = Arrays.stream(ragged).map(int[]::clone).toArray(int[][]::new);
    for (int s = 0; s < steps; s++) {
      INDArray logits = gpt.logits(seqs);
      for (int i = 0; i < seqs.length; i++) {
        float[] last = logits.get(org.nd4j.linalg.indexing.NDArrayIndex.point(i),
            org.nd4j.linalg.indexing.NDArrayIndex.point(seqs[i].length - 1),
            org.nd4j.linalg.indexing.NDArrayIndex.all()).toFloatVector();
        seqs[i] = Arrays.copyOf(seqs[i], seqs[i].length + 1);
        seqs[i][seqs[i].length - 1] = Sampler.argmax(last);
      }
    }
    for (int i = 0; i < ragged.length; i++) {
      assertArrayEquals(Arrays.copyOfRange(seqs[i], ragged[i].length, seqs[i].length), got[i], "row " + i);
    }
    // top-k 1 at temperature 1 is greedy too
    assertArrayEquals(got, sampler.generate(ragged, new SamplingConfig(1, 1, 1, steps, OptionalInt.empty(), 5)));
  }

  @Test
  void sameSeedSameSamplesInABatchOf1AndOf8() {
    int[][] prompts = new int[8][];
    for (int i = 0; i < 8; i++) prompts[i] = Arrays.copyOf(sequences[i], 2 + i);
    SamplingConfig s = new SamplingConfig(1.0, 0, 0.95, 24, OptionalInt.empty(), 2024);
    // per-index streams: the first k rows of a batch of 8 are the rows of the batch of the first k prompts
    int[][] all = sampler.generate(prompts, s);
    assertArrayEquals(all[0], sampler.generate(new int[][] {prompts[0]}, s)[0]);
    assertArrayEquals(Arrays.copyOf(all, 3), sampler.generate(Arrays.copyOf(prompts, 3), s));
    assertArrayEquals(all, sampler.generate(prompts, s), "same seed, same batch, same samples");
    assertArrayEquals(all, new Sampler(gpt.withRowThreads(3)).generate(prompts, s), "split over 3 threads");
    assertFalse(Arrays.deepEquals(all, sampler.generate(prompts, new SamplingConfig(1.0, 0, 0.95, 24,
        OptionalInt.empty(), 2025))), "another seed gave identical samples");
    // per-row seeds: each prompt alone (batch of 1) equals its row in a batch of 8 in reverse order
    long[] rowSeeds = {11, 12, 13, 14, 15, 16, 17, 18};
    int[][] reversed = new int[8][];
    long[] reversedSeeds = new long[8];
    for (int i = 0; i < 8; i++) {
      reversed[i] = prompts[7 - i];
      reversedSeeds[i] = rowSeeds[7 - i];
    }
    int[][] batch = sampler.generate(reversed, reversedSeeds, s);
    for (int i = 0; i < 8; i++) {
      int[] alone = sampler.generate(new int[][] {prompts[i]}, new long[] {rowSeeds[i]}, s)[0];
      assertArrayEquals(alone, batch[7 - i], "prompt " + i + " alone vs in the batch of 8");
      assertEquals(24, alone.length);
    }
    assertFalse(Arrays.deepEquals(batch, sampler.generate(reversed, new long[8], s)), "row seeds are used");
  }

  @Test
  void eosStopsEachRowOnItsOwnAndTheOthersRunOn() {
    int[][] prompts = new int[8][];
    for (int i = 0; i < 8; i++) prompts[i] = Arrays.copyOf(sequences[i], 2 + i);
    int steps = 16;
    int[][] free = sampler.generate(prompts, SamplingConfig.greedy(steps));
    int eos = free[0][3]; // row 0 produces it at step 3 at the latest
    int[][] stopped = sampler.generate(prompts, new SamplingConfig(0, 0, 1, steps, OptionalInt.of(eos), 0));
    int stoppedRows = 0;
    for (int i = 0; i < 8; i++) {
      int stop = 0;
      while (stop < steps - 1 && free[i][stop] != eos) stop++;
      assertArrayEquals(Arrays.copyOf(free[i], stop + 1), stopped[i], "row " + i);
      if (stopped[i].length < steps) {
        stoppedRows++;
        assertEquals(eos, stopped[i][stopped[i].length - 1], "row " + i + " ends with EOS");
      }
    }
    assertTrue(stopped[0].length <= 4, "row 0 stopped at EOS");
    assertTrue(stoppedRows < 8, "some rows ran to max-new-tokens (the batch went on without the stopped ones)");
  }
}
