package dev.sparkdpo.io;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Runs a progress line on the driver every few seconds while a Spark job runs (the job blocks the driver's thread);
 * stops when closed. The one mechanism for the stages' "done / total, rate, ETA" lines.
 */
public final class ProgressTicker implements AutoCloseable {
  private final ScheduledExecutorService ticker;

  private ProgressTicker(String name, long seconds, Runnable line) {
    ticker = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, name);
      t.setDaemon(true);
      return t;
    });
    ticker.scheduleAtFixedRate(line, seconds, seconds, TimeUnit.SECONDS);
  }

  /** Calls {@code line} every {@code seconds} (first after {@code seconds}) on a daemon thread named {@code name}. */
  public static ProgressTicker every(String name, long seconds, Runnable line) {
    return new ProgressTicker(name, seconds, line);
  }

  @Override
  public void close() {
    ticker.shutdownNow();
  }
}
