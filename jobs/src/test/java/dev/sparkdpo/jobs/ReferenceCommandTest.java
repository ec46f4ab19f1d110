package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.*;

import dev.sparkdpo.reference.ReferenceStage;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** reference options → ReferenceStage.Options: defaults, a HOCON file, command-line overrides (no Spark needed). */
class ReferenceCommandTest {
  @TempDir Path dir;

  private ReferenceStage.Options parse(String... args) {
    return ReferenceCommand.options(JobConfigTest.settings(new ReferenceCommand(), args));
  }

  @Test
  void defaultsFileAndCommandLine() throws Exception {
    ReferenceStage.Options o = parse("--data", "d", "--model", "m", "--output", "o");
    assertEquals(new ReferenceStage.Options("d", "m", "o", 16384, 0, false, 10), o);
    Path conf = dir.resolve("ref.conf");
    Files.writeString(conf, "reference { data = d, model = m, output = o, batch-tokens = 4096, progress-seconds = 60 }\n");
    assertEquals(new ReferenceStage.Options("d", "m", "o", 4096, 0, false, 60), parse("--config", conf.toString()));
    assertEquals(new ReferenceStage.Options("d", "m", "o", 4096, 3, true, 5),
        parse("--config", conf.toString(), "--partitions", "3", "--force", "--progress-seconds", "5"));
  }

  @Test
  void badValuesNameTheOption() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse("--data", "d", "--model", "m"));
    assertEquals("give --output (or reference.output in --config)", e.getMessage());
    e = assertThrows(IllegalArgumentException.class,
        () -> parse("--data", "d", "--model", "m", "--output", "o", "--batch-tokens", "0"));
    assertEquals("--batch-tokens / reference.batch-tokens must be >= 1", e.getMessage());
  }
}
