package dev.sparkdpo.tests.hdfs;

import dev.sparkdpo.tests.cluster.DaemonMain;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;

/**
 * A real HDFS (a NameNode and DataNodes: Hadoop 3.3.4's MiniDFSCluster, every socket on 127.0.0.1) in a child JVM, for
 * tests that read and write {@code hdfs://} paths through Spark's own Hadoop client (hadoop-client-api/runtime).
 *
 * <p>Why a child JVM: hadoop-minicluster brings the unshaded hadoop-common/hadoop-hdfs, the same class names as
 * Spark's hadoop-client-api but compiled against unrelocated Guava/protobuf/Jetty: in one JVM whichever copy of a
 * class loads first wins. Its classpath is resolved by the {@code minihdfs} module ({@code minihdfs/target/
 * classpath.txt} + its classes, system property {@code minihdfs.dir}); it runs under {@link DaemonMain}, which exits
 * it when this JVM is gone, even after a SIGKILL. Start-up: ~5 s on the 2-core machine.
 */
public final class MiniHdfs implements AutoCloseable {
  private final Process process;
  private final URI uri;
  private final Path dir;

  private MiniHdfs(Process process, URI uri, Path dir) {
    this.process = process;
    this.uri = uri;
    this.dir = dir;
  }

  /** Starts an HDFS with {@code dataNodes} DataNodes, storage and log under {@code dir}, and waits until it serves. */
  public static MiniHdfs start(Path dir, int dataNodes) {
    Path target = minihdfsTarget();
    try {
      Files.createDirectories(dir);
      String cp = Files.readString(target.resolve("classpath.txt")).strip();
      Path daemonMain = Paths.get(DaemonMain.class.getProtectionDomain().getCodeSource().getLocation().toURI());
      List<String> cmd = new ArrayList<>(List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
          "-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.net.preferIPv4Stack=true",
          "-cp", target.resolve("classes") + java.io.File.pathSeparator + daemonMain + java.io.File.pathSeparator + cp,
          DaemonMain.class.getName(), Long.toString(ProcessHandle.current().pid()),
          "dev.sparkdpo.minihdfs.MiniHdfsMain", dir.toString(), Integer.toString(dataNodes)));
      Path log = dir.resolve("minihdfs.log");
      ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
          .redirectOutput(log.toFile());
      pb.environment().remove("HADOOP_CONF_DIR");
      Process p = pb.start();
      Path uriFile = dir.resolve("uri");
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(Long.getLong("sparkdpo.minihdfs.startSeconds", 90));
      while (!Files.exists(uriFile)) {
        if (!p.isAlive() || System.nanoTime() > deadline) {
          p.destroyForcibly();
          throw new IllegalStateException("the test HDFS did not start (" + (p.isAlive() ? "timeout" : "exit "
              + p.exitValue()) + "); log " + log + ":\n" + tail(log));
        }
        Thread.sleep(200);
      }
      return new MiniHdfs(p, new URI(Files.readString(uriFile).strip()), dir);
    } catch (IOException e) {
      throw new UncheckedIOException("starting the test HDFS: " + e.getMessage(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /** {@code hdfs://127.0.0.1:PORT}. */
  public URI uri() {
    return uri;
  }

  /** {@code hdfs://127.0.0.1:PORT/path}. */
  public String path(String path) {
    return uri + (path.startsWith("/") ? path : "/" + path);
  }

  /** A client of this HDFS (Spark's hadoop-client; a new instance, closed by the caller). */
  public FileSystem fileSystem() {
    try {
      return FileSystem.newInstance(uri, new Configuration());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public Path dir() {
    return dir;
  }

  @Override
  public void close() {
    process.destroy(); // SIGTERM: the shutdown hook stops the DataNodes and the NameNode
    try {
      if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static Path minihdfsTarget() {
    String dir = System.getProperty("minihdfs.dir");
    Path target = dir != null ? Paths.get(dir) : Paths.get(System.getProperty("user.dir"), "..", "minihdfs", "target");
    if (!Files.isRegularFile(target.resolve("classpath.txt"))) {
      throw new IllegalStateException(target + "/classpath.txt is missing: build the minihdfs module first (mvn -pl"
          + " tests -am verify builds it)");
    }
    return target.toAbsolutePath().normalize();
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }
}
