package dev.sparkdpo.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.io.ModelFingerprint;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.LoraParams;
import dev.sparkdpo.model.PeftAdapter;
import dev.sparkdpo.model.Safetensors;
import dev.sparkdpo.model.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import dev.sparkdpo.io.HadoopFiles;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code <output>/checkpoints/step-N/}: a Hugging Face model directory (config.json, model.safetensors, the tokenizer
 * files of the starting model) plus {@code optimizer.safetensors} (the DL4J updater's state vector: Adam's m and v,
 * RMSprop's cache; absent for SGD) and {@code trainer_state.json} (step, epoch, position in the epoch's data order,
 * the settings that must not change on resume). Each is written to a temporary sibling and renamed into place, so a
 * {@code step-N} directory is always complete. Any Hadoop file system: the files are written with java.nio into the
 * temporary sibling itself on a local disk, else into a local staging directory uploaded into it
 * ({@link HadoopFiles#writeDirectory}). A LoRA run's checkpoint holds {@code adapter/} (PEFT's format: the adapters,
 * which are all the network trains) instead of the model files; its optimizer state is the adapters' too.
 */
public final class Checkpoints {
  public static final String DIR = "checkpoints";
  /** The adapters of a LoRA run, in PEFT's format: in each checkpoint and in the run's output. */
  public static final String ADAPTER = "adapter";
  public static final String OPTIMIZER = "optimizer.safetensors";
  public static final String STATE = "trainer_state.json";
  private static final String UPDATER_STATE = "updater_state";
  private static final Pattern STEP_DIR = Pattern.compile("step-(\\d+)");
  private static final ObjectMapper JSON = new ObjectMapper();

  private Checkpoints() {}

  /**
   * Where training stands after {@code step} steps: {@code epoch} (0-based) and steps done in it; {@code settings} the
   * JSON of everything a resumed run must share (data, model, loss, optimizer, parallelism, seed).
   */
  public record State(long step, int epoch, long epochStep, double seconds, long tokens, JsonNode settings) {}

  public static Path dir(Path output, long step) {
    return new Path(new Path(output, DIR), "step-" + step);
  }

  /**
   * Writes checkpoint {@code state.step()} of {@code net} into {@code output} on {@code fs} (any Hadoop file system);
   * returns its directory. {@code sourceModel} is the starting model's local directory (its tokenizer files are
   * copied along).
   */
  public static Path save(FileSystem fs, Path output, ComputationGraph net, State state, Integer eosTokenId,
      java.nio.file.Path sourceModel) {
    Path target = dir(output, state.step());
    Path temp = new Path(target.getParent(), ".step-" + state.step() + ".tmp-" + UUID.randomUUID());
    try {
      HadoopFiles.writeDirectory(fs, temp, dir -> {
        writeModel(dir, net, eosTokenId, sourceModel);
        INDArray updater = PolicyNetwork.updaterState(net);
        if (updater != null && updater.length() > 0) {
          float[] values = updater.reshape(updater.length()).toFloatVector();
          Safetensors.write(dir.resolve(OPTIMIZER), Map.of(UPDATER_STATE, new Tensor(new long[] {values.length},
              values)), Map.of("updater", PolicyNetwork.layer(net).layerConf().getIUpdater().getClass()
                  .getSimpleName()));
        }
        ObjectNode json = JSON.createObjectNode();
        json.put("global_step", state.step());
        json.put("epoch", state.epoch());
        json.put("epoch_step", state.epochStep());
        json.put("seconds", state.seconds());
        json.put("tokens", state.tokens());
        json.set("settings", state.settings());
        Files.writeString(dir.resolve(STATE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json));
      });
      replace(fs, temp, target);
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException("writing checkpoint " + target + ": " + e.getMessage(), e);
    } finally {
      deleteQuietly(fs, temp);
    }
  }

  /** Writes the network's weights as a Hugging Face model directory at {@code dir}, atomically (temp, then rename). */
  public static void saveModel(FileSystem fs, Path dir, ComputationGraph net, Integer eosTokenId,
      java.nio.file.Path sourceModel) {
    Path temp = new Path(dir.getParent(), "." + dir.getName() + ".tmp-" + UUID.randomUUID());
    try {
      HadoopFiles.writeDirectory(fs, temp, local -> writeModel(local, net, eosTokenId, sourceModel));
      replace(fs, temp, dir);
    } catch (IOException e) {
      throw new UncheckedIOException("writing model " + dir + ": " + e.getMessage(), e);
    } finally {
      deleteQuietly(fs, temp);
    }
  }

  /** Moves the complete {@code temp} to {@code target}, deleting an older {@code target} first. */
  private static void replace(FileSystem fs, Path temp, Path target) throws IOException {
    if (fs.exists(target)) fs.delete(target, true);
    // never onto an existing directory: HDFS would move temp inside it
    if (fs.exists(target) || !fs.rename(temp, target)) throw new IOException("cannot rename " + temp + " to " + target);
  }

  private static void deleteQuietly(FileSystem fs, Path p) {
    try {
      if (fs.exists(p)) fs.delete(p, true);
    } catch (IOException e) {
      throw new UncheckedIOException("deleting " + p + ": " + e.getMessage(), e);
    }
  }

  /** The model's files, or with LoRA the adapters' ({@code adapter/}). */
  private static void writeModel(java.nio.file.Path dir, ComputationGraph net, Integer eosTokenId,
      java.nio.file.Path sourceModel) throws IOException {
    LoraParams adapters = PolicyNetwork.adapters(net);
    if (adapters != null) {
      writeAdapter(dir.resolve(ADAPTER), net);
      return;
    }
    PolicyNetwork.checkpoint(net).writeFiles(dir, eosTokenId, null);
    copyModelFiles(sourceModel, dir);
  }

  /** A LoRA network's adapters in PEFT's format; base_model_name_or_path is the base model's directory. */
  private static void writeAdapter(java.nio.file.Path dir, ComputationGraph net) throws IOException {
    String base = PolicyNetwork.layer(net).layerConf().getBaseModel();
    if (base.startsWith("file:")) base = HadoopFiles.localPathOf(base).toString(); // a path PEFT can open
    PeftAdapter.writeFiles(dir, PolicyNetwork.adapters(net), base);
  }

  /** A LoRA network's adapters as {@code dir} (adapter_config.json, adapter_model.safetensors), atomically. */
  public static void saveAdapter(FileSystem fs, Path dir, ComputationGraph net) {
    Path temp = new Path(dir.getParent(), "." + dir.getName() + ".tmp-" + UUID.randomUUID());
    try {
      HadoopFiles.writeDirectory(fs, temp, local -> writeAdapter(local, net));
      replace(fs, temp, dir);
    } catch (IOException e) {
      throw new UncheckedIOException("writing adapters " + dir + ": " + e.getMessage(), e);
    } finally {
      deleteQuietly(fs, temp);
    }
  }

  /**
   * A LoRA network's adapters merged into the frozen {@code base} (W + s (B A)^T) as a Hugging Face model directory
   * at {@code dir}, atomically, with the starting model's other files.
   */
  public static void saveMergedModel(FileSystem fs, Path dir, ComputationGraph net, GptParams base,
      Integer eosTokenId, java.nio.file.Path sourceModel) {
    saveMergedModel(fs, dir, PolicyNetwork.adapters(net), base, eosTokenId, sourceModel, Map.of());
  }

  /**
   * Whether {@code checkpoint} (a local step-N directory) is a LoRA run's: adapters ({@code adapter/}) instead of
   * model files.
   */
  public static boolean holdsAdapters(java.nio.file.Path checkpoint) {
    return Files.isRegularFile(checkpoint.resolve(ADAPTER).resolve(PeftAdapter.WEIGHTS))
        && !Files.isRegularFile(checkpoint.resolve(GptCheckpoint.WEIGHTS));
  }

  /**
   * The policy of a LoRA run's checkpoint as a plain Hugging Face model directory at {@code dir} (local): its
   * {@code adapter/} merged into {@code baseModel} (the run's frozen model, whose other files it gets), what the
   * stages that read a model directory (evaluate) can load. A marker file names the adapters' bytes and the base:
   * a {@code dir} that already holds this merge is kept (a re-run pipeline does not rewrite it); returns whether it
   * was written.
   */
  public static boolean saveMergedCheckpoint(java.nio.file.Path checkpoint, java.nio.file.Path baseModel,
      java.nio.file.Path dir) {
    java.nio.file.Path adapter = checkpoint.resolve(ADAPTER);
    String what = "checkpoint " + checkpoint;
    String source;
    try {
      ObjectNode from = JSON.createObjectNode(); // in this order on every JVM (Map.of's order is not)
      from.put("adapter", checkpoint.toString());
      from.put("adapter_sha256", ModelFingerprint.ofFiles(new Configuration(),
          new Path(adapter.resolve(PeftAdapter.CONFIG).toUri()), new Path(adapter.resolve(PeftAdapter.WEIGHTS).toUri())));
      from.put("base_model", baseModel.toString());
      source = JSON.writeValueAsString(from);
      java.nio.file.Path marker = dir.resolve(MERGED_FROM);
      if (Files.isRegularFile(marker) && Files.readString(marker).equals(source)) return false;
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + what + ": " + e.getMessage(), e);
    }
    GptParams base = GptParams.from(GptCheckpoint.load(baseModel, "the base model " + baseModel + " of " + what),
        org.nd4j.linalg.api.buffer.DataType.FLOAT);
    LoraParams adapters = PeftAdapter.load(adapter, base.config(), base.dataType(), what);
    try {
      FileSystem fs = FileSystem.getLocal(new Configuration());
      saveMergedModel(fs, new Path(dir.toUri()), adapters, base, eosTokenId(baseModel), baseModel,
          Map.of(MERGED_FROM, source));
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + dir + ": " + e.getMessage(), e);
    }
    return true;
  }

  /** The marker of {@link #saveMergedCheckpoint}: what the merged model was made from. */
  static final String MERGED_FROM = "merged_from.json";

  /** eos_token_id of the model's config.json, if it has one (saved models keep it). */
  static Integer eosTokenId(java.nio.file.Path model) {
    try {
      JsonNode config = JSON.readTree(model.resolve(GptCheckpoint.CONFIG).toFile());
      return config.hasNonNull("eos_token_id") ? config.get("eos_token_id").asInt() : null;
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + model.resolve(GptCheckpoint.CONFIG) + ": " + e.getMessage(), e);
    }
  }

  /** adapters merged into base as a model directory at dir, atomically, with sourceModel's other files and extras. */
  private static void saveMergedModel(FileSystem fs, Path dir, LoraParams adapters, GptParams base,
      Integer eosTokenId, java.nio.file.Path sourceModel, Map<String, String> extraFiles) {
    Path temp = new Path(dir.getParent(), "." + dir.getName() + ".tmp-" + UUID.randomUUID());
    try {
      HadoopFiles.writeDirectory(fs, temp, local -> {
        adapters.mergedInto(base).toCheckpoint().writeFiles(local, eosTokenId, null);
        copyModelFiles(sourceModel, local);
        for (Map.Entry<String, String> e : extraFiles.entrySet()) Files.writeString(local.resolve(e.getKey()),
            e.getValue());
      });
      replace(fs, temp, dir);
    } catch (IOException e) {
      throw new UncheckedIOException("writing model " + dir + ": " + e.getMessage(), e);
    } finally {
      deleteQuietly(fs, temp);
    }
  }

  /**
   * Copies the starting model's other files (tokenizer.json, tokenizer_config.json, vocab/merges, generation config)
   * into a saved model directory, so that it loads like the model it came from.
   */
  public static void copyModelFiles(java.nio.file.Path sourceModel, java.nio.file.Path dir) throws IOException {
    List<String> own = List.of(GptCheckpoint.CONFIG, GptCheckpoint.WEIGHTS, OPTIMIZER, STATE,
        "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json");
    try (Stream<java.nio.file.Path> files = Files.list(sourceModel)) {
      for (java.nio.file.Path f : files.toList()) {
        String name = f.getFileName().toString();
        if (Files.isRegularFile(f) && !name.startsWith(".") && !own.contains(name) && !name.endsWith(".safetensors")
            && !name.endsWith(".bin") && !name.startsWith("_")) {
          Files.copy(f, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
  }

  /** The complete checkpoint with the highest step, if any. */
  public static Optional<Path> newest(FileSystem fs, Path output) {
    Path dir = new Path(output, DIR);
    try {
      if (!fs.isDirectory(dir)) return Optional.empty();
      Path best = null;
      for (FileStatus st : fs.listStatus(dir)) {
        Path p = st.getPath();
        if (st.isDirectory() && STEP_DIR.matcher(p.getName()).matches() && fs.isFile(new Path(p, STATE))
            && (best == null || stepOf(p) > stepOf(best))) {
          best = p;
        }
      }
      return Optional.ofNullable(best);
    } catch (IOException e) {
      throw new UncheckedIOException("listing " + dir + ": " + e.getMessage(), e);
    }
  }

  static long stepOf(Path checkpoint) {
    Matcher m = STEP_DIR.matcher(checkpoint.getName());
    if (!m.matches()) throw new IllegalArgumentException(checkpoint + " is not a step-N checkpoint directory");
    return Long.parseLong(m.group(1));
  }

  public static State readState(FileSystem fs, Path checkpoint) {
    Path file = new Path(checkpoint, STATE);
    try {
      JsonNode j = JSON.readTree(HadoopFiles.readText(fs, file));
      return new State(j.path("global_step").asLong(), j.path("epoch").asInt(), j.path("epoch_step").asLong(),
          j.path("seconds").asDouble(), j.path("tokens").asLong(), j.path("settings"));
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + file + ": " + e.getMessage(), e);
    }
  }

  /**
   * Loads a checkpoint's weights and optimizer state into {@code net} (built with the same settings); a checkpoint
   * on a non-local file system is read from a local copy.
   */
  public static State restore(FileSystem fs, Path checkpoint, ComputationGraph net, Configuration conf) {
    State state = readState(fs, checkpoint);
    LoraParams adapters = PolicyNetwork.adapters(net);
    java.nio.file.Path local = HadoopFiles.local(checkpoint.toString(), adapters == null
        ? List.of(GptCheckpoint.CONFIG, GptCheckpoint.WEIGHTS, OPTIMIZER) : List.of(OPTIMIZER), conf);
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      if (adapters == null) {
        GptParams.over(PolicyNetwork.gptConfig(net), net.params())
            .copyFrom(GptCheckpoint.load(local, "checkpoint " + checkpoint));
      } else {
        String adapterDir = new Path(checkpoint, ADAPTER).toString();
        java.nio.file.Path a = HadoopFiles.local(adapterDir, List.of(PeftAdapter.CONFIG, PeftAdapter.WEIGHTS), conf);
        String what = "--resume checkpoint " + adapterDir;
        if (!PeftAdapter.readConfig(a, what).equals(adapters.lora())) {
          throw new IllegalArgumentException(what + " holds adapters " + PeftAdapter.readConfig(a, what)
              + ", the run trains " + adapters.lora() + ": resume with the same --lora-* options, or --force");
        }
        adapters.flat().assign(PeftAdapter.load(a, adapters.config(), adapters.dataType(), what).flat());
      }
      INDArray updater = PolicyNetwork.updaterState(net);
      java.nio.file.Path optimizer = local.resolve(OPTIMIZER);
      if (updater != null && updater.length() > 0) {
        if (!Files.isRegularFile(optimizer)) {
          throw new IllegalArgumentException(checkpoint + " has no " + OPTIMIZER + " but the optimizer has state");
        }
        Tensor t = Safetensors.read(optimizer).get(UPDATER_STATE);
        if (t == null || t.size() != updater.length()) {
          throw new IllegalArgumentException(new Path(checkpoint, OPTIMIZER) + ": optimizer state of "
              + (t == null ? 0 : t.size()) + " values, the optimizer has " + updater.length()
              + " (another optimizer or model?)");
        }
        updater.assign(Nd4j.createFromArray(t.data()).reshape(updater.shape()));
      }
    }
    net.getConfiguration().setIterationCount((int) state.step());
    net.getConfiguration().setEpochCount(state.epoch());
    return state;
  }

  static void deleteTree(java.nio.file.Path p) {
    HadoopFiles.deleteTree(p);
  }
}
