package dev.sparkdpo.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptParams;
import dev.sparkdpo.model.Safetensors;
import dev.sparkdpo.model.Tensor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code <output>/checkpoints/step-N/}: a Hugging Face model directory (config.json, model.safetensors, the tokenizer
 * files of the starting model) plus {@code optimizer.safetensors} (the DL4J updater's state vector: Adam's m and v,
 * RMSprop's cache; absent for SGD) and {@code trainer_state.json} (step, epoch, position in the epoch's data order,
 * the settings that must not change on resume). Each is written to a temporary sibling and renamed into place, so a
 * {@code step-N} directory is always complete.
 */
public final class Checkpoints {
  public static final String DIR = "checkpoints";
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
    return output.resolve(DIR).resolve("step-" + step);
  }

  /** Writes checkpoint {@code state.step()} of {@code net}; returns its directory. */
  public static Path save(Path output, ComputationGraph net, State state, Integer eosTokenId, Path sourceModel) {
    Path target = dir(output, state.step());
    Path temp = target.resolveSibling(".step-" + state.step() + ".tmp-" + UUID.randomUUID());
    try {
      Files.createDirectories(target.getParent());
      writeModel(temp, net, eosTokenId, sourceModel);
      INDArray updater = PolicyNetwork.updaterState(net);
      if (updater != null && updater.length() > 0) {
        float[] values = updater.reshape(updater.length()).toFloatVector();
        Safetensors.write(temp.resolve(OPTIMIZER), Map.of(UPDATER_STATE, new Tensor(new long[] {values.length}, values)),
            Map.of("updater", net.getLayer(PolicyNetwork.LAYER).conf().getLayer().getUpdaterByParam("wte-weight")
                .getClass().getSimpleName()));
      }
      ObjectNode json = JSON.createObjectNode();
      json.put("global_step", state.step());
      json.put("epoch", state.epoch());
      json.put("epoch_step", state.epochStep());
      json.put("seconds", state.seconds());
      json.put("tokens", state.tokens());
      json.set("settings", state.settings());
      Files.writeString(temp.resolve(STATE), JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json));
      if (Files.exists(target)) deleteTree(target);
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
      return target;
    } catch (IOException e) {
      throw new UncheckedIOException("writing checkpoint " + target + ": " + e.getMessage(), e);
    } finally {
      deleteTree(temp);
    }
  }

  /** Writes the network's weights as a Hugging Face model directory at {@code dir}, atomically (temp, then rename). */
  public static void saveModel(Path dir, ComputationGraph net, Integer eosTokenId, Path sourceModel) {
    Path temp = dir.resolveSibling("." + dir.getFileName() + ".tmp-" + UUID.randomUUID());
    try {
      writeModel(temp, net, eosTokenId, sourceModel);
      if (Files.exists(dir)) deleteTree(dir);
      Files.move(temp, dir, StandardCopyOption.ATOMIC_MOVE);
    } catch (IOException e) {
      throw new UncheckedIOException("writing model " + dir + ": " + e.getMessage(), e);
    } finally {
      deleteTree(temp);
    }
  }

  private static void writeModel(Path dir, ComputationGraph net, Integer eosTokenId, Path sourceModel)
      throws IOException {
    PolicyNetwork.checkpoint(net).save(dir, eosTokenId, null);
    copyModelFiles(sourceModel, dir);
  }

  /**
   * Copies the starting model's other files (tokenizer.json, tokenizer_config.json, vocab/merges, generation config)
   * into a saved model directory, so that it loads like the model it came from.
   */
  public static void copyModelFiles(Path sourceModel, Path dir) throws IOException {
    List<String> own = List.of(GptCheckpoint.CONFIG, GptCheckpoint.WEIGHTS, OPTIMIZER, STATE,
        "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json");
    try (Stream<Path> files = Files.list(sourceModel)) {
      for (Path f : files.toList()) {
        String name = f.getFileName().toString();
        if (Files.isRegularFile(f) && !name.startsWith(".") && !own.contains(name) && !name.endsWith(".safetensors")
            && !name.endsWith(".bin") && !name.startsWith("_")) {
          Files.copy(f, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
  }

  /** The complete checkpoint with the highest step, if any. */
  public static Optional<Path> newest(Path output) {
    Path dir = output.resolve(DIR);
    if (!Files.isDirectory(dir)) return Optional.empty();
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> STEP_DIR.matcher(p.getFileName().toString()).matches())
          .filter(p -> Files.isRegularFile(p.resolve(STATE)))
          .max(Comparator.comparingLong(Checkpoints::stepOf));
    } catch (IOException e) {
      throw new UncheckedIOException("listing " + dir + ": " + e.getMessage(), e);
    }
  }

  static long stepOf(Path checkpoint) {
    Matcher m = STEP_DIR.matcher(checkpoint.getFileName().toString());
    if (!m.matches()) throw new IllegalArgumentException(checkpoint + " is not a step-N checkpoint directory");
    return Long.parseLong(m.group(1));
  }

  public static State readState(Path checkpoint) {
    try {
      JsonNode j = JSON.readTree(checkpoint.resolve(STATE).toFile());
      return new State(j.path("global_step").asLong(), j.path("epoch").asInt(), j.path("epoch_step").asLong(),
          j.path("seconds").asDouble(), j.path("tokens").asLong(), j.path("settings"));
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + checkpoint.resolve(STATE) + ": " + e.getMessage(), e);
    }
  }

  /** Loads a checkpoint's weights and optimizer state into {@code net} (built with the same settings). */
  public static State restore(Path checkpoint, ComputationGraph net) {
    State state = readState(checkpoint);
    GptCheckpoint weights = GptCheckpoint.load(checkpoint);
    try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
      GptParams.over(PolicyNetwork.gptConfig(net), net.params()).copyFrom(weights);
      INDArray updater = PolicyNetwork.updaterState(net);
      Path optimizer = checkpoint.resolve(OPTIMIZER);
      if (updater != null && updater.length() > 0) {
        if (!Files.isRegularFile(optimizer)) {
          throw new IllegalArgumentException(checkpoint + " has no " + OPTIMIZER + " but the optimizer has state");
        }
        Tensor t = Safetensors.read(optimizer).get(UPDATER_STATE);
        if (t == null || t.size() != updater.length()) {
          throw new IllegalArgumentException(optimizer + ": optimizer state of " + (t == null ? 0 : t.size())
              + " values, the optimizer has " + updater.length() + " (another optimizer or model?)");
        }
        updater.assign(Nd4j.createFromArray(t.data()).reshape(updater.shape()));
      }
    }
    net.getConfiguration().setIterationCount((int) state.step());
    net.getConfiguration().setEpochCount(state.epoch());
    return state;
  }

  static void deleteTree(Path p) {
    if (!Files.exists(p)) return;
    try (Stream<Path> s = Files.walk(p)) {
      for (Path f : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
    } catch (IOException e) {
      throw new UncheckedIOException("deleting " + p, e);
    }
  }
}
