package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.TestData;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.Safetensors;
import dev.sparkdpo.model.Tensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.StreamSupport;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Sgd;

/**
 * The layer in a float32 ComputationGraph against HF transformers (fixture hf-gpt2-tiny): golden.json's 4 pairs give
 * the mean sigmoid DPO loss (beta 0.1) and grads.safetensors its gradient d(mean loss)/d(param).
 */
class GptDpoGoldenTest {
  static final double LOSS_TOL = 1e-5;
  static final double GRAD_REL_TOL = 1e-4; // max abs diff <= GRAD_REL_TOL * max |HF grad| of each tensor
  static final int WIDTH = 32;              // > the longest golden sequence (12): rows are right-padded
  /**
   * Sgd learning rate of the probe step, a power of two (exact scaling): the float32 parameter change must be large
   * against the parameter's rounding (a layer-norm gain of 1 moves by ~1e-3 * lr; at lr 1, float32's 1.2e-7 spacing
   * near 1 would be 1e-4 of it).
   */
  static final double LR = 1024;

  static Path dir;
  static GptCheckpoint checkpoint;
  static DpoBatch batch;
  static double goldenLoss;
  static double[] goldenChosen, goldenRejected, goldenPairLoss;
  static Map<String, Tensor> hfGrads;

  @BeforeAll
  static void load() throws Exception {
    dir = TestData.resolve("fixtures/hf-gpt2-tiny");
    checkpoint = GptCheckpoint.load(dir);
    hfGrads = Safetensors.read(dir.resolve("grads.safetensors"));
    JsonNode root = new ObjectMapper().readTree(dir.resolve("golden.json").toFile());
    assertEquals(0.1, root.get("beta").asDouble());
    goldenLoss = root.get("mean_sigmoid_loss").asDouble();
    JsonNode pairs = root.get("pairs");
    int n = pairs.size();
    assertEquals(4, n);
    int[] prompts = new int[n];
    int[][] chosen = new int[n][], rejected = new int[n][];
    double[] refChosen = new double[n], refRejected = new double[n];
    goldenChosen = new double[n];
    goldenRejected = new double[n];
    goldenPairLoss = new double[n];
    for (int i = 0; i < n; i++) {
      JsonNode p = pairs.get(i);
      prompts[i] = p.get("prompt").size();
      chosen[i] = ints(p.get("chosen_ids"));
      rejected[i] = ints(p.get("rejected_ids"));
      refChosen[i] = p.get("ref_chosen_logp").asDouble();
      refRejected[i] = p.get("ref_rejected_logp").asDouble();
      goldenChosen[i] = p.get("chosen_logp").asDouble();
      goldenRejected[i] = p.get("rejected_logp").asDouble();
      goldenPairLoss[i] = p.get("losses").get("sigmoid").asDouble();
    }
    batch = new DpoBatch(WIDTH, prompts, chosen, rejected, refChosen, refRejected);
  }

  static int[] ints(JsonNode array) {
    return StreamSupport.stream(array.spliterator(), false).mapToInt(JsonNode::asInt).toArray();
  }

  /** A float32 graph with the fixture's weights copied into the layer's parameter view. */
  static ComputationGraph network(double learningRate) {
    GptConfig config = checkpoint.config();
    DpoConfig dpo = new DpoConfig(0.1, 0.0, List.of(LossType.SIGMOID), null, false);
    ComputationGraph g = DpoLayerFixtures.graph(new GptDpoOutputLayer(config, dpo, WIDTH), DataType.FLOAT,
        new Sgd(learningRate), 1);
    GptParams.over(config, DpoLayerFixtures.layerOf(g).params()).copyFrom(checkpoint);
    return g;
  }

  @Test
  void scoreIsTheMeanLossAndActivationsAreThePolicyLogProbs() {
    ComputationGraph g = network(LR);
    DataSet data = batch.toDataSet();
    assertEquals(goldenLoss, g.score(data), LOSS_TOL, "score");

    INDArray logps = g.outputSingle(data.getFeatures());
    assertEquals(DataType.FLOAT, logps.dataType());
    for (int i = 0; i < batch.size(); i++) {
      assertEquals(goldenChosen[i], logps.getDouble(i, 0), 1e-4, "chosen logp " + i);
      assertEquals(goldenRejected[i], logps.getDouble(i, 1), 1e-4, "rejected logp " + i);
    }
    DpoResult last = DpoLayerFixtures.layerOf(g).lastResult();
    assertEquals(goldenLoss, last.metrics().get("loss"), LOSS_TOL);

    INDArray perPair = g.scoreExamples(data, true);
    for (int i = 0; i < batch.size(); i++) assertEquals(goldenPairLoss[i], perPair.getDouble(i), LOSS_TOL, "pair " + i);
  }

  /** What backprop hands DL4J: the gradient of the loss summed over the 4 pairs, before the updater's division. */
  @Test
  void backpropGivesTheSummedGradient() {
    ComputationGraph g = network(LR);
    DataSet data = batch.toDataSet();
    g.setInput(0, data.getFeatures());
    g.setLabel(0, data.getLabels());
    g.computeGradientAndScore();
    assertEquals(goldenLoss, g.score(), LOSS_TOL, "score after computeGradientAndScore");
    INDArray raw = DpoLayerFixtures.layerOf(g).getGradientsViewArray();
    compare(GptParams.over(checkpoint.config(), raw.div(batch.size())), "raw gradient / 4");
  }

  /** What training applies: one Sgd step through DL4J's updater (which divides by the minibatch size). */
  @Test
  void theUpdaterAppliesTheGradientOfTheMeanLoss() {
    ComputationGraph g = network(LR);
    INDArray before = g.params().dup().castTo(DataType.DOUBLE);
    g.fit(batch.toDataSet());
    INDArray applied = before.subi(g.params().castTo(DataType.DOUBLE)).divi(LR);
    compare(GptParams.over(checkpoint.config(), applied), "applied step / lr");
  }

  private static void compare(GptParams actual, String what) {
    double worst = 0;
    String worstName = "";
    for (Map.Entry<String, Tensor> e : hfGrads.entrySet()) {
      float[] want = e.getValue().data();
      INDArray got = actual.get(e.getKey()).castTo(DataType.DOUBLE).reshape(want.length);
      double maxAbs = 0, maxDiff = 0;
      for (int i = 0; i < want.length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(want[i]));
        maxDiff = Math.max(maxDiff, Math.abs(want[i] - got.getDouble(i)));
      }
      assertTrue(maxAbs > 0, e.getKey() + ": HF gradient is all zeros");
      if (maxDiff / maxAbs > worst) {
        worst = maxDiff / maxAbs;
        worstName = e.getKey();
      }
      assertTrue(maxDiff <= GRAD_REL_TOL * maxAbs,
          what + ", " + e.getKey() + ": max abs diff " + maxDiff + " > " + GRAD_REL_TOL + " * " + maxAbs);
    }
    System.out.printf("GptDpoGoldenTest %s: worst relative error %.2e (%s)%n", what, worst, worstName);
  }
}
