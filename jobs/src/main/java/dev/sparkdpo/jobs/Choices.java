package dev.sparkdpo.jobs;

import dev.sparkdpo.data.formats.InputFormat;
import dev.sparkdpo.data.tokenize.Truncation;
import dev.sparkdpo.dpo.LossType;
import dev.sparkdpo.train.TrainOptions;
import dev.sparkdpo.train.WarmupSchedule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * The valid values of enumerated options, taken from the enums that parse them, as picocli completion candidates:
 * {@code ${COMPLETION-CANDIDATES}} in an option's description lists them in --help, so the help cannot drift from what
 * the stage accepts (and shell completion offers them).
 */
final class Choices {
  private Choices() {}

  /** Lower-case names, as the command line and the config file spell them. */
  static List<String> lower(Enum<?>[] values) {
    return Arrays.stream(values).map(v -> v.name().toLowerCase(Locale.ROOT)).toList();
  }

  /** TRL's loss_type names spark-dpo implements. */
  static final class Losses implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      return Arrays.stream(LossType.values()).map(LossType::trlName).iterator();
    }
  }

  static final class Objectives implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      return lower(TrainOptions.Objective.values()).iterator();
    }
  }

  static final class Optimizers implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      return TrainOptions.Optimizer.NAMES.iterator();
    }
  }

  static final class LrDecays implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      return lower(WarmupSchedule.Decay.values()).iterator();
    }
  }

  /** auto (detect per file), then the layouts. */
  static final class Formats implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      List<String> formats = new ArrayList<>(List.of("auto"));
      Arrays.stream(InputFormat.values()).map(InputFormat::code).forEach(formats::add);
      return formats.iterator();
    }
  }

  static final class Truncations implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      return lower(Truncation.values()).iterator();
    }
  }

  /** generate-pairs' pairings: best-worst, all. */
  static final class Pairings implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
      return Arrays.stream(dev.sparkdpo.generate.Pairing.values()).map(dev.sparkdpo.generate.Pairing::code).iterator();
    }
  }

  /** Ranked records: best (best vs each worse completion) or all (every better/worse pair); no enum holds these. */
  static final class RankedPairs implements Iterable<String> {
    static final List<String> VALUES = List.of("best", "all");

    @Override
    public Iterator<String> iterator() {
      return VALUES.iterator();
    }
  }
}
