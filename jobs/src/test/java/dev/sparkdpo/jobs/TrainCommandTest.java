package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.*;

import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.model.LoraConfig;
import dev.sparkdpo.train.TrainOptions;
import dev.sparkdpo.train.WarmupSchedule;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** train options → TrainOptions: TRL-like defaults, lists, a HOCON file, command-line overrides (no Spark needed). */
class TrainCommandTest {
  @TempDir Path dir;

  private TrainOptions parse(String... args) {
    return TrainCommand.options(JobConfigTest.settings(new TrainCommand(), args));
  }

  @Test
  void defaultsAreTrlsAndTheLossListParses() {
    TrainOptions o = parse("--data", "ref", "--model", "m", "--output", "out", "--loss", "sigmoid,sft",
        "--loss-weights", "1,0.1");
    assertEquals(TrainOptions.Objective.DPO, o.objective());
    assertEquals(List.of(LossType.SIGMOID, LossType.SFT), o.loss().losses());
    assertArrayEquals(new double[] {1, 0.1}, o.loss().weights());
    assertEquals(0.1, o.loss().beta());
    assertEquals("adamw", o.optimizer().name());
    assertEquals(1e-6, o.optimizer().learningRate());
    assertEquals(1.0, o.optimizer().maxGradNorm());
    assertEquals(WarmupSchedule.Decay.CONSTANT, o.optimizer().decay());
    assertEquals(new TrainOptions.Parallelism(0, 8, 4), o.parallelism());
    assertEquals(1, o.schedule().epochs());
    assertEquals(42, o.seed());
    assertEquals(10, o.schedule().loggingSteps());
    assertFalse(o.resume() || o.force() || o.allowRefMismatch());
  }

  @Test
  void aConfigFileSetsTheRunAndTheCommandLineWins() throws Exception {
    File conf = dir.resolve("run.conf").toFile();
    Files.writeString(conf.toPath(), """
        train {
          data = "ref"
          model = "m"
          output = "o"
          optimizer = rmsprop
          learning-rate = 1e-6
          warmup-steps = 150
          lr-decay = cosine
          max-steps = 1000
          workers = 4
          batch-size-per-worker = 16
          averaging-frequency = 1
        }
        """);
    TrainOptions fromFile = parse("--config", conf.getPath());
    assertEquals("rmsprop", fromFile.optimizer().name());
    assertEquals(150, fromFile.optimizer().warmupSteps());
    assertEquals(WarmupSchedule.Decay.COSINE, fromFile.optimizer().decay());
    assertEquals(new TrainOptions.Parallelism(4, 16, 1), fromFile.parallelism());
    TrainOptions overridden = parse("--config", conf.getPath(), "--averaging-frequency", "8", "--objective", "sft",
        "--resume");
    assertEquals(8, overridden.parallelism().averagingFrequency());
    assertEquals(TrainOptions.Objective.SFT, overridden.objective());
    assertEquals(List.of(LossType.SFT), overridden.loss().losses(), "sft is the SFT loss whatever --loss says");
    assertTrue(overridden.resume());
  }

