package dev.sparkdpo.dpo;

import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;

import org.deeplearning4j.nn.api.ParamInitializer;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.conf.memory.LayerMemoryReport;
import org.deeplearning4j.nn.conf.memory.MemoryReport;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.activations.impl.ActivationIdentity;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.IUpdater;

/**
 * Configuration of a DL4J output layer that is a whole GPT-2 policy model plus the DPO loss ({@link GptDpoLayer} is
 * the layer DL4J builds from it). Put it directly after the network input in a ComputationGraph (or as the only
 * layer of a MultiLayerNetwork); its input is a {@link DpoBatch} DataSet of width {@link #getWidth()}.
 *
 * <p>It extends DL4J's {@link BaseLayer} configuration, so the network-wide updater, bias updater and gradient
 * normalization apply to it as to any built-in layer, and its {@code regularization} / {@code regularizationBias}
 * reach the weights / biases as {@link GptDpoParamInitializer} groups them. Set weight decay on the layer
 * ({@code setRegularization(List.of(new WeightDecay(wd, true)))}, decoupled and scaled by the learning rate as in
 * AdamW), not network-wide: DL4J 1.0.0-M2.1 applies a network-wide {@code weightDecay(wd)} twice (the builder copies
 * it into the layer, then LayerValidation.generalValidation appends it again), to its own layers too.
 *
 * <p>The settings are plain fields with getters and setters because DL4J configurations travel as JSON (to Spark
 * executors too); {@link #gptConfig()} and {@link #dpoConfig()} assemble (and validate) them.
 */
public class GptDpoOutputLayer extends BaseLayer {
  private static final long serialVersionUID = 1L;

  // GPT-2 architecture (GptConfig)
  private int vocabSize;
  private int nPositions;
  private int nEmbd;
  private int nLayer;
  private int nHead;
  private double layerNormEpsilon = 1e-5;

  // DPO loss (DpoConfig)
  private double beta = 0.1;
  private double labelSmoothing;
  private List<LossType> lossTypes = new ArrayList<>(List.of(LossType.SIGMOID));
  private double[] lossWeights; // null: 1 per loss type
  private boolean referenceFree;
  private boolean ipoLengthNormalized;

  // DpoBatch width W (tokens per sequence in the features)
  private int width;

  // LoRA (loraRank 0: none, the layer's parameters are the whole model's): the layer's parameters are then the
  // adapters only; the frozen base model is not part of the network (never serialized, averaged or checkpointed with
  // it) and each JVM loads it once from baseModel (a qualified model directory) through the executor model cache,
  // checked against baseModelFingerprint
  private int loraRank;
  private double loraAlpha = LoraConfig.DEFAULT_ALPHA;
  private double loraDropout;
  private List<String> loraTargets = new ArrayList<>(LoraConfig.DEFAULT_TARGETS);
  private String baseModel;
  private String baseModelFingerprint;

  /** For JSON deserialisation. */
  public GptDpoOutputLayer() {
    this.activationFn = new ActivationIdentity(); // no activation function applies (and DL4J's checks want one)
  }

  public GptDpoOutputLayer(GptConfig gpt, DpoConfig dpo, int width) {
    this();
    copy(gpt);
    copy(dpo);
    this.width = width;
    validate();
  }

  public GptConfig gptConfig() {
    return new GptConfig(vocabSize, nPositions, nEmbd, nLayer, nHead, layerNormEpsilon);
  }

  /** The adapters' config, or null without LoRA. */
  public LoraConfig loraConfig() {
    return loraRank == 0 ? null : new LoraConfig(loraRank, loraAlpha, loraDropout, loraTargets);
  }

  /**
   * Makes the layer's parameters LoRA adapters over the frozen model in {@code baseModel} (a qualified directory
   * every executor reads; its weights must have {@code baseModelFingerprint}, as ModelFingerprint computes it).
   */
  public GptDpoOutputLayer withLora(LoraConfig lora, String baseModel, String baseModelFingerprint) {
    loraRank = lora.rank();
    loraAlpha = lora.alpha();
    loraDropout = lora.dropout();
    loraTargets = new ArrayList<>(lora.targets());
    this.baseModel = baseModel;
    this.baseModelFingerprint = baseModelFingerprint;
    validate();
    return this;
  }

  /** Number of the layer's (trainable) parameters: the adapters' with LoRA, else the model's. */
  public long parameterCount() {
    LoraConfig lora = loraConfig();
    return lora == null ? GptParams.count(gptConfig()) : LoraParams.count(gptConfig(), lora);
  }

  public DpoConfig dpoConfig() {
    return new DpoConfig(beta, labelSmoothing, lossTypes, lossWeights, referenceFree, ipoLengthNormalized);
  }

  private void copy(GptConfig c) {
    vocabSize = c.vocabSize();
    nPositions = c.nPositions();
    nEmbd = c.nEmbd();
    nLayer = c.nLayer();
    nHead = c.nHead();
    layerNormEpsilon = c.layerNormEpsilon();
  }

