package dev.sparkdpo.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.model.GptConfig;
import dev.sparkdpo.model.GptInit;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The reference stage replaces its output on commit: it must refuse outputs that would destroy something else. */
class ReferenceOutputSafetyTest {
  private static SparkSession spark;
  @TempDir static Path tmp;
  static Path data, model;

  @BeforeAll
  static void setUp() throws Exception {
    spark = SparkSession.builder().master("local[1]").appName("reference-output-safety")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").getOrCreate();
    data = Files.createDirectories(tmp.resolve("data"));
    Files.writeString(data.resolve("stats.json"), "{}");
    Files.createDirectories(data.resolve("pairs"));
    Files.createFile(data.resolve("_SUCCESS"));
    model = tmp.resolve("model");
    GptInit.init(new GptConfig(40, 16, 8, 1, 2, 1e-5), 1).save(model);
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  static String refuse(Path output) {
    ReferenceStage.Options opts = new ReferenceStage.Options(data.toString(), model.toString(), output.toString(),
        1024, 0, false, 10);
    return assertThrows(IllegalArgumentException.class, () -> ReferenceStage.run(spark, opts)).getMessage();
  }

  @Test
  void anOutputThatIsOrContainsTheInputsIsRefused() throws Exception {
    assertTrue(refuse(data).contains("contains --data"), refuse(data));
    assertTrue(refuse(model).contains("contains --model"), refuse(model));
    assertTrue(refuse(tmp).contains("contains --data"), refuse(tmp)); // a parent of both
    assertTrue(refuse(model.resolve("ref")).contains("is inside --model"), refuse(model.resolve("ref")));
    assertTrue(Files.exists(data.resolve("_SUCCESS")) && Files.exists(model.resolve("model.safetensors")));
  }

  @Test
  void anExistingDirectoryThatIsNotAReferenceOutputIsRefused() throws Exception {
    Path other = Files.createDirectories(tmp.resolve("something-else"));
    Files.writeString(other.resolve("keep.txt"), "mine");
    String message = refuse(other);
    assertTrue(message.contains("not written by spark-dpo") && message.contains("keep.txt"), message);
    assertEquals("mine", Files.readString(other.resolve("keep.txt")));
  }
}
