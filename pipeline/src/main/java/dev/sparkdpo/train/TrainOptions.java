package dev.sparkdpo.train;

import dev.sparkdpo.dpo.DpoConfig;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.model.LoraConfig;
import java.io.Serializable;
import java.util.List;
import java.util.Locale;

/**
 * Everything a training run is configured with (the {@code train} block of the HOCON config; the CLI has an option for
 * each). Names follow TRL's {@code DPOConfig} / Hugging Face's {@code TrainingArguments} where one exists.
 *
 * @param data a reference output (DPO; SFT on prompt + chosen), an ingest output (SFT) or text files (SFT)
 * @param model the Hugging Face model directory the policy starts from
 * @param output the run directory: metrics.jsonl, checkpoints/, model/, train.json, _SUCCESS
 * @param objective dpo or sft
 * @param loss the DPO loss (ignored by sft, which is next-token cross-entropy)
 * @param optimizer optimizer, learning rate and its schedule, weight decay, gradient clipping
 * @param parallelism workers, pairs per worker and step, parameter-averaging frequency
 * @param schedule epochs / max steps, eval, checkpoint and progress intervals
 * @param seed data order (per epoch) and the network's initialisation seed
 * @param resume continue from the newest complete checkpoint in output/checkpoints
 * @param force discard an existing output (complete or not) and start over
 * @param allowRefMismatch train although the reference log-probs were computed with another model
 * @param text SFT on raw text: tokenizer, chunk length, eval fraction
 * @param lora LoRA adapters (only they train, the model stays frozen), or null: full fine-tuning
 */
