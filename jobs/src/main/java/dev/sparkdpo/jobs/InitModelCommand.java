package dev.sparkdpo.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizerFiles;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import dev.sparkdpo.io.HadoopFiles;
import dev.sparkdpo.io.StageOutput;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
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
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {"Writes a new GPT-2, sized for a tokenizer, as a Hugging Face model directory.",
        "",
        "GPT-2/nanoGPT initialization; writes config.json, model.safetensors and a copy of tokenizer.json, and "
            + "prints a JSON summary. No Spark.",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class InitModelCommand implements Callable<Integer> {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Option(names = "--tokenizer", paramLabel = "PATH",
      description = "tokenizer.json (or a directory holding one); its vocab (with added tokens) sizes the model.")
  String tokenizer;

  @Option(names = "--output", paramLabel = "DIR", description = "Model directory to write.")
  String output;

  @Option(names = "--overwrite", description = "Replace a model directory that init-model wrote before (nothing else is ever replaced).")
  Boolean overwrite;

  @Option(names = "--n-layer", paramLabel = "N", description = "Transformer blocks (default ${DEFAULT-VALUE}).")
  Integer nLayer;

  @Option(names = "--n-embd", paramLabel = "N", description = "Embedding width (default ${DEFAULT-VALUE}).")
  Integer nEmbd;

  @Option(names = "--n-head", paramLabel = "N", description = "Attention heads (default ${DEFAULT-VALUE}).")
  Integer nHead;

  @Option(names = "--n-positions", paramLabel = "N",
      description = "Maximum sequence length (default ${DEFAULT-VALUE}).")
  Integer nPositions;

  @Option(names = "--seed", paramLabel = "N", description = "Initialization seed (default ${DEFAULT-VALUE}).")
  Long seed;

  @picocli.CommandLine.Mixin ConfigFileOption configFile;

  @Spec CommandSpec spec;

  /** What init-model writes: a model of this shape for this tokenizer, at {@code output}. */
  public record Options(String tokenizer, String output, boolean overwrite, int nLayer, int nEmbd, int nHead,
      int nPositions, long seed) {
    public Options {
      for (int v : new int[] {nLayer, nEmbd, nHead, nPositions}) {
        if (v < 1) throw new IllegalArgumentException("--n-layer, --n-embd, --n-head and --n-positions must be >= 1");
      }
    }
  }

  /** What a run did: {@code skipped} when the output held a complete model of the same settings and tokenizer. */
  public record Result(boolean skipped, String fingerprint, Map<String, Object> summary) {}

  @Override
  public Integer call() throws IOException {
    Result r = run(options(JobConfig.resolve(spec)), false);
    spec.commandLine().getOut().println(JSON.writeValueAsString(r.summary()));
    spec.commandLine().getOut().flush();
    return 0;
  }

  /** The init-model block of resolved settings as options. */
  public static Options options(JobConfig c) {
    com.typesafe.config.Config b = c.block();
    for (String key : List.of("tokenizer", "output")) {
      if (!b.hasPath(key)) {
        throw new IllegalArgumentException("missing --" + key + " (or init-model." + key + " in --config): see"
            + " spark-dpo init-model --help");
      }
    }
    return new Options(c.required("tokenizer"), c.required("output"), b.getBoolean("overwrite"), b.getInt("n-layer"),
        b.getInt("n-embd"), b.getInt("n-head"), b.getInt("n-positions"), b.getLong("seed"));
  }

  /**
   * Writes the model. {@code skipIfSame}: a complete model written from the same settings and tokenizer bytes is
   * kept as it is (the pipeline's rerun); otherwise an existing one needs --overwrite.
   */
  public static Result run(Options o, boolean skipIfSame) throws IOException {
    // the output and the tokenizer may be on any Hadoop file system (the tokenizer is read from a local copy, the
    // model is written into the output's local directory and uploaded at commit: StageOutput.localDir)
    Configuration conf = HadoopFiles.defaultConf();
    String out = HadoopFiles.qualified(o.output(), conf);
    Path tokenizerJson = TokenizerFiles.resolveTokenizerJson(o.tokenizer());
    String tokenizerGiven = HadoopFiles.localPathOf(o.tokenizer()) != null ? tokenizerJson.toUri().toString()
        : HadoopFiles.qualified(o.tokenizer(), conf);
    PairTokenizer tok = PairTokenizer.open(new TokenizerSpec(tokenizerJson.toString(), 0, 0, Truncation.KEEP_END, true));
    GptConfig config = new GptConfig(tok.vocabSize(), o.nPositions(), o.nEmbd(), o.nLayer(), o.nHead(), 1e-5);
    OptionalInt eos = tok.eosId();
    String fingerprint = StageOutput.sha256(config + " seed=" + o.seed() + " tokenizer="
        + StageOutput.sha256(Files.readString(tokenizerJson)));
    boolean skipped = false;
    long parameters;
    try (StageOutput stage = StageOutput.open("init-model", "--output", out,
        List.of(new StageOutput.Input("--tokenizer", tokenizerGiven)), conf)) {
      if (skipIfSame && fingerprint.equals(stage.completeFingerprint())) {
        skipped = true;
        parameters = GptCheckpoint.load(HadoopFiles.local(out, List.of(GptCheckpoint.CONFIG, GptCheckpoint.WEIGHTS),
            conf)).parameterCount();
      } else {
        if (stage.existing() != null && !o.overwrite() && !skipIfSame) {
          throw new IllegalArgumentException("--output " + StageOutput.show(stage.target()) + " already holds a model written by init-model: pass"
              + " --overwrite to replace it, or choose another --output");
        }
        GptCheckpoint model = GptInit.init(config, o.seed());
        parameters = model.parameterCount();
        stage.begin(fingerprint);
        model.writeFiles(stage.localDir(), eos.isPresent() ? eos.getAsInt() : null,
            tokenizerJson);
        stage.commit();
      }
    }

    Map<String, Object> summary = new LinkedHashMap<>();
    summary.put("path", StageOutput.show(new org.apache.hadoop.fs.Path(out)));
    summary.put("parameters", parameters);
    summary.put("vocab_size", config.vocabSize());
    summary.put("n_layer", o.nLayer());
    summary.put("n_embd", o.nEmbd());
    summary.put("n_head", o.nHead());
    summary.put("n_positions", o.nPositions());
    summary.put("eos_token_id", eos.isPresent() ? eos.getAsInt() : null);
    summary.put("seed", o.seed());
    return new Result(skipped, fingerprint, summary);
  }
}
