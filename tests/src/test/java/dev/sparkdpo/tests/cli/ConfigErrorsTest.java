package dev.sparkdpo.tests.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.tests.cli.CliRuns.Run;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real CLI refuses a bad --config file or a setting that would do nothing before any work: exit code 2, one
 * {@code error:} line naming the file, line and key, no Spark session, no output. And --help fits its width.
 */
class ConfigErrorsTest {
  @TempDir Path dir;

  private Path write(String name, String text) throws IOException {
    Path file = dir.resolve(name);
    Files.writeString(file, text);
    return file;
  }

  private static void assertRefused(Run run, String expectedError) {
    assertEquals(2, run.exitCode(), run::describe);
    List<String> errors = run.stderr().lines().filter(l -> l.startsWith("error:")).toList();
    assertEquals(List.of("error: " + expectedError), errors, run::describe);
    assertNull(run.appId(), "no Spark session for a refused run");
  }

  @Test
  void aTypoAnywhereInThePipelineFileStopsTheFirstStage() throws IOException {
    Path output = dir.resolve("ingest");
    Path file = write("pipeline.conf", """
        ingest {
          input = ["x.jsonl"]
          output = "%s"
        }
        train {
          learning-rat = 5e-7
        }
        """.formatted(output));
    assertRefused(CliRuns.run("ingest", "--config", file.toString()), file + ": unknown key train.learning-rat "
        + "(line 6); did you mean train.learning-rate? Valid keys: spark-dpo train --help");
    assertFalse(Files.exists(output));
  }

  @Test
  void aValueOfTheWrongTypeNamesKeyLineAndType() throws IOException {
    Path file = write("ref.conf", "reference {\n  data = d\n  model = m\n  output = o\n  batch-tokens = lots\n}\n");
    assertRefused(CliRuns.run("reference", "--config", file.toString()),
        file + ": reference.batch-tokens (line 5): expected a whole number, got \"lots\"");
  }

  @Test
  void aSettingThatNeedsAnotherSaysWhich() {
    assertRefused(CliRuns.run("ingest", "--input", "x.jsonl", "--output", dir.resolve("o").toString(), "--max-length",
        "128"), "--max-length / ingest.max-length needs --tokenizer (token limits count tokens): add --tokenizer "
        + "<tokenizer.json or model dir> (or ingest.tokenizer in --config)");
  }

  @Test
  void helpFitsItsWidth() {
    for (String command : List.of("ingest", "reference", "train", "init-model", "bench")) {
      Run run = CliRuns.run(command, "--help");
      assertEquals(0, run.exitCode(), run::describe);
      for (String line : run.stdout().split("\\R")) {
        assertTrue(line.length() <= 100, command + " --help has a line wider than 100:\n" + line);
      }
    }
  }
}
