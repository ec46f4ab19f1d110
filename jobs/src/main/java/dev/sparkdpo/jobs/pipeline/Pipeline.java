package dev.sparkdpo.jobs.pipeline;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.io.HadoopFiles;
import dev.sparkdpo.io.StageOutput;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.apache.hadoop.fs.FileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs the stages in order under one run root, recording each in {@code <root>/pipeline.json} (rewritten, atomically,
 * as the run goes: after each stage starts and ends). Each stage skips itself when its complete output is up to date,
 * so a rerun, or a run after a kill, does only what is left; --force reruns the stages from --from on.
 */
public final class Pipeline {
  private static final Logger LOG = LoggerFactory.getLogger(Pipeline.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  public static final String DEMO = "demo";
  public static final String TOKENIZER = "tokenizer";
  public static final String INGEST = "ingest";
  public static final String INIT_MODEL = "init-model";
  public static final String SFT = "sft";
  public static final String GENERATE_PAIRS = "generate-pairs";
  public static final String REFERENCE = "reference";
  public static final String TRAIN = "train";
  public static final String EVALUATE = "evaluate";
  public static final String RUNS = "runs";
  public static final String FRONTIER = "frontier";
  public static final String PIPELINE_JSON = "pipeline.json";
  /** pipeline.json statuses. */
  public static final String RAN = "ran", SKIPPED = "skipped", PENDING = "pending", RUNNING = "running",
      FAILED = "failed", DISABLED = "disabled";

  /** The stages, in order: a new stage is a class and a line here. */
  static final List<PipelineStage> STAGES = List.of(new DemoDataStage(), new TokenizerStage(), new IngestStage(),
      new InitModelStage(), new SftStage(), new GeneratePairsStep(), new ReferenceStageStep(), new TrainStage(),
      new EvaluateStage(), new RunsStage(), new FrontierStage());

  public static List<String> stageNames() {
    return STAGES.stream().map(PipelineStage::name).toList();
  }

  /** One stage's line of pipeline.json. */
  record Entry(String name, String status, double seconds, String output, String fingerprint, String note) {}

  /** Which stages run: from --from to --to (names), --force forcing those run. */
  public record Range(String from, String to, boolean force) {
    public Range {
      List<String> names = stageNames();
      for (String[] o : new String[][] {{"--from", from}, {"--to", to}}) {
        if (o[1] != null && !names.contains(o[1])) {
          throw new IllegalArgumentException(o[0] + " " + o[1] + ": not a stage; stages: " + String.join(", ", names));
        }
      }
      if (from != null && to != null && names.indexOf(from) > names.indexOf(to)) {
        throw new IllegalArgumentException("--from " + from + " comes after --to " + to + ": stages run in the order "
            + String.join(", ", names));
      }
    }
  }

  private Pipeline() {}

  /** Runs the pipeline; returns the entries written to pipeline.json. */
  public static List<Entry> run(PipelineContext context, Range range) {
    List<String> names = stageNames();
    int first = range.from() == null ? 0 : names.indexOf(range.from());
    int last = range.to() == null ? names.size() - 1 : names.indexOf(range.to());
    Set<String> forced = new LinkedHashSet<>();
    List<Entry> entries = new ArrayList<>();
    for (int i = 0; i < STAGES.size(); i++) {
      PipelineStage s = STAGES.get(i);
      String status = !s.enabled(context) ? DISABLED : i < first || i > last ? SKIPPED : PENDING;
      String note = status.equals(DISABLED) ? disabledWhy(s.name())
          : i < first ? "before --from " + range.from() : i > last ? "after --to " + range.to() : null;
      entries.add(new Entry(s.name(), status, 0, context.dir(s.name()), null, note));
      if (range.force() && i >= first && i <= last) forced.add(s.name());
    }
    PipelineContext c = context.withForced(forced);
    write(c, entries);
    long runStart = System.nanoTime();
    int toRun = (int) entries.stream().filter(e -> e.status().equals(PENDING)).count();
    int done = 0;
    for (int i = 0; i < STAGES.size(); i++) {
      if (!entries.get(i).status().equals(PENDING)) continue;
      PipelineStage s = STAGES.get(i);
      LOG.info("pipeline: stage {} ({} of {}){}", s.name(), ++done, toRun, c.forced(s.name()) ? ", forced" : "");
      entries.set(i, new Entry(s.name(), RUNNING, 0, c.dir(s.name()), null, null));
      write(c, entries);
      long t0 = System.nanoTime();
      PipelineStage.StageResult r;
      try {
        r = s.run(c);
      } catch (Exception e) {
        entries.set(i, new Entry(s.name(), FAILED, seconds(t0), c.dir(s.name()), null, String.valueOf(e.getMessage())
            .lines().findFirst().orElse("")));
        write(c, entries);
        if (e instanceof RuntimeException re) throw re;
        throw new IllegalStateException("pipeline stage " + s.name() + ": " + e.getMessage(), e);
      }
      double secs = seconds(t0);
      String status = r.skipped() ? SKIPPED : RAN;
      entries.set(i, new Entry(s.name(), status, secs, r.output(), r.fingerprint(),
          r.note()));
      write(c, entries);
      LOG.info("pipeline: stage {} {} in {} s (pipeline {} s so far)", s.name(), status, Math.round(secs * 10) / 10.0,
          Math.round(seconds(runStart)));
    }
    return entries;
  }

  private static String disabledWhy(String stage) {
    return switch (stage) {
      case DEMO -> "the config has no demo block";
      case TOKENIZER -> "the config has no tokenizer block";
      case INGEST -> "the config has no ingest block";
      case RUNS, FRONTIER -> "pipeline.runs is empty and pipeline.checkpoint-evals false";
      case INIT_MODEL -> "pipeline.model is given";
      case SFT -> "the config has no sft block";
      case GENERATE_PAIRS -> "the config has no generate-pairs block";
      default -> null;
    };
  }

  /** Writes pipeline.json beside the stages' outputs: to a temporary file, then renamed over the old one. */
  static void write(PipelineContext c, List<Entry> entries) {
    org.apache.hadoop.fs.Path root = c.root();
    ObjectNode doc = JSON.createObjectNode();
    doc.put("root", StageOutput.show(root));
    doc.put("updated", Instant.now().toString());
    ArrayNode stages = doc.putArray("stages");
    for (Entry e : entries) {
      ObjectNode s = stages.addObject();
      s.put("name", e.name());
      s.put("status", e.status());
      s.put("skipped", e.status().equals(SKIPPED));
      s.put("seconds", Math.round(e.seconds() * 1000) / 1000.0);
      s.put("output", e.output());
      s.put("fingerprint", e.fingerprint());
      if (e.note() != null) s.put("note", e.note());
    }
    org.apache.hadoop.fs.Path file = new org.apache.hadoop.fs.Path(root, PIPELINE_JSON);
    try {
      FileSystem fs = HadoopFiles.fileSystem(root, c.spark().sparkContext().hadoopConfiguration());
      fs.mkdirs(root);
      org.apache.hadoop.fs.Path tmp = new org.apache.hadoop.fs.Path(root, "." + PIPELINE_JSON + ".tmp");
      HadoopFiles.writeText(fs, tmp, doc.toPrettyString() + "\n");
      HadoopFiles.replaceFile(fs, tmp, file);
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + file + ": " + e.getMessage(), e);
    }
  }

  private static double seconds(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

}
