package dev.sparkdpo.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.DpoLoss;
import dev.sparkdpo.dpo.DpoResult;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.model.AdamW;
import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.GptTraining;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.nd4j.linalg.learning.config.IUpdater;
import java.util.Random;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The optimizers the train command configures in DL4J, each against its PyTorch definition computed here from the
 * model's own gradients: AdamW with decoupled weight decay (this project's AdamW, PyTorch's update), RMSprop
 * (torch.optim.RMSprop), SGD with gradient-norm clipping (clip_grad_norm_). Three steps each on a fixed batch.
 */
class OptimizerTest {
  private static final DpoConfig LOSS = DpoConfig.of(0.1, 0, LossType.SIGMOID);
  private static final int WIDTH = TrainFixture.GPT.nPositions();
  private static final int STEPS = 3;
  /** PyTorch's default. */
  private static final double EPS = 1e-8;

  private static TrainOptions.Optimizer optimizer(String name, double lr, double weightDecay) {
    return new TrainOptions.Optimizer(name, lr, 0, WarmupSchedule.Decay.CONSTANT, weightDecay, 0, 0.9, 0.999, EPS,
        0.99);
  }

  private final GptCheckpoint start = GptInit.init(TrainFixture.GPT, 3);
  private final DpoBatch batch = batch(new Random(5), 6);

  private static DpoBatch batch(Random r, int n) {
    int[] prompts = new int[n];
    int[][] chosen = new int[n][], rejected = new int[n][];
    double[] refC = new double[n], refR = new double[n];
    for (int i = 0; i < n; i++) {
      prompts[i] = 1 + r.nextInt(4);
      chosen[i] = r.ints(prompts[i] + 1 + r.nextInt(6), 0, 64).toArray();
      rejected[i] = r.ints(prompts[i] + 1 + r.nextInt(6), 0, 64).toArray();
      System.arraycopy(chosen[i], 0, rejected[i], 0, prompts[i]);
      refC[i] = -20 + r.nextGaussian();
      refR[i] = -20 + r.nextGaussian();
    }
    return new DpoBatch(WIDTH, prompts, chosen, rejected, refC, refR);
  }

  /** The gradient of the batch's mean DPO loss at {@code params}. */
  private GptParams meanGradient(GptParams params) {
    GptParams grads = GptParams.zeros(TrainFixture.GPT, DataType.FLOAT);
    new GptTraining(Gpt.of(params)).step(batch.sequences(), batch.sequencePromptLengths(), logps -> {
      DpoResult r = DpoLoss.compute(LOSS, batch.pairLogps(logps));
      double[] d = new double[logps.length];
      System.arraycopy(r.dPolicyChosen(), 0, d, 0, batch.size());
      System.arraycopy(r.dPolicyRejected(), 0, d, batch.size(), batch.size());
      return d;
    }, grads);
    return grads;
  }

  private ComputationGraph trained(TrainOptions.Optimizer optimizer) {
    ComputationGraph net = PolicyNetwork.build(start, LOSS, WIDTH, optimizer, 100, 1);
    for (int s = 0; s < STEPS; s++) net.fit(batch.toDataSet());
    return net;
  }

