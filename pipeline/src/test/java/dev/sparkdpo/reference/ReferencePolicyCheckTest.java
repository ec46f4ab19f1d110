package dev.sparkdpo.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.io.ModelFingerprint;
import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Training's check that reference log-probs come from the model the policy starts from. */
class ReferencePolicyCheckTest {
  static final GptConfig SMALL = new GptConfig(40, 16, 8, 1, 2, 1e-5);
  final Configuration conf = new Configuration();

  @Test
  void sameWeightsPassOtherWeightsFailUnlessAllowed(@TempDir Path tmp) throws Exception {
    Path reference = tmp.resolve("ref-model"), same = tmp.resolve("same"), other = tmp.resolve("other");
    GptInit.init(SMALL, 1).save(reference);
    GptInit.init(SMALL, 1).save(same);   // a copy elsewhere: same bytes, same fingerprint
    GptInit.init(SMALL, 2).save(other);
    Path out = referenceOutput(tmp.resolve("out"), reference);

    String fp = ReferenceStage.checkPolicy(out.toString(), same.toString(), false, conf);
    assertEquals(ModelFingerprint.ofModel(reference.toString(), conf), fp);

    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ReferenceStage.checkPolicy(out.toString(), other.toString(), false, conf));
    assertTrue(e.getMessage().contains(other.toString()) && e.getMessage().contains("--allow-ref-mismatch")
        && e.getMessage().contains("bin/spark-dpo reference --model " + other), e.getMessage());
    assertEquals(fp, ReferenceStage.checkPolicy(out.toString(), other.toString(), true, conf));
  }

  @Test
  void anIncompleteOutputIsRejected(@TempDir Path tmp) throws Exception {
    Path model = tmp.resolve("m");
    GptInit.init(SMALL, 1).save(model);
    Path out = referenceOutput(tmp.resolve("out"), model);
    Files.delete(out.resolve("_SUCCESS"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> ReferenceStage.checkPolicy(out.toString(), model.toString(), false, conf));
    assertTrue(e.getMessage().contains("not a complete reference output"), e.getMessage());
  }

  /** The parts of a reference output the check reads: reference.json (as the stage writes it) and _SUCCESS. */
  private Path referenceOutput(Path dir, Path model) throws Exception {
    Files.createDirectories(dir);
    String fp = ModelFingerprint.ofModel(model.toString(), conf);
    Files.writeString(dir.resolve(ReferenceStage.REFERENCE_JSON),
        "{\"fingerprint\":\"x\",\"model_fingerprint\":\"" + fp + "\",\"model\":\"" + model + "\"}");
    Files.createFile(dir.resolve("_SUCCESS"));
    return dir;
  }
}
