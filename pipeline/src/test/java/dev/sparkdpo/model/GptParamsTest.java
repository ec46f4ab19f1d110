package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The flat parameter vector and its views, and a model reading its weights through them. */
class GptParamsTest {
  static final GptConfig SMALL = new GptConfig(50, 16, 8, 2, 2, 1e-5);

  @Test
  void viewsTileTheFlatVectorInHuggingFaceOrder() {
    GptParams p = GptParams.zeros(SMALL, DataType.FLOAT);
    assertEquals(GptInit.init(SMALL, 1).parameterCount(), GptParams.count(SMALL));
    assertEquals(List.copyOf(GptCheckpoint.parameterNames(SMALL)), List.copyOf(p.views().keySet()));
    // mark each view with its index: the flat vector must then read 0,0,..,1,1,.. in order with no gaps
    int i = 0;
    for (INDArray v : p.views().values()) v.assign(++i);
    float[] flat = p.flat().toFloatVector();
    int k = 0;
    i = 0;
    for (Map.Entry<String, long[]> e : GptCheckpoint.parameterShapes(SMALL).entrySet()) {
      i++;
      long n = Tensor.numel(e.getValue());
      for (long j = 0; j < n; j++, k++) assertEquals(i, flat[k], e.getKey() + " element " + j);
      assertArrayEquals(e.getValue(), p.get(e.getKey()).shape(), e.getKey());
    }
    assertEquals(flat.length, k);
  }

  @Test
  void checkpointRoundTripIsBitExact() {
    GptCheckpoint ckpt = GptInit.init(SMALL, 7);
    GptCheckpoint back = GptParams.from(ckpt, DataType.FLOAT).toCheckpoint();
    for (String name : ckpt.weights().keySet()) {
      assertArrayEquals(ckpt.weights().get(name).data(), back.weights().get(name).data(), 0f, name);
    }
  }

  @Test
  void overAnExistingVectorSharesItsMemory() {
    INDArray flat = Nd4j.zeros(DataType.DOUBLE, 1, GptParams.count(SMALL));
    GptParams p = GptParams.over(SMALL, flat);
    p.get("transformer.ln_f.bias").assign(3);
    assertEquals(3.0 * SMALL.nEmbd(), flat.sumNumber().doubleValue(), 0);
    flat.assign(2);
    assertEquals(2.0, p.get("transformer.wte.weight").getDouble(0, 0), 0);
    assertEquals(DataType.DOUBLE, p.dataType());
  }

  @Test
  void wrongLengthOrShapeIsRejected() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> GptParams.over(SMALL, Nd4j.zeros(DataType.FLOAT, 1, GptParams.count(SMALL) - 1)));
    assertTrue(e.getMessage().contains("needs " + GptParams.count(SMALL)), e.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> GptParams.over(SMALL, Nd4j.zeros(DataType.FLOAT, 2, GptParams.count(SMALL) / 2 + 1)));
  }

  @Test
  void modelSeesInPlaceUpdatesWithoutRebuilding() {
    GptParams p = GptParams.from(GptInit.init(SMALL, 3), DataType.FLOAT);
    Gpt gpt = Gpt.of(p);
    int[][] tokens = {{1, 2, 3, 4, 5}};
    float[] before = gpt.tokenLogProbs(tokens)[0];
    p.flat().muli(1.5);
    float[] after = gpt.tokenLogProbs(tokens)[0];
    assertNotEquals(before[3], after[3]);
    assertArrayEquals(after, Gpt.of(GptParams.from(p.toCheckpoint(), DataType.FLOAT)).tokenLogProbs(tokens)[0], 0f);
  }

  @Test
  void lastBlockOnLaterPositionsOnlyGivesTheSameHiddenStates() {
    Gpt gpt = Gpt.of(GptParams.from(GptInit.init(SMALL, 5), DataType.DOUBLE));
    int[][] tokens = {{1, 2, 3, 4, 5, 6, 7}, {9, 8, 7, 6}};
    TokenBatch batch = TokenBatch.of(tokens, SMALL);
    INDArray all = gpt.hidden(batch).reshape('c', 2, 7, SMALL.nEmbd());
    int from = 3;
    INDArray later = gpt.hidden(batch, from).reshape('c', 2, 7 - from, SMALL.nEmbd());
    for (int b = 0; b < 2; b++) {
      for (int t = from; t < 7; t++) {
        for (int d = 0; d < SMALL.nEmbd(); d++) {
          assertEquals(all.getDouble(b, t, d), later.getDouble(b, t - from, d), 1e-12, b + "," + t + "," + d);
        }
      }
    }
  }
}
