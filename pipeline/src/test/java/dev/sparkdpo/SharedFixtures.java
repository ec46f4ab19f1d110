package dev.sparkdpo;

import java.nio.file.Path;

/** Where tests find ../shared: the system property {@code shared.dir} (set by surefire), else {@code ../../shared}. */
public final class SharedFixtures {
  private SharedFixtures() {}

  public static Path dir() {
    String prop = System.getProperty("shared.dir");
    return Path.of(prop != null ? prop : "../../shared").toAbsolutePath().normalize();
  }

  public static Path resolve(String relative) {
    return dir().resolve(relative);
  }
}
