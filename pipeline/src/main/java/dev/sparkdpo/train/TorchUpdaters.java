package dev.sparkdpo.train;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.AdamUpdater;
import org.nd4j.linalg.learning.GradientUpdater;
import org.nd4j.linalg.learning.RmsPropUpdater;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.learning.config.RmsProp;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * DL4J updater configurations with PyTorch's update rules. DL4J's own Adam adds epsilon to sqrt(v) before the bias
 * correction ({@code lr_t m / (sqrt(v) + eps)}) and its RMSprop inside the square root with v starting at epsilon
 * ({@code lr g / sqrt(v + eps)}); torch.optim computes {@code lr m_hat / (sqrt(v_hat) + eps)} and
 * {@code lr g / (sqrt(v) + eps)} with v starting at 0. They differ wherever sqrt(v) is near epsilon (rare or
 * vanishing gradients), so these keep DL4J's state layout (checkpoints, parameter averaging) and change only the step
 * (Adam: DL4J's native op with a per-step epsilon; RMSprop: INDArray ops).
 * Configurations travel as JSON inside the network's configuration: plain beans with DL4J's own fields.
 */
final class TorchUpdaters {
  private TorchUpdaters() {}

  /** Adam as torch.optim.Adam / AdamW's moment update (weight decay is separate: a DL4J regularization). */
  public static final class TorchAdam extends Adam {
    private static final long serialVersionUID = 1L;

    public TorchAdam() {}

    TorchAdam(org.nd4j.linalg.schedule.ISchedule lr, double beta1, double beta2, double epsilon) {
      setLearningRateSchedule(lr);
      setBeta1(beta1);
      setBeta2(beta2);
      setEpsilon(epsilon);
    }

    @Override
    public GradientUpdater instantiate(INDArray viewArray, boolean initializeViewArray) {
      return new Step(this, (AdamUpdater) super.instantiate(viewArray, initializeViewArray));
    }

    @Override
    public GradientUpdater instantiate(Map<String, INDArray> state, boolean initializeStateArrays) {
      return new Step(this, (AdamUpdater) super.instantiate(state, initializeStateArrays));
    }

    @Override
    public TorchAdam clone() {
      return new TorchAdam(getLearningRateSchedule() == null ? null : getLearningRateSchedule().clone(), getBeta1(),
          getBeta2(), getEpsilon());
    }

    /**
     * DL4J's state (m then v) and native step, with torch's epsilon: DL4J computes lr sqrt(1 - b2^t) / (1 - b1^t) m /
     * (sqrt(v) + eps'), which is torch's lr m_hat / (sqrt(v_hat) + eps) exactly when eps' = eps sqrt(1 - b2^t).
     */
    private static final class Step extends Delegating<Adam, AdamUpdater> {
      Step(TorchAdam config, AdamUpdater state) {
        super(config, state);
      }

      @Override
      public void applyUpdater(INDArray gradient, int iteration, int epoch) {
        Adam step = config.clone();
        step.setEpsilon(config.getEpsilon() * Math.sqrt(1 - Math.pow(config.getBeta2(), iteration + 1)));
        state.setConfig(step);
        state.applyUpdater(gradient, iteration, epoch);
      }

    }
  }

  /** RMSprop as torch.optim.RMSprop (no momentum, not centered). */
  public static final class TorchRmsProp extends RmsProp {
    private static final long serialVersionUID = 1L;

    public TorchRmsProp() {}

    TorchRmsProp(org.nd4j.linalg.schedule.ISchedule lr, double rmsDecay, double epsilon) {
      setLearningRateSchedule(lr);
      setRmsDecay(rmsDecay);
      setEpsilon(epsilon);
    }

    @Override
    public GradientUpdater instantiate(INDArray viewArray, boolean initializeViewArray) {
      RmsPropUpdater state = (RmsPropUpdater) super.instantiate(viewArray, initializeViewArray);
      if (initializeViewArray) state.getLastGradient().assign(0); // torch starts v at 0, DL4J at epsilon
      return new Step(this, state);
    }

    @Override
    public GradientUpdater instantiate(Map<String, INDArray> s, boolean initializeStateArrays) {
      RmsPropUpdater state = (RmsPropUpdater) super.instantiate(s, initializeStateArrays);
      if (initializeStateArrays) state.getLastGradient().assign(0);
      return new Step(this, state);
    }

    @Override
    public TorchRmsProp clone() {
      return new TorchRmsProp(getLearningRateSchedule() == null ? null : getLearningRateSchedule().clone(),
          getRmsDecay(), getEpsilon());
    }

    /** v = a v + (1 - a) g^2; step lr g / (sqrt(v) + eps). */
    private static final class Step extends Delegating<RmsProp, RmsPropUpdater> {
      Step(TorchRmsProp config, RmsPropUpdater state) {
        super(config, state);
      }

      @Override
      public void applyUpdater(INDArray gradient, int iteration, int epoch) {
        double lr = config.getLearningRate(iteration, epoch);
        double a = config.getRmsDecay();
        INDArray v = state.getLastGradient();
        INDArray g = gradient.reshape(v.shape());
        v.muli(a).addi(g.mul(g).muli(1 - a));
        g.muli(lr).divi(Transforms.sqrt(v, true).addi(config.getEpsilon()));
      }

    }
  }

  /** A step rule over DL4J's own updater state (kept as is: checkpoints and parameter averaging read it). */
  private abstract static class Delegating<C extends IUpdater, U extends GradientUpdater<C>>
      implements GradientUpdater<C> {
    final C config;
    final U state;

    Delegating(C config, U state) {
      this.config = config;
      this.state = state;
    }

    @Override
    public C getConfig() {
      return config;
    }

    @Override
    public void setState(Map<String, INDArray> s, boolean initialize) {
      state.setState(s, initialize);
    }

    @Override
    public Map<String, INDArray> getState() {
      return state.getState();
    }

    @Override
    public void setStateViewArray(INDArray view, long[] shape, char order, boolean initialize) {
      state.setStateViewArray(view, shape, order, initialize);
    }
  }

  static IUpdater adam(org.nd4j.linalg.schedule.ISchedule lr, double beta1, double beta2, double epsilon) {
    return new TorchAdam(lr, beta1, beta2, epsilon);
  }

  static IUpdater rmsprop(org.nd4j.linalg.schedule.ISchedule lr, double rmsDecay, double epsilon) {
    return new TorchRmsProp(lr, rmsDecay, epsilon);
  }
}
