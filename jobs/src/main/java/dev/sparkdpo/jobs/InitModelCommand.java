package dev.sparkdpo.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizerFiles;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.io.StageOutput;
import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** Writes a freshly initialized GPT-2 as a Hugging Face model directory sized for a tokenizer. No Spark. */
@Command(name = "init-model", mixinStandardHelpOptions = true, sortOptions = false, abbreviateSynopsis = true,
    usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    description = {"Writes a new GPT-2, sized for a tokenizer, as a Hugging Face model directory.",
        "",
        "GPT-2/nanoGPT initialization; writes config.json, model.safetensors and a copy of tokenizer.json, and "
            + "prints a JSON summary. No Spark.",
        ""})
public final class InitModelCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--tokenizer", required = true, paramLabel = "PATH",
      description = "tokenizer.json (or a directory holding one); its vocab (with added tokens) sizes the model.")
  String tokenizer;

  @Option(names = "--output", required = true, paramLabel = "DIR", description = "Model directory to write.")
  File output;

  @Option(names = "--overwrite", description = "Replace a model directory that init-model wrote before (nothing else is ever replaced).")
  boolean overwrite;

  @Option(names = "--n-layer", paramLabel = "N", defaultValue = "4",
      description = "Transformer blocks (default ${DEFAULT-VALUE}).")
  int nLayer;

  @Option(names = "--n-embd", paramLabel = "N", defaultValue = "256",
      description = "Embedding width (default ${DEFAULT-VALUE}).")
  int nEmbd;

  @Option(names = "--n-head", paramLabel = "N", defaultValue = "4",
      description = "Attention heads (default ${DEFAULT-VALUE}).")
  int nHead;

  @Option(names = "--n-positions", paramLabel = "N", defaultValue = "256",
      description = "Maximum sequence length (default ${DEFAULT-VALUE}).")
  int nPositions;

  @Option(names = "--seed", paramLabel = "N", defaultValue = "42",
      description = "Initialization seed (default ${DEFAULT-VALUE}).")
  long seed;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws IOException {
    Path out = output.toPath().toAbsolutePath().normalize();
    Path tokenizerJson = TokenizerFiles.resolveTokenizerJson(tokenizer);
    PairTokenizer tok = PairTokenizer.open(new TokenizerSpec(tokenizerJson.toString(), 0, 0, Truncation.KEEP_END, true));
    GptConfig config = new GptConfig(tok.vocabSize(), nPositions, nEmbd, nLayer, nHead, 1e-5);
    GptCheckpoint model;
    OptionalInt eos = tok.eosId();
    try (StageOutput stage = StageOutput.open("init-model", "--output", out.toUri().toString(),
        List.of(new StageOutput.Input("--tokenizer", tokenizerJson.toUri().toString())), new Configuration())) {
      if (stage.existing() != null && !overwrite) {
        throw new IllegalArgumentException("--output " + out + " already holds a model written by init-model: pass"
            + " --overwrite to replace it, or choose another --output");
      }
      model = GptInit.init(config, seed);
      stage.begin(config + " seed=" + seed);
      model.writeFiles(Paths.get(java.net.URI.create(stage.path())), eos.isPresent() ? eos.getAsInt() : null,
          tokenizerJson);
      stage.commit();
    }

    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("path", out.toString());
    summary.put("parameters", model.parameterCount());
    summary.put("vocab_size", config.vocabSize());
    summary.put("n_layer", nLayer);
    summary.put("n_embd", nEmbd);
    summary.put("n_head", nHead);
    summary.put("n_positions", nPositions);
    summary.put("eos_token_id", eos.isPresent() ? eos.getAsInt() : null);
    summary.put("seed", seed);
    spec.commandLine().getOut().println(JSON.writeValueAsString(summary));
    spec.commandLine().getOut().flush();
    return 0;
  }
}
