package dev.sparkdpo;

import java.nio.file.Path;

/**
 * Where tests find their fixtures (a copy of ../shared's small files, unpacked from tests/shared by the build): the
 * system property {@code shared.dir} (set by surefire), else {@code ../target/shared}.
 */
public final class SharedFixtures {
  private SharedFixtures() {}

  public static Path dir() {
    String prop = System.getProperty("shared.dir");
    return Path.of(prop != null ? prop : "../target/shared").toAbsolutePath().normalize();
  }

  public static Path resolve(String relative) {
    return dir().resolve(relative);
  }
}
