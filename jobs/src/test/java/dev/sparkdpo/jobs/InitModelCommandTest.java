package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InitModelCommandTest {
  @TempDir Path dir;

  static Path gpt2Tokenizer() {
    String prop = System.getProperty("testdata.dir");
    Path testData = Path.of(prop != null ? prop : "../target/testdata").toAbsolutePath().normalize();
    Path tok = testData.resolve("fixtures/gpt2-tokenizer/tokenizer.json");
    assertTrue(Files.isRegularFile(tok), "missing fixture " + tok);
    return tok;
  }

  private String[] args(Path out, String... extra) {
    String[] base = {"init-model", "--tokenizer", gpt2Tokenizer().toString(), "--output", out.toString(),
        "--n-layer", "2", "--n-embd", "32", "--n-head", "2", "--n-positions", "16", "--seed", "5"};
    String[] all = new String[base.length + extra.length];
    System.arraycopy(base, 0, all, 0, base.length);
    System.arraycopy(extra, 0, all, base.length, extra.length);
    return all;
  }

  @Test
  void writesAnHfModelDirectorySizedForTheTokenizer() throws Exception {
    Path out = dir.resolve("model");
    ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    PrintStream old = System.out;
    System.setOut(new PrintStream(stdout, true, StandardCharsets.UTF_8));
    int code;
    try {
      code = SparkDpo.run(args(out));
    } finally {
      System.setOut(old);
    }
    assertEquals(0, code);

    GptCheckpoint model = GptCheckpoint.load(out);
    assertEquals(new GptConfig(50257, 16, 32, 2, 2, 1e-5), model.config());
    GptCheckpoint.parameterShapes(model.config()).forEach((name, shape) ->
        assertArrayEquals(shape, model.weights().get(name).shape(), name));
    assertArrayEquals(new long[] {50257, 32}, model.weights().get("transformer.wte.weight").shape());
    assertArrayEquals(Files.readAllBytes(gpt2Tokenizer()), Files.readAllBytes(out.resolve("tokenizer.json")));

    ObjectMapper json = new ObjectMapper();
    JsonNode config = json.readTree(out.resolve("config.json").toFile());
    assertEquals(50256, config.get("eos_token_id").asInt());
    assertEquals(50256, config.get("bos_token_id").asInt());

    String[] lines = stdout.toString(StandardCharsets.UTF_8).strip().split("\n");
    JsonNode summary = json.readTree(lines[lines.length - 1]);
    assertEquals(model.parameterCount(), summary.get("parameters").asLong());
    assertEquals(out.toAbsolutePath().normalize().toString(), summary.get("path").asText());
  }

  @Test
  void replacesOnlyItsOwnModelAndOnlyWithOverwrite() throws Exception {
    // a user's directory is never replaced, --overwrite or not (it used to be deleted)
    Path users = Files.createDirectories(dir.resolve("busy"));
    Files.writeString(users.resolve("keep.txt"), "x");
    assertEquals(2, SparkDpo.run(args(users)));
    assertEquals(2, SparkDpo.run(args(users, "--overwrite")));
    assertEquals("x", Files.readString(users.resolve("keep.txt")), "left alone");

    // a model init-model wrote is replaced with --overwrite only (the whole directory: the marker goes)
    Path out = dir.resolve("ours");
    assertEquals(0, SparkDpo.run(args(out)));
    Files.writeString(out.resolve("marker.txt"), "added later");
    assertEquals(2, SparkDpo.run(args(out)));
    assertTrue(Files.exists(out.resolve("marker.txt")));
    assertEquals(0, SparkDpo.run(args(out, "--overwrite")));
    assertFalse(Files.exists(out.resolve("marker.txt")));
    assertEquals(50257, GptCheckpoint.load(out).config().vocabSize());
  }

  @Test
  void invalidShapeIsAUsageError() {
    assertEquals(2, SparkDpo.run("init-model", "--tokenizer", gpt2Tokenizer().toString(), "--output",
        dir.resolve("m").toString(), "--n-embd", "30", "--n-head", "4"));
  }
}