  /**
   * Compares all weights but the attention's key biases: their gradient is 0 in exact arithmetic (a constant added to
   * every key of a query shifts all its scores alike, and softmax ignores that), so what they get is rounding noise,
   * which Adam and RMSprop scale up to steps of the learning rate's size with noise-dependent signs, in PyTorch as here.
   */
  private static void assertClose(INDArray expected, INDArray actual, double tolerance, String what) {
    GptParams e = GptParams.over(TrainFixture.GPT, expected), a = GptParams.over(TrainFixture.GPT, actual);
    GptParams s0 = GptParams.from(GptInit.init(TrainFixture.GPT, 3), DataType.FLOAT);
    int d = TrainFixture.GPT.nEmbd();
    double diff = 0, moved = 0;
    for (String name : e.views().keySet()) {
      INDArray x = e.get(name).reshape(e.get(name).length()), y = a.get(name).reshape(x.length());
      INDArray x0 = s0.get(name).reshape(x.length());
      if (name.endsWith("attn.c_attn.bias")) { // queries and values only
        x = Nd4j.concat(0, x.get(NDArrayIndex.interval(0, d)), x.get(NDArrayIndex.interval(2 * d, 3 * d)));
        y = Nd4j.concat(0, y.get(NDArrayIndex.interval(0, d)), y.get(NDArrayIndex.interval(2 * d, 3 * d)));
        x0 = Nd4j.concat(0, x0.get(NDArrayIndex.interval(0, d)), x0.get(NDArrayIndex.interval(2 * d, 3 * d)));
      }
      diff = Math.max(diff, Transforms.abs(x.sub(y)).maxNumber().doubleValue());
      moved = Math.max(moved, Transforms.abs(x.sub(x0)).maxNumber().doubleValue());
    }
    System.out.printf("OptimizerTest: %s: max |DL4J - reference| %.2e (weights moved up to %.2e)%n", what, diff, moved);
    assertTrue(moved > 100 * tolerance, what + ": the steps should move the weights, moved " + moved);
    assertTrue(diff <= tolerance, what + ": " + diff);
  }

  @Test
  void adamwIsPyTorchsAdamWWithDecayOnWeightsOnly() {
    double lr = 1e-2, wd = 0.1;
    ComputationGraph net = trained(optimizer("adamw", lr, wd));
    GptParams reference = GptParams.from(start, DataType.FLOAT);
    AdamW adamw = new AdamW(0.9, 0.999, EPS, wd);
    for (int s = 0; s < STEPS; s++) adamw.step(reference.views(), meanGradient(reference).views(), lr);
    assertClose(reference.flat(), net.params(), 2e-5, "adamw");
  }

  @Test
  void theTorchUpdatersSurviveTheNetworksJson() {
    for (String name : List.of("adamw", "rmsprop")) {
      ComputationGraph net = PolicyNetwork.build(start, LOSS, WIDTH, optimizer(name, 1e-3, 0.01), 100, 1);
      ComputationGraphConfiguration back = ComputationGraphConfiguration.fromJson(net.getConfiguration().toJson());
      assertEquals(net.getConfiguration(), back, name);
      IUpdater updater = ((BaseLayer) ((LayerVertex) back.getVertices().get(PolicyNetwork.LAYER)).getLayerConf()
          .getLayer()).getIUpdater();
      assertEquals(name.equals("adamw") ? TorchUpdaters.TorchAdam.class : TorchUpdaters.TorchRmsProp.class,
          updater.getClass());
    }
  }

  @Test
  void rmspropIsTorchsRmsprop() {
    double lr = 1e-3, alpha = 0.99, eps = EPS;
    ComputationGraph net = trained(optimizer("rmsprop", lr, 0));
    GptParams reference = GptParams.from(start, DataType.FLOAT);
    INDArray v = Nd4j.zeros(DataType.FLOAT, reference.flat().shape());
    for (int s = 0; s < STEPS; s++) {
      INDArray g = meanGradient(reference).flat();
      v.muli(alpha).addi(g.mul(g).muli(1 - alpha)); // v = alpha v + (1 - alpha) g^2
      reference.flat().subi(g.mul(lr).divi(Transforms.sqrt(v).addi(eps))); // p -= lr g / (sqrt(v) + eps)
    }
    assertClose(reference.flat(), net.params(), 2e-5, "rmsprop");
  }

  @Test
  void sgdClipsTheGradientNormOfTheMeanLoss() {
    double lr = 0.5, maxNorm = 0.05;
    ComputationGraph net = trained(TrainOptions.Optimizer.of("sgd", lr, 0, WarmupSchedule.Decay.CONSTANT, 0, maxNorm));
    GptParams reference = GptParams.from(start, DataType.FLOAT);
    for (int s = 0; s < STEPS; s++) {
      INDArray g = meanGradient(reference).flat();
      double norm = g.norm2Number().doubleValue();
      assertTrue(norm > maxNorm, "the test needs gradients above the clip norm, got " + norm);
      reference.flat().subi(g.mul(lr * maxNorm / norm)); // clip_grad_norm_ then SGD
    }
    assertClose(reference.flat(), net.params(), 1e-6, "sgd + clipping");
  }
}
