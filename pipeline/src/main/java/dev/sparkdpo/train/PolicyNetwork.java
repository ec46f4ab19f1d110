package dev.sparkdpo.train;

import dev.sparkdpo.dpo.DpoBatch;
import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.GptDpoLayer;
import dev.sparkdpo.dpo.GptDpoOutputLayer;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import java.util.List;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.GradientNormalization;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.learning.regularization.L2Regularization;
import org.nd4j.linalg.learning.regularization.Regularization;
import org.nd4j.linalg.learning.regularization.WeightDecay;
import org.nd4j.linalg.schedule.ISchedule;

/**
 * The policy as the DL4J network DL4J Spark trains: network input → {@link GptDpoOutputLayer} (the whole GPT-2 and the
 * loss), float32, with the run's optimizer, learning-rate schedule, weight decay and gradient clipping.
 *
 * <p>The model is one DL4J layer, so DL4J's per-layer L2 clipping ({@code ClipL2PerLayer}) is clipping of the whole
 * gradient's norm, as torch's {@code clip_grad_norm_}; DL4J applies it after dividing by the minibatch size, so the
 * threshold applies to the gradient of the mean loss, as in Hugging Face's Trainer. Weight decay reaches the weight
 * matrices and the embeddings (GptDpoParamInitializer's weight keys), not biases and layer norms.
 */
public final class PolicyNetwork {
  public static final String INPUT = "pairs";
  public static final String LAYER = "policy";

  private PolicyNetwork() {}

  /** A network over a copy of {@code start}'s weights, for sequences of up to {@code width} tokens. */
  public static ComputationGraph build(GptCheckpoint start, DpoConfig loss, int width,
      TrainOptions.Optimizer optimizer, long totalSteps, long seed) {
    ComputationGraph net = new ComputationGraph(configuration(new GptDpoOutputLayer(start.config(), loss, width),
        width, optimizer, totalSteps, seed));
    net.init(GptParams.from(start, DataType.FLOAT).flat(), false);
    return net;
  }

  /**
   * A network whose parameters are LoRA adapters (PEFT's init, seeded by {@code seed}) over the frozen model in
   * {@code baseModel} (a qualified directory with weights of {@code baseFingerprint}), which each JVM loads once
   * through the executor model cache: the network, its updater state and what parameter averaging moves are the
   * adapters only.
   */
  public static ComputationGraph buildLora(GptConfig gpt, LoraConfig lora, String baseModel, String baseFingerprint,
      DpoConfig loss, int width, TrainOptions.Optimizer optimizer, long totalSteps, long seed) {
    GptDpoOutputLayer layer = new GptDpoOutputLayer(gpt, loss, width).withLora(lora, baseModel, baseFingerprint);
    ComputationGraph net = new ComputationGraph(configuration(layer, width, optimizer, totalSteps, seed));
    net.init(LoraParams.init(gpt, lora, seed, DataType.FLOAT).flat(), false);
    return net;
  }

  private static ComputationGraphConfiguration configuration(GptDpoOutputLayer layer, int width,
      TrainOptions.Optimizer optimizer, long totalSteps, long seed) {
    layer.setLayerName(LAYER);
    ISchedule lr = schedule(optimizer, totalSteps);
    IUpdater updater = updater(optimizer, lr);
    layer.setIUpdater(updater);
    layer.setBiasUpdater(updater.clone());
    layer.setRegularization(regularization(optimizer));
    layer.setRegularizationBias(List.of());
    if (optimizer.maxGradNorm() > 0) {
      layer.setGradientNormalization(GradientNormalization.ClipL2PerLayer);
      layer.setGradientNormalizationThreshold(optimizer.maxGradNorm());
    } else {
      layer.setGradientNormalization(GradientNormalization.None);
    }
    ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
        .seed(seed)
        .dataType(DataType.FLOAT)
        .updater(updater)
        .graphBuilder()
        .addInputs(INPUT)
        .setInputTypes(InputType.feedForward(DpoBatch.featureColumns(width)))
        .addLayer(LAYER, layer, INPUT)
        .setOutputs(LAYER)
        .build();
    return conf;
  }

  /** The learning rate of each step (0-based): warmup, then constant or cosine decay to 0 at {@code totalSteps}. */
  public static WarmupSchedule schedule(TrainOptions.Optimizer optimizer, long totalSteps) {
    return new WarmupSchedule(optimizer.learningRate(), optimizer.warmupSteps(),
        (int) Math.min(Integer.MAX_VALUE, Math.max(totalSteps, optimizer.warmupSteps() + 1L)), optimizer.decay());
  }

  static IUpdater updater(TrainOptions.Optimizer o, ISchedule lr) {
    return switch (o.name()) {
      // torch.optim's update rules (TorchUpdaters): DL4J's own place epsilon elsewhere
      case "adamw", "adam" -> TorchUpdaters.adam(lr, o.adamBeta1(), o.adamBeta2(), o.epsilon());
      case "rmsprop" -> TorchUpdaters.rmsprop(lr, o.rmsDecay(), o.epsilon());
      case "sgd" -> Sgd.builder().learningRateSchedule(lr).build();
      default -> throw new IllegalArgumentException("unknown optimizer " + o.name());
    };
  }

  /**
   * adamw: decoupled weight decay scaled by the learning rate (torch's AdamW: p -= lr * wd * p); the others: L2 added to
   * the gradient (torch's weight_decay argument of Adam, RMSprop and SGD).
   */
  static List<Regularization> regularization(TrainOptions.Optimizer o) {
    if (o.weightDecay() == 0) return List.of();
    return o.name().equals("adamw") ? List.of(new WeightDecay(o.weightDecay(), true))
        : List.of(new L2Regularization(o.weightDecay()));
  }

  public static GptDpoLayer layer(ComputationGraph net) {
    return (GptDpoLayer) net.getLayer(LAYER);
  }

  public static GptConfig gptConfig(ComputationGraph net) {
    return layer(net).layerConf().gptConfig();
  }

  /** The adapters' config, or null for full fine-tuning. */
  public static LoraConfig loraConfig(ComputationGraph net) {
    return layer(net).layerConf().loraConfig();
  }

  /** The network's adapters (views of its parameters), or null for full fine-tuning. */
  public static LoraParams adapters(ComputationGraph net) {
    LoraConfig lora = loraConfig(net);
    return lora == null ? null : LoraParams.over(gptConfig(net), lora, net.params());
  }

  /** The current weights as a checkpoint (copies); full fine-tuning only (see {@link #adapters}). */
  public static GptCheckpoint checkpoint(ComputationGraph net) {
    return GptParams.over(gptConfig(net), net.params()).toCheckpoint();
  }

  /** The optimizer's state (Adam's m and v, RMSprop's cache; empty for SGD) as one flat vector (a view). */
  public static INDArray updaterState(ComputationGraph net) {
    return net.getUpdater(true).getStateViewArray();
  }
}
