package dev.sparkdpo.jobs;

import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.NativeThreads;
import dev.sparkdpo.model.OpenBlasCore;
import dev.sparkdpo.model.Sampler;
import dev.sparkdpo.model.SamplingConfig;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Random;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * bench generate: batched KV-cached sampling (Sampler) on the shape of torch_dpo_bench.py --generate: random weights,
 * 16 random prompts of 32 tokens, 64 new tokens each at temperature 1, no EOS; tokens/s = batch * new / seconds.
 */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    description = {"Times batched KV-cached sampling (Sampler) in one process (no Spark).",
        "",
        "The shape of ../shared/bench/torch_dpo_bench.py --generate: random weights, --batch random prompts of "
            + "--prompt-tokens tokens, --new-tokens sampled per row at temperature 1 (no EOS, so every row runs "
            + "to the end). generated_tokens_per_s = batch * new tokens / seconds per batch (prefill included).",
        ""})
final class GenerateBench implements Callable<Integer> {
  @Option(names = "--config", description = "tiny (vocab 4096, 256/4/4) or gpt2 (GPT-2 small) (default ${DEFAULT-VALUE}).",
      defaultValue = "tiny")
  String config;

  @Option(names = "--threads", description = "Cores: the batch's rows split over this many threads, single-threaded"
      + " BLAS each (default: 1 thread, ND4J's own choice of BLAS threads).", defaultValue = "0")
  int threads;

  @Option(names = "--batch", description = "Sequences sampled together (default ${DEFAULT-VALUE}).", defaultValue = "16")
  int batch;

  @Option(names = "--prompt-tokens", description = "Prompt length (default ${DEFAULT-VALUE}).", defaultValue = "32")
  int promptTokens;

  @Option(names = "--new-tokens", description = "Tokens sampled per row (default ${DEFAULT-VALUE}).",
      defaultValue = "64")
  int newTokens;

  @Option(names = "--steps", description = "Timed batches (default ${DEFAULT-VALUE}, as the torch bench).",
      defaultValue = "10")
  int steps;

  @Option(names = "--json-out", description = "Also write the JSON result to this file.")
  File jsonOut;

  @Override
  public Integer call() throws IOException {
    GptConfig cfg = switch (config) {
      case "tiny" -> new GptConfig(4096, 256, 256, 4, 4, 1e-5);
      case "gpt2" -> new GptConfig(50257, 1024, 768, 12, 12, 1e-5);
      default -> throw new IllegalArgumentException("--config must be tiny or gpt2, got " + config);
    };
    if (batch < 1 || promptTokens < 1 || newTokens < 1 || steps < 1 || threads < 0) {
      throw new IllegalArgumentException("--batch, --prompt-tokens, --new-tokens and --steps must be >= 1, --threads"
          + " >= 0");
    }
    if (promptTokens + newTokens > cfg.nPositions()) {
      throw new IllegalArgumentException("--prompt-tokens + --new-tokens must be <= " + cfg.nPositions());
    }
    boolean rowSplit = threads > 1;
    if (threads >= 1) NativeThreads.set(1, 1); // one BLAS thread per row thread (see RowThreads)
    Gpt gpt = Gpt.of(GptParams.from(GptInit.init(cfg, 1234), DataType.FLOAT)).withRowThreads(rowSplit ? threads : 1);
    Sampler sampler = new Sampler(gpt);

    Random r = new Random(0);
    int[][] prompts = new int[batch][promptTokens];
    for (int[] p : prompts) for (int j = 0; j < promptTokens; j++) p[j] = r.nextInt(cfg.vocabSize());
    SamplingConfig sampling = new SamplingConfig(1.0, 0, 1.0, newTokens, OptionalInt.empty(), 0);

    // warm-up as the torch bench (4 new tokens), plus one full batch: the workspaces learn their sizes
    sampler.generate(prompts, new SamplingConfig(1.0, 0, 1.0, 4, OptionalInt.empty(), 0));
    sampler.generate(prompts, sampling);
    double prefill = 0, decode = 0;
    int decodeSteps = 0;
    long generated = 0;
    long t0 = System.nanoTime();
    for (int i = 0; i < steps; i++) {
      Sampler.Generation g = sampler.generateTimed(prompts, new SamplingConfig(1.0, 0, 1.0, newTokens,
          OptionalInt.empty(), i + 1));
      prefill += g.timing().prefillSeconds();
      decode += g.timing().decodeSeconds();
      decodeSteps += g.timing().decodeSteps();
      for (int[] row : g.tokens()) generated += row.length;
    }
    double perBatch = (System.nanoTime() - t0) / 1e9 / steps;

    Map<String, Object> result = new LinkedHashMap<>();
    result.put("bench", "generate");
    result.put("config", config);
    result.put("params", GptParams.count(cfg));
    result.put("batch", batch);
    result.put("prompt_tokens", promptTokens);
    result.put("new_tokens", newTokens);
    result.put("threads", threads);
    result.put("row_threads", gpt.rowThreadsCount());
    result.put("blas_threads", NativeThreads.blasThreads());
    result.put("openblas_core", OpenBlasCore.loadedCoreName());
    result.put("nd4j_op_threads", NativeThreads.opThreads());
    result.put("available_processors", Runtime.getRuntime().availableProcessors());
    result.put("steps", steps);
    result.put("generated_tokens_per_s", Math.round(generated / (perBatch * steps)));
    result.put("seconds_per_batch", round(perBatch));
    result.put("prefill_s", round(prefill / steps));
    result.put("decode_step_ms", Math.round(decode / Math.max(1, decodeSteps) * 1e6) / 1e3);
    result.put("max_rss_mb", maxRssMb());
    BenchCommand.printJson(result, jsonOut);
    return 0;
  }

  private static double round(double seconds) {
    return Math.round(seconds * 1e4) / 1e4;
  }

  /** Peak resident set (VmHWM of /proc/self/status) in MB, as the torch bench's ru_maxrss; -1 where unavailable. */
  static long maxRssMb() {
    try {
      for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
      }
    } catch (IOException | RuntimeException e) {
      return -1;
    }
    return -1;
  }
}
