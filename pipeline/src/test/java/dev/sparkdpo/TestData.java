package dev.sparkdpo;

import java.nio.file.Path;

/**
 * Where tests find their fixtures (in the repository under tests/testdata, unpacked into target/testdata by the build): the
 * system property {@code testdata.dir} (set by surefire), else {@code ../target/testdata}.
 */
public final class TestData {
  private TestData() {}

  public static Path dir() {
    String prop = System.getProperty("testdata.dir");
    return Path.of(prop != null ? prop : "../target/testdata").toAbsolutePath().normalize();
  }

  public static Path resolve(String relative) {
    return dir().resolve(relative);
  }
}
