package dev.sparkdpo.jobs;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.Config;
import dev.sparkdpo.demo.DemoData;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** The embedded demo's data (block {@code demo}; the pipeline's first stage when the config has that block). */
@Command(name = "demo", aliases = "demo-data", mixinStandardHelpOptions = true, sortOptions = false,
    abbreviateSynopsis = true, usageHelpWidth = JobConfig.HELP_WIDTH, usageHelpAutoWidth = true,
    defaultValueProvider = JobConfig.DefaultsFile.class,
    description = {"Writes the demo's data from a seed: tokenizer, corpus, preferences, lexicon.",
        "",
        "Nothing is downloaded. Writes <output>/tokenizer.json (Hugging Face WordLevel), <output>/corpus/ (sentences "
            + "of a small grammar), <output>/preferences/pairs.jsonl (flat: chosen carries more positive sentiment "
            + "words than rejected) and <output>/lexicon.json (word -> score: evaluate's reward lexicon:<path>).",
        ""},
    footer = {"", JobConfig.KEYS_FOOTER})
public final class DemoDataCommand implements Callable<Integer> {
  @Option(names = "--output", paramLabel = "DIR", description = "Output directory (written atomically).")
  String output;

  @Option(names = "--seed", paramLabel = "N", description = "Seed of everything written (default ${DEFAULT-VALUE}).")
  Long seed;

  @Option(names = "--sentences", paramLabel = "N", description = "SFT corpus sentences (default ${DEFAULT-VALUE}).")
  Integer sentences;

  @Option(names = "--pairs", paramLabel = "N", description = "Preference pairs (default ${DEFAULT-VALUE}).")
  Integer pairs;

  @Mixin ConfigFileOption configFile;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    DemoData.Result r = DemoData.run(options(JobConfig.resolve(spec)), new Configuration());
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("skipped", r.skipped());
    out.put("output", r.output());
    out.put("pairs", r.pairs());
    out.put("sentences", r.sentences());
    out.put("vocab_size", r.vocabSize());
    spec.commandLine().getOut().println(new ObjectMapper().writeValueAsString(out));
    spec.commandLine().getOut().flush();
    return 0;
  }

  /** The demo block of resolved settings as options. */
  public static DemoData.Options options(JobConfig c) {
    Config d = c.block();
    return new DemoData.Options(c.required("output"), d.getLong("seed"), d.getInt("sentences"), d.getInt("pairs"));
  }
}
