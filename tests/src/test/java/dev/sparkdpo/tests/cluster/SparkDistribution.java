package dev.sparkdpo.tests.cluster;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A Spark distribution's {@code SPARK_HOME} ({@code jars/}, {@code conf/}) and its {@code spark-submit}, run the way
 * {@code bin/spark-submit} runs it: {@code bin/spark-class} asks Spark's launcher ({@code org.apache.spark.launcher.Main}
 * on {@code jars/*}) for the command line — java from {@code JAVA_HOME}, the class path {@code conf/:jars/*},
 * {@code --driver-memory}, the driver's Java options and Spark's Java 17 module flags — and runs it. The environment
 * is what {@code bin/load-spark-env.sh} sets for a distribution ({@code SPARK_HOME}, {@code SPARK_SCALA_VERSION}).
 *
 * <p>{@link #standIn()} is the tests' distribution: {@code tests/spark-dist} assembles it from Maven Central
 * ({@code spark-3.5.7-bin-hadoop3}'s jars; see that module's POM for what differs).
 */
public final class SparkDistribution {
    /** System property naming the stand-in's SPARK_HOME (set by tests/pom.xml). */
    public static final String HOME_PROPERTY = "sparkdpo.sparkHome";
    private static final String LAUNCHER_MAIN = "org.apache.spark.launcher.Main";
    private static final String SPARK_SUBMIT = "org.apache.spark.deploy.SparkSubmit";

    private final Path home;

    private SparkDistribution(Path home) {
        this.home = home;
    }

    /** The distribution at {@code home}: it must have {@code jars/} with spark-core and a {@code conf/}. */
    public static SparkDistribution at(Path home) {
        Path jars = home.resolve("jars");
        boolean core;
        try (var listing = Files.list(jars)) {
            core = listing.anyMatch(p -> p.getFileName().toString().startsWith("spark-core_"));
        } catch (IOException e) {
            throw new IllegalStateException("no Spark distribution at " + home + " (cannot list " + jars + "): build it"
                    + " with mvn -pl tests/spark-dist package", e);
        }
        if (!core || !Files.isDirectory(home.resolve("conf"))) {
            throw new IllegalStateException(home + " is not a Spark distribution (jars/spark-core_*.jar and conf/)");
        }
        return new SparkDistribution(home.toAbsolutePath().normalize());
    }

    /** The distribution assembled by tests/spark-dist (system property {@value #HOME_PROPERTY}). */
    public static SparkDistribution standIn() {
        String home = System.getProperty(HOME_PROPERTY);
        if (home == null || home.isBlank()) {
            throw new IllegalStateException("system property " + HOME_PROPERTY + " is not set (tests/pom.xml sets it)");
        }
        return at(Paths.get(home));
    }

    public Path home() {
        return home;
    }

    /** One spark-submit: the command the launcher built, its exit code, where its output went, how long it took. */
    public record Submitted(List<String> command, int exitCode, Path log, double seconds) {
        public String output() {
            try {
                return Files.readString(log);
            } catch (IOException e) {
                return "(cannot read " + log + ": " + e + ")";
            }
        }

        public String describe() {
            String[] lines = output().split("\\R");
            StringBuilder tail = new StringBuilder();
            for (int i = Math.max(0, lines.length - 60); i < lines.length; i++) {
                tail.append(lines[i]).append('\n');
            }
            return "spark-submit exited " + exitCode + " after " + String.format("%.1f", seconds) + " s (" + log
                    + "):\n" + String.join(" ", command) + "\n--- output (tail):\n" + tail;
        }
    }

    /**
     * Runs {@code spark-submit args...} to its end (at most {@code timeoutSeconds}), its stdout and stderr into
     * {@code log}. {@code env} is added to this JVM's environment (less the variables that would change what Spark
     * loads), e.g. {@code SPARK_LOCAL_IP}.
     */
    public Submitted submit(Path log, Map<String, String> env, List<String> args, long timeoutSeconds) {
        long t0 = System.nanoTime();
        List<String> command = launcherCommand(env, args);
        try {
            Files.createDirectories(log.toAbsolutePath().getParent());
            Files.writeString(log, "# " + String.join(" ", command) + "\n");
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            environment(pb, env);
            Process p = pb.start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(30, TimeUnit.SECONDS);
                throw new IllegalStateException("spark-submit did not end within " + timeoutSeconds + " s: "
                        + new Submitted(command, -1, log, (System.nanoTime() - t0) / 1e9).describe());
            }
            return new Submitted(command, p.exitValue(), log, (System.nanoTime() - t0) / 1e9);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run spark-submit " + args, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /**
     * The command line Spark's launcher builds for {@code SparkSubmit args...}. Its output protocol (as bin/spark-class
     * reads it): lines for the user (usage, errors) up to a line holding a single NUL, then the command's arguments,
     * each ended by a NUL.
     */
    List<String> launcherCommand(Map<String, String> env, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(java());
        cmd.add("-Xmx128m"); // as bin/spark-class runs the launcher
        cmd.add("-cp");
        cmd.add(home.resolve("jars") + "/*");
        cmd.add(LAUNCHER_MAIN);
        cmd.add(SPARK_SUBMIT);
        cmd.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
        environment(pb, env);
        try {
            Process p = pb.start();
            byte[] out;
            try (InputStream in = p.getInputStream()) {
                out = in.readAllBytes();
            }
            int code = p.waitFor();
            String text = new String(out, StandardCharsets.UTF_8);
            int marker = text.indexOf("\0\n");
            if (code != 0 || marker < 0) {
                throw new IllegalStateException("Spark's launcher failed (exit " + code + ") for " + args + ":\n" + text);
            }
            List<String> command = new ArrayList<>();
            for (String arg : text.substring(marker + 2).split("\0")) {
                if (!arg.isEmpty()) {
                    command.add(arg);
                }
            }
            return command;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run Spark's launcher " + cmd, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private void environment(ProcessBuilder pb, Map<String, String> env) {
        Map<String, String> e = pb.environment();
        StandaloneCluster.SCRUBBED_ENV.forEach(e::remove);
        e.remove("SPARK_CONF_DIR");
        e.put("SPARK_HOME", home.toString());
        e.put("SPARK_SCALA_VERSION", "2.12"); // bin/load-spark-env.sh sets it in a distribution
        e.put("JAVA_HOME", System.getProperty("java.home"));
        e.putAll(env);
    }

    private static String java() {
        return Paths.get(System.getProperty("java.home"), "bin", "java").toString();
    }

    @Override
    public String toString() {
        return "SparkDistribution[" + home + "]";
    }
}