  @Test
  void badSettingsAreRefusedWithTheOptionName() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "r", "--model", "m", "--output", "o", "--loss", "sigmoid,sft", "--loss-weights", "1"));
    assertTrue(e.getMessage().contains("loss_weights has 1 entries but loss_type has 2"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "r", "--model", "m", "--output", "o", "--optimizer", "lion"));
    assertTrue(e.getMessage().contains("optimizer must be one of [adamw, adam, rmsprop, sgd]"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse("--data", "r", "--model", "m"));
    assertTrue(e.getMessage().contains("give --output"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "r", "--model", "m", "--output", "o", "--resume", "--force"));
    assertTrue(e.getMessage().contains("--resume and --force"), e.getMessage());
  }

  @Test
  void theOptimizerConstantsAndProgressIntervalAreOptions() {
    TrainOptions o = parse("--data", "r", "--model", "m", "--output", "o", "--adam-beta1", "0.8", "--adam-beta2",
        "0.95", "--epsilon", "1e-6", "--progress-seconds", "30");
    assertEquals(0.8, o.optimizer().adamBeta1());
    assertEquals(0.95, o.optimizer().adamBeta2());
    assertEquals(1e-6, o.optimizer().epsilon());
    assertEquals(30, o.schedule().progressSeconds());
    assertEquals(0.5, parse("--data", "r", "--model", "m", "--output", "o", "--optimizer", "rmsprop", "--rms-decay",
        "0.5").optimizer().rmsDecay());
  }

  @Test
  void settingsThisRunWouldIgnoreAreRefused() throws Exception {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "r", "--model", "m", "--output", "o", "--rms-decay", "0.9"));
    assertEquals("--rms-decay / train.rms-decay needs --optimizer rmsprop: use --optimizer rmsprop, or drop it",
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "r", "--model", "m", "--output", "o", "--optimizer", "rmsprop", "--adam-beta2", "0.9"));
    assertTrue(e.getMessage().startsWith("--adam-beta2 / train.adam-beta2 needs --optimizer adamw or adam"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "r", "--model", "m", "--output", "o", "--optimizer", "sgd", "--epsilon", "1e-6"));
    assertTrue(e.getMessage().startsWith("--epsilon / train.epsilon needs --optimizer adamw, adam or rmsprop"),
        e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "r", "--model", "m", "--output", "o", "--chunk-tokens", "128"));
    assertTrue(e.getMessage().startsWith("--chunk-tokens / train.chunk-tokens needs --objective sft"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "r", "--model", "m", "--output", "o", "--objective", "sft", "--loss", "ipo"));
    assertTrue(e.getMessage().startsWith("--loss / train.loss needs --objective dpo"), e.getMessage());
    // from a config file just the same
    File conf = dir.resolve("sft.conf").toFile();
    Files.writeString(conf.toPath(), "train { data = r, model = m, output = o, tokenizer = t.json }\n");
    e = assertThrows(IllegalArgumentException.class, () -> parse("--config", conf.getPath()));
    assertTrue(e.getMessage().startsWith("--tokenizer / train.tokenizer needs --objective sft"), e.getMessage());
    assertEquals("t.json", parse("--config", conf.getPath(), "--objective", "sft").text().tokenizer());
  }

  @Test
  void loraIsOffByDefaultAndItsKeysAreOptionsAndHoconKeys() throws Exception {
    assertNull(parse("--data", "r", "--model", "m", "--output", "o").lora(), "rank 0: full fine-tuning");
    TrainOptions o = parse("--data", "r", "--model", "m", "--output", "o", "--lora-rank", "4");
    assertEquals(new LoraConfig(4, 8, 0, List.of("c_attn")), o.lora().config(), "PEFT's defaults for gpt2");
    assertFalse(o.lora().merge());
    o = parse("--data", "r", "--model", "m", "--output", "o", "--lora-rank", "16", "--lora-alpha", "32",
        "--lora-targets", "c_attn,c_proj,c_fc", "--merge");
    assertEquals(new LoraConfig(16, 32, 0, List.of("c_attn", "c_proj", "c_fc")), o.lora().config());
    assertTrue(o.lora().merge());
    File conf = dir.resolve("lora.conf").toFile();
    Files.writeString(conf.toPath(), """
        train { data = r, model = m, output = o, lora-rank = 8, lora-targets = [c_fc], lora-dropout = 0.05,
            merge = true }
        sft { lora-rank = 2 }
        """); // the sft block (train's keys) takes them too
    o = parse("--config", conf.getPath());
    assertEquals(new LoraConfig(8, 8, 0.05, List.of("c_fc")), o.lora().config());
    assertTrue(o.lora().merge());
  }

  @Test
  void badLoraSettingsAreRefusedInOneLineWithTheOptionName() {
    String[] base = {"--data", "r", "--model", "m", "--output", "o"};
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> parse(with(base, "--lora-rank", "-1")));
    assertEquals("--lora-rank must be >= 0 (0 = full fine-tuning, R > 0 = rank-R adapters), got -1", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse(with(base, "--lora-rank", "4", "--lora-dropout",
        "1")));
    assertEquals("--lora-dropout must be in [0, 1), got 1.0", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse(with(base, "--lora-rank", "4", "--lora-dropout",
        "-0.1")));
    assertTrue(e.getMessage().startsWith("--lora-dropout must be in [0, 1)"), e.getMessage());
    assertEquals(0.1, parse(with(base, "--lora-rank", "4", "--lora-dropout", "0.1")).lora().config().dropout());
    e = assertThrows(IllegalArgumentException.class, () -> parse(with(base, "--lora-rank", "4", "--lora-alpha",
        "0")));
    assertTrue(e.getMessage().startsWith("--lora-alpha must be a finite number > 0"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse(with(base, "--lora-rank", "4", "--lora-targets",
        ".c_attn")));
    assertTrue(e.getMessage().contains("'.c_attn' is not a module name"), e.getMessage());
    // a LoRA key without a rank would change nothing: refused
    e = assertThrows(IllegalArgumentException.class, () -> parse(with(base, "--merge")));
    assertEquals("--merge / train.merge needs --lora-rank R > 0 (LoRA; without it the run is full fine-tuning): add"
        + " --lora-rank, or drop it", e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> parse(with(base, "--lora-alpha", "16")));
    assertTrue(e.getMessage().startsWith("--lora-alpha / train.lora-alpha needs --lora-rank"), e.getMessage());
  }

  private static String[] with(String[] base, String... extra) {
    String[] all = java.util.Arrays.copyOf(base, base.length + extra.length);
    System.arraycopy(extra, 0, all, base.length, extra.length);
    return all;
  }
}
