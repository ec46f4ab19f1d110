package dev.sparkdpo.dpo;

import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The GPT's parameters in DL4J's flat parameter (and gradient) view: the layer's slice of the network's vector is
 * exactly {@link GptParams}'s layout, one DL4J parameter per HF tensor, in {@link GptCheckpoint#parameterNames} order.
 *
 * <p>Parameter keys are the HF names with '_' replaced by '-' ({@code transformer.h.0.attn.c-attn.weight}): DL4J
 * joins layer name and parameter key with '_' ({@code dpo_transformer.h.0.ln-1.weight}) and splits them at the
 * <em>last</em> '_' (ComputationGraph.getParam/setParam/update and BaseMultiLayerUpdater.update in 1.0.0-M2.1), so a
 * key must not contain '_'; '.' is harmless.
 *
 * <p>One key per tensor lets DL4J tell weights from biases: {@link #weightKeys} are the 2-D tensors (embeddings and
 * linear weights) and {@link #biasKeys} the 1-D ones (linear biases, layer-norm gains and biases), the grouping
 * nanoGPT and HF's Trainer use to exempt parameters from weight decay. A layer's {@code regularization} (e.g.
 * {@code WeightDecay}) and {@code iUpdater} apply to the former, {@code regularizationBias} and {@code biasUpdater} to
 * the latter.
 */
public final class GptDpoParamInitializer implements ParamInitializer {
  private static final GptDpoParamInitializer INSTANCE = new GptDpoParamInitializer();

  /** Keys in flat order: all, the 2-D ones and the 1-D ones. */
  private record Keys(List<String> all, List<String> weights, List<String> biases, Set<String> weightSet,
      Set<String> biasSet) {
    static Keys of(Layout layout) {
      List<String> all = new ArrayList<>(), weights = new ArrayList<>(), biases = new ArrayList<>();
      layout.shapes().forEach((name, shape) -> {
        String key = paramKey(name);
        all.add(key);
        (shape.length == 2 ? weights : biases).add(key);
      });
      return new Keys(List.copyOf(all), List.copyOf(weights), List.copyOf(biases), Set.copyOf(weights),
          Set.copyOf(biases));
    }
  }

  /**
   * What the layer's parameters are: the model's (lora null) or LoRA adapters' (2-D lora_A / lora_B tensors, all
   * weight keys: weight decay reaches them, as HF's Trainer decays them).
   */
  private record Layout(GptConfig config, LoraConfig lora) {
    Map<String, long[]> shapes() {
      return lora == null ? config.parameterShapes() : LoraParams.shapes(config, lora);
    }

    Map<String, INDArray> views(INDArray flat) {
      return lora == null ? GptParams.over(config, flat).views() : LoraParams.over(config, lora, flat).views();
    }
  }

  // DL4J asks per parameter and iteration (regularization, updater blocks): built once per layout
  private static final Map<Layout, Keys> KEYS = new ConcurrentHashMap<>();

  private GptDpoParamInitializer() {}

  public static GptDpoParamInitializer getInstance() {
    return INSTANCE;
  }

  /** DL4J parameter key of an HF tensor name. */
  public static String paramKey(String hfName) {
    return hfName.replace('_', '-');
  }

  /** HF tensor name of a DL4J parameter key. */
  public static String hfName(String paramKey) {
    return paramKey.replace('-', '_');
  }

  private static Layout layout(Layer layer) {
    if (!(layer instanceof GptDpoOutputLayer l)) {
      throw new IllegalArgumentException("not a GptDpoOutputLayer: " + layer.getClass().getName());
    }
    return new Layout(l.gptConfig(), l.loraConfig());
  }

  private static Keys keys(Layer layer) {
    return KEYS.computeIfAbsent(layout(layer), Keys::of);
  }

  @Override
  public long numParams(NeuralNetConfiguration conf) {
    return numParams(conf.getLayer());
  }

  @Override
  public long numParams(Layer layer) {
    layout(layer); // checks the type
    return ((GptDpoOutputLayer) layer).parameterCount();
  }

  @Override
  public List<String> paramKeys(Layer layer) {
    return keys(layer).all();
  }

  @Override
  public List<String> weightKeys(Layer layer) {
    return keys(layer).weights();
  }

  @Override
  public List<String> biasKeys(Layer layer) {
    return keys(layer).biases();
  }

  @Override
  public boolean isWeightParam(Layer layer, String key) {
    return keys(layer).weightSet().contains(key);
  }

  @Override
  public boolean isBiasParam(Layer layer, String key) {
    return keys(layer).biasSet().contains(key);
  }

  /**
   * Views over the layer's slice of the network's parameters; with {@code initializeParams}, GPT-2 init
   * ({@link GptInit}), or PEFT's adapter init (Kaiming-uniform A, zero B) with LoRA, seeded by the network's seed.
   */
  @Override
  public Map<String, INDArray> init(NeuralNetConfiguration conf, INDArray paramsView, boolean initializeParams) {
    Layout layout = layout(conf.getLayer());
    if (initializeParams) {
      try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
        if (layout.lora() == null) {
          GptParams.over(layout.config(), paramsView).copyFrom(GptInit.init(layout.config(), conf.getSeed()));
        } else {
          paramsView.assign(LoraParams.init(layout.config(), layout.lora(), conf.getSeed(), paramsView.dataType())
              .flat().reshape(paramsView.shape()));
        }
      }
    }
    Map<String, INDArray> views = views(layout, paramsView);
    views.keySet().forEach(conf::addVariable); // the ordered parameter list ComputationGraph.init reads
    return views;
  }

  @Override
  public Map<String, INDArray> getGradientsFromFlattened(NeuralNetConfiguration conf, INDArray gradientView) {
    return views(layout(conf.getLayer()), gradientView);
  }

  private static Map<String, INDArray> views(Layout layout, INDArray flat) {
    Map<String, INDArray> out = new LinkedHashMap<>();
    layout.views(flat).forEach((name, view) -> out.put(paramKey(name), view));
    return Collections.synchronizedMap(out);
  }
}