  private void copy(DpoConfig c) {
    beta = c.beta();
    labelSmoothing = c.labelSmoothing();
    lossTypes = new ArrayList<>(c.losses());
    lossWeights = c.weights();
    referenceFree = c.referenceFree();
    ipoLengthNormalized = c.ipoLengthNormalized();
  }

  /** Throws unless the settings make a model, a loss and a batch width the model can take. */
  public void validate() {
    GptConfig gpt = gptConfig();
    dpoConfig();
    if (width < 1 || width > gpt.nPositions()) {
      throw new IllegalArgumentException("width (tokens per sequence) must be in [1, n_positions = "
          + gpt.nPositions() + "], got " + width);
    }
    if (width > DpoBatch.MAX_TOKEN_ID || gpt.vocabSize() > DpoBatch.MAX_TOKEN_ID + 1) {
      throw new IllegalArgumentException("vocabulary and width must be <= 2^24 to travel exactly as float32 features");
    }
    if (loraRank < 0) throw new IllegalArgumentException("--lora-rank must be >= 1 (0: no adapters), got " + loraRank);
    LoraConfig lora = loraConfig();
    if (lora != null) {
      LoraParams.shapes(gpt, lora); // the targets name layers of this model
      if (baseModel == null || baseModelFingerprint == null) {
        throw new IllegalArgumentException("LoRA adapters need the frozen base model's directory and fingerprint");
      }
    }
  }

  // ---------------------------------------------------------------------------------------------------------------
  // DL4J

  @Override
  public org.deeplearning4j.nn.api.Layer instantiate(NeuralNetConfiguration conf,
      Collection<TrainingListener> trainingListeners, int layerIndex, INDArray layerParamsView,
      boolean initializeParams, DataType networkDataType) {
    validate();
    if (networkDataType != DataType.FLOAT && networkDataType != DataType.DOUBLE) {
      throw new IllegalArgumentException("GptDpoOutputLayer computes in float32 or float64, not " + networkDataType);
    }
    GptDpoLayer layer = new GptDpoLayer(conf, networkDataType);
    layer.setListeners(trainingListeners);
    layer.setIndex(layerIndex);
    layer.setParamsViewArray(layerParamsView);
    Map<String, INDArray> params = initializer().init(conf, layerParamsView, initializeParams);
    layer.setParamTable(params);
    layer.setConf(conf);
    return layer;
  }

  @Override
  public ParamInitializer initializer() {
    return GptDpoParamInitializer.getInstance();
  }

  /** Per pair: the policy's summed response log-probs (chosen, rejected). */
  @Override
  public InputType getOutputType(int layerIndex, InputType inputType) {
    return InputType.feedForward(2);
  }

  /** The input size is fixed by the width; this only checks that the network's input type agrees. */
  @Override
  public void setNIn(InputType inputType, boolean override) {
    int expected = DpoBatch.featureColumns(width);
    if (inputType.getType() != InputType.Type.FF || inputType.arrayElementsPerExample() != expected) {
      throw new IllegalStateException("GptDpoOutputLayer (width " + width + ") takes feed-forward input of size 3 + 2"
          + " * width = " + expected + " (a DpoBatch), got " + inputType);
    }
  }

  @Override
  public InputPreProcessor getPreProcessorForInputType(InputType inputType) {
    return null;
  }

  @Override
  public boolean isPretrainParam(String paramName) {
    return false;
  }

  /**
   * Rough per-pair estimate: the activations GptTraining keeps for the backward pass (per token and block about 16
   * D values plus H attention rows of T) for 2 sequences of W tokens, and one row of logits per token.
   */
  @Override
  public LayerMemoryReport getMemoryReport(InputType inputType) {
    GptConfig c = gptConfig();
    long params = parameterCount();
    IUpdater updater = getIUpdater();
    long updaterState = updater == null ? 0 : updater.stateSize(params);
    long tokens = 2L * width;
    long perBlock = tokens * (16L * c.nEmbd() + (long) c.nHead() * width);
    long perPair = c.nLayer() * perBlock + tokens * (4L * c.nEmbd() + c.vocabSize());
    return new LayerMemoryReport.Builder(getLayerName(), GptDpoOutputLayer.class, inputType,
        getOutputType(-1, inputType))
        .standardMemory(params, updaterState)
        .workingMemory(0, perPair, 0, perPair)
        .cacheMemory(MemoryReport.CACHE_MODE_ALL_ZEROS, MemoryReport.CACHE_MODE_ALL_ZEROS)
        .build();
  }