public record TrainOptions(String data, String model, String output, Objective objective, DpoConfig loss,
    Optimizer optimizer, Parallelism parallelism, Schedule schedule, long seed, boolean resume, boolean force,
    boolean allowRefMismatch, Text text, Lora lora) implements Serializable {

  /** Full fine-tuning (no adapters). */
  public TrainOptions(String data, String model, String output, Objective objective, DpoConfig loss,
      Optimizer optimizer, Parallelism parallelism, Schedule schedule, long seed, boolean resume, boolean force,
      boolean allowRefMismatch, Text text) {
    this(data, model, output, objective, loss, optimizer, parallelism, schedule, seed, resume, force,
        allowRefMismatch, text, null);
  }

  /** The same run with LoRA adapters (null: full fine-tuning). */
  public TrainOptions withLora(Lora lora) {
    return new TrainOptions(data, model, output, objective, loss, optimizer, parallelism, schedule, seed, resume,
        force, allowRefMismatch, text, lora);
  }

  /**
   * LoRA training (--lora-rank and its options): PEFT adapters on the frozen model; the run writes adapter/ in PEFT's
   * format and, with {@code merge}, also model/ with the adapters merged into the model's weights.
   *
   * @param config rank, alpha, dropout (0 only) and target modules, validated by {@link LoraConfig}
   * @param merge --merge: also write model/, the full model with the adapters merged
   */
  public record Lora(LoraConfig config, boolean merge) implements Serializable {
    public Lora {
      if (config == null) throw new IllegalArgumentException("--lora-rank is required for LoRA options");
    }

    /**
     * The train block's LoRA keys: null for rank 0 (full fine-tuning), else the adapters (LoraConfig checks alpha,
     * dropout and the targets' spelling; targets that match no module fail once the model is known).
     */
    public static Lora of(int rank, double alpha, double dropout, List<String> targets, boolean merge) {
      if (rank < 0) {
        throw new IllegalArgumentException("--lora-rank must be >= 0 (0 = full fine-tuning, R > 0 = rank-R adapters),"
            + " got " + rank);
      }
      return rank == 0 ? null : new Lora(new LoraConfig(rank, alpha, dropout, targets), merge);
    }
  }

  public enum Objective {
    DPO, SFT;

    public static Objective parse(String s) {
      try {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("objective must be dpo or sft, got '" + s + "'");
      }
    }

    public String cliName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * @param name adamw (Adam with decoupled weight decay, the default), adam (weight decay as L2 on the gradient),
   *     rmsprop (the DPO paper's choice), sgd
   * @param learningRate peak learning rate
   * @param warmupSteps linear warmup from 0 over this many steps (the paper: 150)
   * @param decay constant or cosine after the warmup
   * @param weightDecay on weight matrices and the embeddings, not on biases and layer norms (as HF's Trainer)
   * @param maxGradNorm clip the gradient's L2 norm to this (0 = off), as HF's max_grad_norm
   * @param adamBeta1 Adam's beta1 / RMSprop is unaffected
   * @param adamBeta2 Adam's beta2
   * @param epsilon Adam / RMSprop epsilon
   * @param rmsDecay RMSprop's decay (torch's alpha)
   */
  public record Optimizer(String name, double learningRate, int warmupSteps, WarmupSchedule.Decay decay,
      double weightDecay, double maxGradNorm, double adamBeta1, double adamBeta2, double epsilon, double rmsDecay)
      implements Serializable {
    public static final List<String> NAMES = List.of("adamw", "adam", "rmsprop", "sgd");

    public Optimizer {
      name = name.trim().toLowerCase(Locale.ROOT);
      if (!NAMES.contains(name)) throw new IllegalArgumentException("optimizer must be one of " + NAMES + ", got '" + name + "'");
      positive("learning-rate", learningRate);
      if (warmupSteps < 0) throw new IllegalArgumentException("warmup-steps must be >= 0, got " + warmupSteps);
      if (decay == null) throw new IllegalArgumentException("lr-decay must be constant or cosine");
      nonNegative("weight-decay", weightDecay);
      nonNegative("max-grad-norm", maxGradNorm);
      if (!(adamBeta1 >= 0 && adamBeta1 < 1) || !(adamBeta2 >= 0 && adamBeta2 < 1)) {
        throw new IllegalArgumentException("adam-beta1 and adam-beta2 must be in [0, 1), got " + adamBeta1 + ", "
            + adamBeta2);
      }
      positive("epsilon", epsilon);
      if (!(rmsDecay > 0 && rmsDecay < 1)) throw new IllegalArgumentException("rms-decay must be in (0, 1), got " + rmsDecay);
    }

    /** Torch's defaults for the named optimizer (AdamW betas 0.9/0.999, eps 1e-8; RMSprop alpha 0.99). */
    public static Optimizer of(String name, double learningRate, int warmupSteps, WarmupSchedule.Decay decay,
        double weightDecay, double maxGradNorm) {
      return new Optimizer(name, learningRate, warmupSteps, decay, weightDecay, maxGradNorm, 0.9, 0.999, 1e-8, 0.99);
    }
  }

  /**
   * @param workers data-parallel workers: one Spark task each per averaging round (0 = Spark's default parallelism)
   * @param batchSizePerWorker pairs per worker per step; a step's global batch is workers x this
   * @param averagingFrequency steps each worker takes between parameter averagings (k; 1 = synchronous SGD)
   */
  public record Parallelism(int workers, int batchSizePerWorker, int averagingFrequency) implements Serializable {
    public Parallelism {
      if (workers < 0) throw new IllegalArgumentException("workers must be >= 0 (0 = Spark's default parallelism)");
      if (batchSizePerWorker < 1) throw new IllegalArgumentException("batch-size-per-worker must be >= 1");
      if (averagingFrequency < 1) throw new IllegalArgumentException("averaging-frequency must be >= 1");
    }
  }

  /**
   * @param epochs passes over the training pairs
   * @param maxSteps stop after this many steps (0 = no limit); whichever of epochs / max steps ends first
   * @param evalSteps evaluate on the eval split every this many steps (0 = only before the first and after the last)
   * @param checkpointSteps checkpoint every this many steps (0 = only at the end)
   * @param progressSeconds at most this many seconds between progress lines in the driver log
   * @param loggingSteps also a progress line every this many steps (0 = by time only), as HF's logging_steps
   * @param maxEvalPairs evaluate on at most this many eval pairs (0 = all)
   */
  public record Schedule(int epochs, long maxSteps, long evalSteps, long checkpointSteps, long progressSeconds,
      long maxEvalPairs, long loggingSteps) implements Serializable {
    /** Progress lines by time only. */
    public Schedule(int epochs, long maxSteps, long evalSteps, long checkpointSteps, long progressSeconds,
        long maxEvalPairs) {
      this(epochs, maxSteps, evalSteps, checkpointSteps, progressSeconds, maxEvalPairs, 0);
    }

    public Schedule {
      if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
      if (maxSteps < 0 || evalSteps < 0 || checkpointSteps < 0 || maxEvalPairs < 0) {
        throw new IllegalArgumentException("max-steps, eval-steps, checkpoint-steps and max-eval-pairs must be >= 0");
      }
      if (progressSeconds < 1) throw new IllegalArgumentException("progress-seconds must be >= 1");
      if (loggingSteps < 0) throw new IllegalArgumentException("logging-steps must be >= 0");
    }
  }

  /**
   * SFT on raw text files: each file is tokenized with the model's tokenizer (or {@code tokenizer}), cut into chunks
   * of {@code chunkTokens} (0 = the model's context), and a deterministic {@code evalFraction} of the chunks is held
   * out.
   */
  public record Text(String tokenizer, int chunkTokens, double evalFraction) implements Serializable {
    public Text {
      if (chunkTokens < 0) throw new IllegalArgumentException("chunk-tokens must be >= 0");
      if (!(evalFraction >= 0 && evalFraction < 1)) throw new IllegalArgumentException("eval-fraction must be in [0, 1)");
    }
  }

  public TrainOptions {
    if (data == null || model == null || output == null) throw new IllegalArgumentException("data, model and output are required");
    if (objective == null) throw new IllegalArgumentException("objective must be dpo or sft");
    if (objective == Objective.SFT) loss = sftLoss();
    if (optimizer.decay() == WarmupSchedule.Decay.COSINE && schedule.maxSteps() > 0
        && schedule.maxSteps() <= optimizer.warmupSteps()) {
      throw new IllegalArgumentException("cosine decay needs max-steps (" + schedule.maxSteps() + ") > warmup-steps ("
          + optimizer.warmupSteps() + ")");
    }
    if (resume && force) throw new IllegalArgumentException("--resume and --force exclude each other");
  }

  /** SFT as a loss: the chosen response's mean token negative log-likelihood, no reference model. */
  public static DpoConfig sftLoss() {
    return new DpoConfig(0.1, 0, List.of(LossType.SFT), null, true);
  }

  private static void positive(String name, double v) {
    if (!(v > 0) || Double.isInfinite(v)) throw new IllegalArgumentException(name + " must be a finite number > 0, got " + v);
  }

  private static void nonNegative(String name, double v) {
    if (!(v >= 0) || Double.isInfinite(v)) throw new IllegalArgumentException(name + " must be a finite number >= 0, got " + v);
  }
}
