package dev.sparkdpo.model;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * {@link OpenBlasCore#prepare} in a test JVM before JUnit loads any test class (so before any test loads ND4J):
 * registered by each module's src/test/resources/META-INF/services file, never by the main jar, so JUnit (a provided
 * dependency) is needed only where tests run. Without it the tests' model code ran on OpenBLAS's generic kernels on a
 * CPU OpenBLAS 0.3.19 does not know.
 */
public final class OpenBlasCoreForTests implements LauncherSessionListener {
  @Override
  public void launcherSessionOpened(LauncherSession session) {
    OpenBlasCore.prepare();
  }
}