  @Override
  public GptDpoOutputLayer clone() {
    GptDpoOutputLayer c = (GptDpoOutputLayer) super.clone();
    c.lossTypes = new ArrayList<>(lossTypes);
    c.lossWeights = lossWeights == null ? null : lossWeights.clone();
    c.loraTargets = loraTargets == null ? null : new ArrayList<>(loraTargets);
    return c;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // bean accessors (JSON)

  public int getVocabSize() {
    return vocabSize;
  }

  public void setVocabSize(int vocabSize) {
    this.vocabSize = vocabSize;
  }

  public int getNPositions() {
    return nPositions;
  }

  public void setNPositions(int nPositions) {
    this.nPositions = nPositions;
  }

  public int getNEmbd() {
    return nEmbd;
  }

  public void setNEmbd(int nEmbd) {
    this.nEmbd = nEmbd;
  }

  public int getNLayer() {
    return nLayer;
  }

  public void setNLayer(int nLayer) {
    this.nLayer = nLayer;
  }

  public int getNHead() {
    return nHead;
  }

  public void setNHead(int nHead) {
    this.nHead = nHead;
  }

  public double getLayerNormEpsilon() {
    return layerNormEpsilon;
  }

  public void setLayerNormEpsilon(double layerNormEpsilon) {
    this.layerNormEpsilon = layerNormEpsilon;
  }

  public double getBeta() {
    return beta;
  }

  public void setBeta(double beta) {
    this.beta = beta;
  }

  public double getLabelSmoothing() {
    return labelSmoothing;
  }

  public void setLabelSmoothing(double labelSmoothing) {
    this.labelSmoothing = labelSmoothing;
  }

  public List<LossType> getLossTypes() {
    return lossTypes;
  }

  public void setLossTypes(List<LossType> lossTypes) {
    this.lossTypes = lossTypes == null ? null : new ArrayList<>(lossTypes);
  }

  public double[] getLossWeights() {
    return lossWeights;
  }

  public void setLossWeights(double[] lossWeights) {
    this.lossWeights = lossWeights;
  }

  public boolean isReferenceFree() {
    return referenceFree;
  }

  public void setReferenceFree(boolean referenceFree) {
    this.referenceFree = referenceFree;
  }

  public boolean isIpoLengthNormalized() {
    return ipoLengthNormalized;
  }

  public void setIpoLengthNormalized(boolean ipoLengthNormalized) {
    this.ipoLengthNormalized = ipoLengthNormalized;
  }

  public int getWidth() {
    return width;
  }

  public void setWidth(int width) {
    this.width = width;
  }

  public int getLoraRank() {
    return loraRank;
  }

  public void setLoraRank(int loraRank) {
    this.loraRank = loraRank;
  }

  public double getLoraAlpha() {
    return loraAlpha;
  }

  public void setLoraAlpha(double loraAlpha) {
    this.loraAlpha = loraAlpha;
  }

  public double getLoraDropout() {
    return loraDropout;
  }

  public void setLoraDropout(double loraDropout) {
    this.loraDropout = loraDropout;
  }

  public List<String> getLoraTargets() {
    return loraTargets;
  }

  public void setLoraTargets(List<String> loraTargets) {
    this.loraTargets = loraTargets == null ? null : new ArrayList<>(loraTargets);
  }

  public String getBaseModel() {
    return baseModel;
  }

  public void setBaseModel(String baseModel) {
    this.baseModel = baseModel;
  }

  public String getBaseModelFingerprint() {
    return baseModelFingerprint;
  }

  public void setBaseModelFingerprint(String baseModelFingerprint) {
    this.baseModelFingerprint = baseModelFingerprint;
  }

  @Override
  public boolean equals(Object o) {
    if (o == this) return true;
    if (!(o instanceof GptDpoOutputLayer l) || !super.equals(o)) return false;
    return vocabSize == l.vocabSize && nPositions == l.nPositions && nEmbd == l.nEmbd && nLayer == l.nLayer
        && nHead == l.nHead && Double.compare(layerNormEpsilon, l.layerNormEpsilon) == 0
        && Double.compare(beta, l.beta) == 0 && Double.compare(labelSmoothing, l.labelSmoothing) == 0
        && Objects.equals(lossTypes, l.lossTypes) && Arrays.equals(lossWeights, l.lossWeights)
        && referenceFree == l.referenceFree && ipoLengthNormalized == l.ipoLengthNormalized && width == l.width
        && loraRank == l.loraRank && Double.compare(loraAlpha, l.loraAlpha) == 0
        && Double.compare(loraDropout, l.loraDropout) == 0 && Objects.equals(loraTargets, l.loraTargets)
        && Objects.equals(baseModel, l.baseModel) && Objects.equals(baseModelFingerprint, l.baseModelFingerprint);
  }

  @Override
  protected boolean canEqual(Object other) {
    return other instanceof GptDpoOutputLayer;
  }

  @Override
  public int hashCode() {
    return Objects.hash(super.hashCode(), vocabSize, nPositions, nEmbd, nLayer, nHead, layerNormEpsilon, beta,
        labelSmoothing, lossTypes, Arrays.hashCode(lossWeights), referenceFree, ipoLengthNormalized, width, loraRank,
        loraAlpha, loraDropout, loraTargets, baseModel, baseModelFingerprint);
  }

  @Override
  public String toString() {
    return "GptDpoOutputLayer(name=" + getLayerName() + ", " + gptConfig() + ", beta=" + beta + ", labelSmoothing="
        + labelSmoothing + ", lossTypes=" + lossTypes + ", lossWeights=" + Arrays.toString(lossWeights)
        + ", referenceFree=" + referenceFree + ", width=" + width
        + (loraRank == 0 ? "" : ", " + loraConfig() + " over " + baseModel) + ")";
  }
}
