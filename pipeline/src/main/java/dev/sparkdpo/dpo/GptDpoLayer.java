package dev.sparkdpo.dpo;

import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.LanguageModel;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.model.LoraParams;
import dev.sparkdpo.model.Seeds;
import dev.sparkdpo.executor.ExecutorModels;
import java.util.Arrays;
import java.util.List;

import org.deeplearning4j.nn.api.layers.IOutputLayer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.BaseLayer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * The DL4J layer built from a {@link GptDpoOutputLayer} configuration: a {@link LanguageModel} (GPT-2, from the
 * configuration's model config) over the layer's slice of the network's flat parameter vector, scored with the DPO
 * loss on {@link DpoBatch} input. The layer only talks to the LanguageModel: log-probs, and a training step that
 * writes the layer's slice of the network's gradient vector.
 *
 * <ul>
 *   <li>activations: per pair the policy's summed response log-probs {@code [n, 2]} (chosen, rejected), in the
 *       network's data type. Running a network before training gives exactly the reference log-probs the labels
 *       hold. With the SFT loss alone only chosen sequences run (rejected reads 0).</li>
 *   <li>score: the mean DPO loss over the minibatch plus DL4J's regularization term, as DL4J's output layers report
 *       it (the sum over pairs if the network is configured with {@code miniBatch(false)}).</li>
 *   <li>gradient: d(sum over pairs of the loss)/d(params), written into the layer's slice of the network's gradient
 *       vector. DL4J's updater divides every gradient by the minibatch size (BaseMultiLayerUpdater.divideByMinibatch)
 *       before applying it, which turns it into the gradient of the mean loss the score reports.</li>
 *   <li>epsilon (d loss / d input): null, as DL4J's EmbeddingLayer returns: the input is token ids, not a
 *       differentiable activation. ComputationGraph and MultiLayerNetwork accept null for a layer fed by the network
 *       input.</li>
 * </ul>
 * The model computes in the network's data type (float32 or float64).
 */
public class GptDpoLayer extends BaseLayer<GptDpoOutputLayer> implements IOutputLayer {
  private static final long serialVersionUID = 1L;

  private INDArray labels;

  // the model over the current parameter view, rebuilt only if DL4J hands the layer another array
  private transient INDArray modelParams;
  private transient LanguageModel model;

  // computeGradientAndScore runs backprop, then computeScore on the same input and parameters: the result of the
  // former serves the latter once, sparing a forward pass (any new input, labels or parameters discard it)
  private transient Pending pending;
  private transient DpoResult lastResult;
  private transient long lastTokens;

  private record Pending(INDArray input, INDArray labels, DpoResult result) {}

  public GptDpoLayer(NeuralNetConfiguration conf, DataType dataType) {
    super(conf, dataType);
  }

  /**
   * Loss, rewards and TRL metrics ({@link DpoResult#metrics()}) of the minibatch this layer last scored or trained
   * on (null before any; on Spark, the workers' results stay on the workers).
   */
  public DpoResult lastResult() {
    return lastResult;
  }

  /** Tokens the model ran on (forward and backward) in the last training step: its rows' sequence lengths summed. */
  public long lastTokens() {
    return lastTokens;
  }

  // ---------------------------------------------------------------------------------------------------------------
  // the model and the batch

  private LanguageModel model() {
    if (model == null || modelParams != paramsFlattened) {
      GptDpoOutputLayer c = layerConf();
      LoraConfig lora = c.loraConfig();
      model = lora == null ? c.gptConfig().model(paramsFlattened)
          : frozenBase(c).withAdapters(LoraParams.over(c.gptConfig(), lora, paramsFlattened));
      modelParams = paramsFlattened;
    }
    return model;
  }

  /**
   * With LoRA, the frozen model the adapters wrap: this JVM's one copy from the executor model cache (loaded on first
   * use, shared by every task and network; a test may put its own model there under the same key), read with the
   * executor's Hadoop configuration (HadoopFiles.defaultConf).
   */
  private Gpt frozenBase(GptDpoOutputLayer c) {
    LanguageModel base = ExecutorModels.get(c.getBaseModel(), c.getBaseModelFingerprint(),
        dev.sparkdpo.io.HadoopFiles.defaultConf(), null);
    if (!(base instanceof Gpt gpt) || !gpt.config().equals(c.gptConfig())) {
      throw new IllegalStateException("LoRA base model " + c.getBaseModel() + " is not the GPT-2 of " + c.gptConfig()
          + " " + layerId());
    }
    if (gpt.dataType() != dataType) {
      throw new IllegalStateException("LoRA base model " + c.getBaseModel() + " computes in " + gpt.dataType()
          + ", the network in " + dataType + ": build the network in the base model's data type " + layerId());
    }
    return gpt;
  }

  private INDArray gradients() {
    if (gradientsFlattened == null) {
      throw new IllegalStateException("no gradient view: the network has not been set up for training " + layerId());
    }
    return gradientsFlattened;
  }

  /** The input pairs, with the labels' reference log-probs if {@code withLabels} (else references 0). */
  private DpoBatch batch(boolean withLabels) {
    if (maskArray != null) {
      throw new IllegalStateException("GptDpoLayer takes no mask arrays: sequence lengths are part of the features "
          + layerId());
    }
    if (withLabels && labels == null && !layerConf().isReferenceFree()) {
      throw new IllegalStateException("no labels: the DPO loss needs the reference log-probs " + layerId());
    }
    DpoBatch b = DpoBatch.decode(input, withLabels ? labels : null, layerConf().getWidth());
    b.checkVocabulary(layerConf().getVocabSize());
    return b;
  }

  /** Forward pass only (inference path), loss and metrics. */
  private DpoResult evaluate(DpoBatch b) {
    return DpoLoss.compute(layerConf().dpoConfig(), b.pairLogps(policyLogps(b)));
  }

  /**
   * The loss reads only the chosen sequences when it is SFT alone (next-token cross-entropy on prompt + chosen):
   * then the rejected sequences are not run at all.
   */
  private boolean chosenOnly() {
    List<LossType> losses = layerConf().getLossTypes();
    return losses.size() == 1 && losses.get(0) == LossType.SFT;
  }

  /** The model's rows: chosen then rejected sequences, or only the chosen ones ({@link #chosenOnly()}). */
  private int[][] modelRows(DpoBatch b) {
    return chosenOnly() ? b.chosen() : b.sequences();
  }

  private int[] modelRowPromptLengths(DpoBatch b) {
    return chosenOnly() ? b.promptLengths() : b.sequencePromptLengths();
  }

  /** The policy's log-prob of each of b.sequences() (rejected ones 0 when {@link #chosenOnly()}). */
  private double[] policyLogps(DpoBatch b) {
    return Arrays.copyOf(model().responseLogProbs(modelRows(b), modelRowPromptLengths(b)), 2 * b.size());
  }

  // ---------------------------------------------------------------------------------------------------------------
  // forward, score, backward

  @Override
  public INDArray activate(boolean training, LayerWorkspaceMgr workspaceMgr) {
    assertInputSet(false);
    DpoBatch b = batch(false);
    double[] logps = policyLogps(b);
    int n = b.size();
    INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, n, 2);
    for (int i = 0; i < n; i++) {
      out.putScalar(i, 0, logps[i]);
      out.putScalar(i, 1, logps[n + i]);
    }
    return out;
  }

  @Override
  public Pair<Gradient, INDArray> backpropGradient(INDArray epsilon, LayerWorkspaceMgr workspaceMgr) {
    assertInputSet(true);
    DpoBatch b = batch(true);
    // DpoLoss differentiates the mean over the n pairs; DL4J wants the sum (its updater divides by n)
    int n = b.size();
    DpoResult[] result = new DpoResult[1];
    int[][] rows = modelRows(b);
    long tokens = 0;
    for (int[] row : rows) tokens += row.length;
    lastTokens = tokens;
    model().trainingStep(rows, modelRowPromptLengths(b), logps -> {
      DpoResult r = DpoLoss.compute(layerConf().dpoConfig(), b.pairLogps(Arrays.copyOf(logps, 2 * n)));
      result[0] = r;
      double[] dSum = new double[rows.length];
      for (int i = 0; i < n; i++) {
        dSum[i] = n * r.dPolicyChosen()[i];
        if (rows.length > n) dSum[n + i] = n * r.dPolicyRejected()[i];
      }
      return dSum;
    }, gradients(), maskSeed(rows));
    DpoResult r = result[0];

    Gradient g = new DefaultGradient(gradientsFlattened);
    gradientViews.forEach(g::setGradientFor); // the views over gradientsFlattened, in flat order
    gradient = g;
    lastResult = r;
    pending = new Pending(input, labels, r);
    return new Pair<>(g, null);
  }

  /**
   * The training step's seed of its random masks (LoRA dropout): the network's seed, the iteration and the batch's
   * tokens, so a run is reproducible for a given seed, each step and each worker (another minibatch) draws other
   * masks, and a resumed run (its iteration count restored) draws the masks the uninterrupted run drew.
   */
  private long maskSeed(int[][] rows) {
    return Seeds.mix(Seeds.mix(conf().getSeed(), getIterationCount()), Arrays.deepHashCode(rows));
  }

  @Override
  public double computeScore(double fullNetRegTerm, boolean training, LayerWorkspaceMgr workspaceMgr) {
    assertInputSet(false);
    Pending p = pending;
    pending = null;
    DpoResult r = p != null && p.input() == input && p.labels() == labels ? p.result() : evaluate(batch(true));
    lastResult = r;
    double loss = conf().isMiniBatch() ? r.loss() : r.loss() * r.perPairLoss().length;
    score = loss + fullNetRegTerm;
    return score;
  }

  /** Per pair: its loss plus the regularization term, {@code [n, 1]}. */
  @Override
  public INDArray computeScoreForExamples(double fullNetRegTerm, LayerWorkspaceMgr workspaceMgr) {
    assertInputSet(false);
    double[] perPair = evaluate(batch(true)).perPairLoss();
    INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, dataType, perPair.length, 1);
    for (int i = 0; i < perPair.length; i++) out.putScalar(i, 0, perPair[i] + fullNetRegTerm);
    return out;
  }

  @Override
  public void computeGradientAndScore(LayerWorkspaceMgr workspaceMgr) {
    backpropGradient(null, workspaceMgr);
    computeScore(calcRegularizationScore(true), true, workspaceMgr);
  }

  // ---------------------------------------------------------------------------------------------------------------
  // state DL4J sets

  @Override
  public void setInput(INDArray input, LayerWorkspaceMgr workspaceMgr) {
    super.setInput(input, workspaceMgr);
    pending = null;
  }

  @Override
  public void setLabels(INDArray labels) {
    this.labels = labels;
    pending = null;
  }

  @Override
  public INDArray getLabels() {
    return labels;
  }

  @Override
  public boolean needsLabels() {
    return !layerConf().isReferenceFree();
  }

  /** The layer's parameters are its flat vector in GptParams layout ('c' order), so a flat vector is copied as is. */
  @Override
  public void setParams(INDArray params) {
    if (params == paramsFlattened) return;
    if (params.length() != paramsFlattened.length()) {
      throw new IllegalArgumentException("expected " + paramsFlattened.length() + " parameters, got "
          + params.length() + " " + layerId());
    }
    paramsFlattened.assign(params.reshape(paramsFlattened.shape()));
    pending = null;
  }

  @Override
  public void setParamsViewArray(INDArray params) {
    super.setParamsViewArray(params);
    pending = null;
  }

  @Override
  public void clear() {
    super.clear();
    labels = null;
    pending = null;
  }

  @Override
  public Type type() {
    return Type.FEED_FORWARD;
  }

  @Override
  public boolean isPretrainLayer() {
    return false;
  }

  @Override
  public void clearNoiseWeightParams() {
    // no weight noise
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Classifier methods: not a classifier

  private UnsupportedOperationException notAClassifier() {
    return new UnsupportedOperationException("GptDpoLayer is not a classifier; train it through its network "
        + layerId());
  }

  @Override
  public double f1Score(DataSet data) {
    throw notAClassifier();
  }

  @Override
  public double f1Score(INDArray examples, INDArray labels) {
    throw notAClassifier();
  }

  /** Label columns: reference log-probs of chosen and rejected. */
  @Override
  public int numLabels() {
    return 2;
  }

  @Override
  public void fit(DataSetIterator iter) {
    throw notAClassifier();
  }

  @Override
  public int[] predict(INDArray examples) {
    throw notAClassifier();
  }

  @Override
  public List<String> predict(DataSet dataSet) {
    throw notAClassifier();
  }

  @Override
  public void fit(INDArray examples, INDArray labels) {
    throw notAClassifier();
  }

  @Override
  public void fit(DataSet data) {
    throw notAClassifier();
  }

  @Override
  public void fit(INDArray examples, int[] labels) {
    throw notAClassifier();
  }
}
