package dev.sparkdpo.tests.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A real Spark standalone cluster (one master + N workers, each a child JVM on 127.0.0.1) started from the
 * Spark jars already on this JVM's (Maven test) classpath: no Spark distribution is needed.
 *
 * <pre>{@code
 * try (StandaloneCluster cluster = StandaloneCluster.start(2, 1, "1g")) {
 *   SparkSession.Builder b = SparkSession.builder().appName("e2e").master(cluster.masterUrl());
 *   cluster.driverConf().forEach(b::config);
 *   SparkSession spark = b.getOrCreate();
 *   try { ... } finally { spark.stop(); }
 * }
 * }</pre>
 *
 * <p>How it works: a throw-away {@code SPARK_HOME} is created whose {@code jars/} holds symlinks to every jar of
 * this JVM's classpath; the daemons run {@code java -cp "$SPARK_HOME/jars/*" ...Master|Worker}. Workers start the
 * executor JVMs from {@code SPARK_HOME} (hence {@code SPARK_SCALA_VERSION=2.12}); {@link #driverConf()} adds this
 * JVM's whole classpath (jars and {@code target/classes}-style directories) as {@code spark.executor.extraClassPath},
 * so executors see the project's main and test classes (paths are shared: everything runs on one machine).
 *
 * <p>{@link #start(int, int, String, Path)} runs the daemons from a Spark distribution instead ({@link SparkDistribution}:
 * its {@code jars/} and {@code conf/}), and {@link #driverConf()} then adds no class path: an application must bring
 * its classes itself (spark-submit's application jar), as on a real cluster.
 *
 * <p>Clean-up: {@link #close()} stops workers (which kill their executors), then the master, and waits; a JVM
 * shutdown hook calls it too; and the daemons run under {@link DaemonMain}, which exits them when this JVM is gone
 * even after a SIGKILL. Layout of {@link #workDir()}: {@code spark-home/} (jars symlinks, empty conf; not with a
 * distribution), {@code launcher/} (the daemons' entry point), {@code logs/master.log}, {@code logs/worker-N.log},
 * {@code worker-N/work/<appId>/<execId>/stderr} (executor logs), {@code worker-N/work/<driverId>/stderr} (drivers
 * submitted in cluster deploy mode), {@code worker-N/local/} (shuffle/block files).
 *
 * <p>Tunables (system properties): {@code sparkdpo.cluster.startTimeoutSeconds} (default 60),
 * {@code sparkdpo.cluster.daemonXmx} (default 512m), {@code sparkdpo.cluster.daemonJvmOpts} (default
 * {@value #DEFAULT_DAEMON_JVM_OPTS}), {@code sparkdpo.cluster.baseDir} (default {@code target/} of the current
 * module if it exists, else {@code java.io.tmpdir}; kept under {@code target/}, deleted on close under tmp).
 */
public final class StandaloneCluster implements AutoCloseable {

    private static final String MASTER_CLASS = "org.apache.spark.deploy.master.Master";
    private static final String WORKER_CLASS = "org.apache.spark.deploy.worker.Worker";
    private static final String HOST = "127.0.0.1";
    private static final int LOG_TAIL_LINES = 40;
    private static final int MAX_MASTER_ATTEMPTS = 3;
    /** Environment variables of the test JVM that would change what the daemons/executors load. */
    static final List<String> SCRUBBED_ENV = List.of(
            "SPARK_DIST_CLASSPATH", "SPARK_CLASSPATH", "SPARK_PREPEND_CLASSES", "SPARK_TESTING", "SPARK_SQL_TESTING",
            "SPARK_DAEMON_JAVA_OPTS", "SPARK_WORKER_OPTS", "SPARK_MASTER_OPTS", "SPARK_DAEMON_MEMORY",
            "SPARK_WORKER_CORES", "SPARK_WORKER_MEMORY", "SPARK_WORKER_INSTANCES", "SPARK_EXECUTOR_DIRS",
            "HADOOP_CONF_DIR", "YARN_CONF_DIR", "SPARK_MASTER_HOST", "SPARK_MASTER_PORT", "SPARK_PUBLIC_DNS");
    /** The daemons only route messages: C1-only JIT and the serial GC make them start faster on few cores. */
    private static final String DEFAULT_DAEMON_JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:-UsePerfData";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path workDir;
    private volatile boolean deleteWorkDirOnClose;
    private final Path sparkHome;
    /** True when the daemons run from a Spark distribution (no test classpath for executors). */
    private final boolean distribution;
    private final List<String> classpath;
    private final List<String> jvmFlags;
    private final int workerCount;
    private final int coresPerWorker;
    private final String memoryPerWorker;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread shutdownHook;

    private volatile Daemon master;
    private final List<Daemon> workers = new java.util.concurrent.CopyOnWriteArrayList<>();
    private int masterPort;
    private int masterWebUiPort;
    private long startMillis;

    /** One daemon JVM and its log file. */
    private static final class Daemon {
        final String name;
        final Process process;
        final Path log;

        Daemon(String name, Process process, Path log) {
            this.name = name;
            this.process = process;
            this.log = log;
        }
    }

    private StandaloneCluster(Path workDir, boolean deleteWorkDirOnClose, int workers, int coresPerWorker,
                              String memoryPerWorker, Path distributionHome) {
        this.workDir = workDir;
        this.deleteWorkDirOnClose = deleteWorkDirOnClose;
        this.distribution = distributionHome != null;
        this.sparkHome = distribution ? distributionHome : workDir.resolve("spark-home");
        this.classpath = currentClasspath();
        this.jvmFlags = sparkJvmFlags();
        this.workerCount = workers;
        this.coresPerWorker = coresPerWorker;
        this.memoryPerWorker = memoryPerWorker;
        this.shutdownHook = new Thread(this::close, "standalone-cluster-shutdown");
    }

    // ------------------------------------------------------------------------------------------------ start

    /**
     * Starts a master and {@code workers} workers (each {@code coresPerWorker} cores and {@code memoryPerWorker},
     * e.g. "2g", for executors) as child JVMs on 127.0.0.1 with free ports, and waits until all workers are ALIVE
     * in the master's JSON status. On failure everything started so far is stopped and the exception message holds
     * the tail of the daemon logs.
     */
    public static StandaloneCluster start(int workers, int coresPerWorker, String memoryPerWorker) {
        return start(workers, coresPerWorker, memoryPerWorker, null);
    }

    /**
     * As {@link #start(int, int, String)}, with the master, the workers and so the executors (and drivers submitted in
     * cluster deploy mode) running from the Spark distribution {@code sparkHome} ({@code jars/}, {@code conf/}); null
     * for the test classpath.
     */
    public static StandaloneCluster start(int workers, int coresPerWorker, String memoryPerWorker, Path sparkHome) {
        if (workers < 1 || coresPerWorker < 1) {
            throw new IllegalArgumentException("workers and coresPerWorker must be >= 1");
        }
        if (memoryPerWorker == null || !memoryPerWorker.trim().toLowerCase(Locale.ROOT).matches("\\d+[kmgt]?")) {
            throw new IllegalArgumentException("memoryPerWorker must look like 512m or 2g, got " + memoryPerWorker);
        }
        Path base = baseDir();
        StandaloneCluster cluster;
        try {
            Files.createDirectories(base);
            Path dir = Files.createTempDirectory(base, "standalone-cluster-");
            boolean underTmp = base.toAbsolutePath().normalize()
                    .equals(Paths.get(System.getProperty("java.io.tmpdir")).toAbsolutePath().normalize());
            cluster = new StandaloneCluster(dir, underTmp, workers, coresPerWorker,
                    memoryPerWorker.trim().toLowerCase(Locale.ROOT), sparkHome);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the cluster directory under " + base, e);
        }
        Runtime.getRuntime().addShutdownHook(cluster.shutdownHook);
        try {
            cluster.doStart();
            return cluster;
        } catch (RuntimeException | Error e) {
            String diagnostics = cluster.diagnostics();
            cluster.deleteWorkDirOnClose = false; // keep the logs of a failed start
            cluster.close();
            throw new IllegalStateException("Spark standalone cluster did not start: " + e.getMessage()
                    + "\n(work dir " + cluster.workDir + ")\n" + diagnostics, e);
        }
    }

    private void doStart() {
        long t0 = System.nanoTime();
        long deadline = t0 + TimeUnit.SECONDS.toNanos(Long.getLong("sparkdpo.cluster.startTimeoutSeconds", 60));
        if (!distribution) {
            prepareSparkHome();
        }
        prepareLauncher();

        // master: its ports are picked here; spark.port.maxRetries=0 keeps it from silently moving to another port
        // when one was taken in between (it fails with a BindException instead, and we retry with fresh ports)
        for (int attempt = 1; ; attempt++) {
            masterPort = freePort();
            masterWebUiPort = freePort();
            master = launch(attempt == 1 ? "master" : "master-attempt" + attempt, MASTER_CLASS, Map.of(), List.of("-Dspark.port.maxRetries=0"),
                    List.of("--host", HOST, "--port", String.valueOf(masterPort),
                            "--webui-port", String.valueOf(masterWebUiPort)));
            if (awaitMaster(deadline)) {
                break;
            }
            stop(List.of(master.process.toHandle()), 5);
            if (attempt >= MAX_MASTER_ATTEMPTS || !readLog(master.log).contains("BindException")) {
                throw new IllegalStateException("the master did not start (" + exitStatus(master.process)
                        + ", attempt " + attempt + ")");
            }
            // a port picked above was taken in between: try again with fresh ports (same log file)
        }

        for (int i = 0; i < workerCount; i++) {
            Path dir = workDir.resolve("worker-" + i);
            Path work = dir.resolve("work");
            Path local = dir.resolve("local");
            try {
                Files.createDirectories(work);
                Files.createDirectories(local);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Map<String, String> env = new LinkedHashMap<>();
            env.put("SPARK_WORKER_DIR", work.toString());
            env.put("SPARK_LOCAL_DIRS", local.toString());
            workers.add(launch("worker-" + i, WORKER_CLASS, env, List.of(),
                    List.of(masterUrl(), "--host", HOST, "--cores", String.valueOf(coresPerWorker),
                            "--memory", memoryPerWorker, "--work-dir", work.toString(),
                            "--webui-port", String.valueOf(freePort()))));
        }
        awaitWorkers(deadline);
        startMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
    }

    /** Polls the master JSON until it reports ALIVE; false if the master exited or could not bind a port. */
    private boolean awaitMaster(long deadline) {
        while (true) {
            if (!master.process.isAlive() || readLog(master.log).contains("BindException")) {
                return false;
            }
            JsonNode status = fetchJson(masterJsonUrl());
            if (status != null && "ALIVE".equals(status.path("status").asText())) {
                return true;
            }
            checkDeadline(deadline, "waiting for the master web UI " + masterJsonUrl() + " to report ALIVE");
            sleep(100);
        }
    }

    private void awaitWorkers(long deadline) {
        int alive = 0;
        while (true) {
            if (!master.process.isAlive()) {
                throw new IllegalStateException("the master died: " + exitStatus(master.process));
            }
            for (Daemon w : workers) {
                if (!w.process.isAlive()) {
                    throw new IllegalStateException(w.name + " died: " + exitStatus(w.process));
                }
            }
            JsonNode status = fetchJson(masterJsonUrl());
            if (status != null) {
                alive = countAliveWorkers(status);
                if (alive >= workerCount) {
                    return;
                }
            }
            checkDeadline(deadline, "waiting for " + workerCount + " ALIVE workers (have " + alive + ")");
            sleep(100);
        }
    }

    private void checkDeadline(long deadline, String what) {
        if (System.nanoTime() > deadline) {
            throw new IllegalStateException("timed out " + what);
        }
    }

    private void prepareSparkHome() {
        Path jars = sparkHome.resolve("jars");
        try {
            Files.createDirectories(jars);
            Files.createDirectories(sparkHome.resolve("conf")); // empty: isolates from a user's spark-defaults.conf
            Files.createDirectories(workDir.resolve("logs"));
            Set<String> names = new HashSet<>();
            int linked = 0;
            for (String entry : classpath) {
                Path p = Paths.get(entry);
                if (!entry.endsWith(".jar") || !Files.isRegularFile(p)) {
                    continue; // directories (target/classes) reach executors through spark.executor.extraClassPath
                }
                String name = p.getFileName().toString();
                if (!names.add(name)) {
                    name = (linked) + "-" + name; // same file name from two groupIds
                    names.add(name);
                }
                Path link = jars.resolve(name);
                try {
                    Files.createSymbolicLink(link, p.toAbsolutePath());
                } catch (IOException | UnsupportedOperationException e) {
                    Files.copy(p, link);
                }
                linked++;
            }
            if (linked == 0 || classpath.stream().noneMatch(e -> e.contains("spark-core_"))) {
                throw new IllegalStateException("spark-core is not on this JVM's classpath: " + classpath);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot prepare SPARK_HOME " + sparkHome, e);
        }
    }

    /** The daemons' entry point (exits them when this JVM dies): only this class, not all test classes. */
    private void prepareLauncher() {
        String classFile = DaemonMain.class.getName().replace('.', '/') + ".class";
        Path target = workDir.resolve("launcher").resolve(classFile);
        try {
            Files.createDirectories(workDir.resolve("logs"));
            Files.createDirectories(target.getParent());
            try (java.io.InputStream in = DaemonMain.class.getClassLoader().getResourceAsStream(classFile)) {
                if (in == null) {
                    throw new IllegalStateException("cannot read " + classFile + " from the classpath");
                }
                Files.copy(in, target);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the daemons' launcher into " + target, e);
        }
    }

    private Daemon launch(String name, String mainClass, Map<String, String> extraEnv, List<String> extraJvm,
                          List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Paths.get(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmFlags);
        cmd.add("-Xmx" + System.getProperty("sparkdpo.cluster.daemonXmx", "512m"));
        cmd.add("-Djava.io.tmpdir=" + workDir.resolve("tmp"));
        cmd.addAll(split(System.getProperty("sparkdpo.cluster.daemonJvmOpts", DEFAULT_DAEMON_JVM_OPTS), " "));
        cmd.addAll(extraJvm);
        cmd.add("-cp");
        cmd.add(workDir.resolve("launcher") + File.pathSeparator + sparkHome.resolve("jars") + File.separator + "*");
        cmd.add(DaemonMain.class.getName());
        cmd.add(String.valueOf(ProcessHandle.current().pid()));
        cmd.add(mainClass);
        cmd.addAll(args);

        Path log = workDir.resolve("logs").resolve(name + ".log");
        ProcessBuilder pb = new ProcessBuilder(cmd)
                .directory(workDir.toFile())
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        Map<String, String> env = pb.environment();
        SCRUBBED_ENV.forEach(env::remove);
        if (distribution) {
            // as on a real cluster, the daemons (whose environment executors inherit) have none of the settings the
            // test JVM gets from the build: what an application's executors need, it must set itself
            env.remove("OPENBLAS_THREAD_TIMEOUT");
            env.remove("TOKENIZERS_PARALLELISM");
        }
        env.put("SPARK_HOME", sparkHome.toString());
        env.put("SPARK_CONF_DIR", sparkHome.resolve("conf").toString());
        env.put("SPARK_SCALA_VERSION", "2.12");
        env.put("SPARK_LOCAL_IP", HOST);
        env.put("JAVA_HOME", System.getProperty("java.home")); // executors are started with $JAVA_HOME/bin/java
        env.putAll(extraEnv);
        try {
            Files.createDirectories(workDir.resolve("tmp"));
            Files.writeString(log, "# " + String.join(" ", cmd) + "\n");
            return new Daemon(name, pb.start(), log);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name + ": " + cmd, e);
        }
    }

    // ------------------------------------------------------------------------------------------------ accessors

    /** {@code spark://127.0.0.1:PORT}. */
    public String masterUrl() {
        return "spark://" + HOST + ":" + masterPort;
    }

    /** The master's web UI, e.g. {@code http://127.0.0.1:PORT}. */
    public String masterWebUiUrl() {
        return "http://" + HOST + ":" + masterWebUiPort;
    }

    /**
     * Spark settings for a driver in this JVM (or a spark-submit'ed one): executors get this JVM's classpath (not
     * when the cluster runs from a distribution: there the application brings its classes), one executor per worker (all its cores and memory), and the driver binds to 127.0.0.1. Creating the
     * SparkContext waits until all executors registered (minRegisteredResourcesRatio=1 with cores.max = all
     * cores, at most 60 s), so the first job really is spread over all workers. Callers may override entries.
     *
     * <p>No {@code spark.executor.extraJavaOptions}: Spark 3.5's SparkContext itself prepends
     * {@link org.apache.spark.launcher.JavaModuleOptions#defaultModuleOptions()} (the Java 17 add-opens) to the
     * executors' options (verified in the executors' launch command). Use {@link #jvmFlags()} for JVMs you start.
     */
    public Map<String, String> driverConf() {
        int totalCores = workerCount * coresPerWorker;
        Map<String, String> conf = new LinkedHashMap<>();
        conf.put("spark.driver.host", HOST);
        conf.put("spark.driver.bindAddress", HOST);
        if (!distribution) {
            conf.put("spark.executor.extraClassPath", String.join(File.pathSeparator, classpath));
        }
        conf.put("spark.executor.memory", memoryPerWorker);
        conf.put("spark.executor.cores", String.valueOf(coresPerWorker));
        conf.put("spark.cores.max", String.valueOf(totalCores));
        conf.put("spark.scheduler.minRegisteredResourcesRatio", "1.0");
        conf.put("spark.scheduler.maxRegisteredResourcesWaitingTime", "60s");
        conf.put("spark.sql.shuffle.partitions", String.valueOf(Math.max(2, 2 * totalCores)));
        conf.put("spark.ui.enabled", "false");
        conf.put("spark.ui.showConsoleProgress", "false");
        return conf;
    }

    /** Spark's Java 17 JVM flags (add-opens...), for a JVM a test starts itself (e.g. a SparkSubmit driver). */
    public List<String> jvmFlags() {
        return jvmFlags;
    }

    /** The SPARK_HOME the daemons run from (a distribution's, or the throw-away one of symlinks). */
    public Path sparkHome() {
        return sparkHome;
    }

    /** Where the SPARK_HOME, daemon logs ({@code logs/}) and worker/executor dirs ({@code worker-N/work}) live. */
    public Path workDir() {
        return workDir;
    }

    /** Milliseconds {@link #start} took until all workers were ALIVE. */
    public long startMillis() {
        return startMillis;
    }

    /** The master's JSON status ({@code /json/}): workers, activeapps, completedapps, cores, coresused... */
    public JsonNode masterStatus() {
        JsonNode status = fetchJson(masterJsonUrl());
        if (status == null) {
            throw new IllegalStateException("master JSON status not reachable at " + masterJsonUrl());
        }
        return status;
    }

    /** Workers in state ALIVE according to the master. */
    public int aliveWorkers() {
        return countAliveWorkers(masterStatus());
    }

    /**
     * Executors ever launched for the application (running or finished): one directory per executor under
     * every worker's work dir ({@code worker-N/work/<appId>/<execId>}, which also holds its stdout/stderr).
     */
    public int launchedExecutors(String appId) {
        return executorDirs(appId).size();
    }

    /** Executors ever launched on this cluster, all applications together. */
    public int launchedExecutors() {
        return executorDirs(null).size();
    }

    /** The executor directories (stdout, stderr) of one application, or of all when appId is null. */
    public List<Path> executorDirs(String appId) {
        List<Path> result = new ArrayList<>();
        for (int i = 0; i < workerCount; i++) {
            Path work = workDir.resolve("worker-" + i).resolve("work");
            for (Path app : listDirs(work)) {
                if (appId == null || app.getFileName().toString().equals(appId)) {
                    result.addAll(listDirs(app));
                }
            }
        }
        return result;
    }

    /**
     * The directories of the drivers submitted in cluster deploy mode ({@code worker-N/work/driver-...}: the driver's
     * stdout, stderr and its copy of the application jar).
     */
    public List<Path> driverDirs() {
        List<Path> result = new ArrayList<>();
        for (int i = 0; i < workerCount; i++) {
            for (Path dir : listDirs(workDir.resolve("worker-" + i).resolve("work"))) {
                if (dir.getFileName().toString().startsWith("driver-")) {
                    result.add(dir);
                }
            }
        }
        return result;
    }

    /** The daemon JVMs (master, workers) and their live descendants (the executor JVMs). */
    public List<ProcessHandle> processes() {
        List<ProcessHandle> result = new ArrayList<>();
        for (Daemon d : daemons()) {
            result.add(d.process.toHandle());
            d.process.descendants().forEach(result::add);
        }
        return result;
    }

    /** PIDs of the executor JVMs currently running (children of the worker JVMs). */
    public Set<Long> executorPids() {
        return workers.stream().flatMap(w -> w.process.descendants())
                .filter(ProcessHandle::isAlive).map(ProcessHandle::pid).collect(Collectors.toSet());
    }

    /** The last lines of the master, worker and executor logs: for assertion messages. */
    public String diagnostics() {
        StringBuilder sb = new StringBuilder();
        for (Daemon d : daemons()) {
            sb.append(tail(d.name + (d.process.isAlive() ? "" : " (exited)"), d.log));
        }
        for (Path exec : executorDirs(null)) {
            Path stderr = exec.resolve("stderr");
            if (Files.exists(stderr)) {
                sb.append(tail("executor " + workDir.relativize(exec), stderr));
            }
        }
        for (Path driver : driverDirs()) {
            sb.append(tail("driver " + workDir.relativize(driver), driver.resolve("stderr")));
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------------ close

    /** Stops the workers (and their executors), then the master; waits for the processes to exit. Idempotent. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException | IllegalArgumentException ignored) {
            // already shutting down (we are the hook) or never registered
        }
        List<ProcessHandle> executors = workers.stream().flatMap(w -> w.process.descendants())
                .collect(Collectors.toList());
        stop(workers.stream().map(w -> w.process.toHandle()).collect(Collectors.toList()), 15);
        stop(executors, 10); // normally already gone: the worker kills them on SIGTERM
        if (master != null) {
            List<ProcessHandle> masterTree = new ArrayList<>();
            master.process.descendants().forEach(masterTree::add);
            stop(List.of(master.process.toHandle()), 15);
            stop(masterTree, 5);
        }
        if (deleteWorkDirOnClose) {
            deleteRecursively(workDir);
        }
    }

    /** SIGTERM, wait up to {@code seconds}, then SIGKILL and wait a little more. */
    private static void stop(List<ProcessHandle> processes, int seconds) {
        processes.forEach(ProcessHandle::destroy);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        for (ProcessHandle p : processes) {
            long left = deadline - System.nanoTime();
            try {
                p.onExit().get(Math.max(1, left), TimeUnit.NANOSECONDS);
            } catch (Exception e) {
                p.destroyForcibly();
            }
        }
        for (ProcessHandle p : processes) {
            try {
                p.onExit().get(10, TimeUnit.SECONDS);
            } catch (Exception ignored) {
                // reported by callers that check processes()
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private List<Daemon> daemons() {
        List<Daemon> all = new ArrayList<>();
        if (master != null) {
            all.add(master);
        }
        all.addAll(workers);
        return all;
    }

    private String masterJsonUrl() {
        return masterWebUiUrl() + "/json/";
    }

    private JsonNode fetchJson(String url) {
        try {
            HttpRequest req = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(5)).GET().build();
            HttpResponse<String> resp = http.send(req, HttpResponse.BodyHandlers.ofString());
            return resp.statusCode() == 200 ? JSON.readTree(resp.body()) : null;
        } catch (IOException e) {
            return null; // not up yet
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static int countAliveWorkers(JsonNode status) {
        int n = 0;
        for (JsonNode w : status.path("workers")) {
            if ("ALIVE".equals(w.path("state").asText())) {
                n++;
            }
        }
        return n;
    }

    private static String exitStatus(Process p) {
        return p.isAlive() ? "still running" : "exit code " + p.exitValue();
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(HOST))) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free port", e);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static Path baseDir() {
        String configured = System.getProperty("sparkdpo.cluster.baseDir");
        if (configured != null && !configured.isBlank()) {
            return Paths.get(configured);
        }
        Path target = Paths.get(System.getProperty("user.dir"), "target");
        return Files.isDirectory(target) ? target : Paths.get(System.getProperty("java.io.tmpdir"));
    }

    /** Spark's own Java 17 module flags (the list spark-submit uses), from the spark-launcher on the classpath. */
    private static List<String> sparkJvmFlags() {
        String flags;
        try {
            flags = org.apache.spark.launcher.JavaModuleOptions.defaultModuleOptions();
        } catch (LinkageError e) {
            flags = "-XX:+IgnoreUnrecognizedVMOptions --add-opens=java.base/java.lang=ALL-UNNAMED";
        }
        return Arrays.stream(flags.trim().split("\\s+")).filter(s -> !s.isEmpty()).collect(Collectors.toUnmodifiableList());
    }

    /**
     * This JVM's classpath as absolute paths. Under Maven surefire/failsafe {@code java.class.path} may be a
     * single manifest-only "surefirebooter" jar: its manifest Class-Path is expanded (and the booter dropped).
     */
    public static List<String> currentClasspath() {
        Set<String> entries = new LinkedHashSet<>();
        String testCp = System.getProperty("surefire.test.class.path");
        List<String> raw = new ArrayList<>();
        raw.addAll(split(System.getProperty("java.class.path")));
        if (testCp != null) {
            raw.addAll(split(testCp));
        }
        for (String e : raw) {
            Path p = Paths.get(e).toAbsolutePath().normalize();
            List<String> manifestCp = e.endsWith(".jar") ? manifestClassPath(p) : List.of();
            if (!manifestCp.isEmpty() && p.getFileName().toString().startsWith("surefirebooter")) {
                entries.addAll(manifestCp);
            } else if (Files.exists(p)) {
                entries.add(p.toString());
            }
        }
        return Collections.unmodifiableList(new ArrayList<>(entries));
    }

    private static List<String> split(String cp) {
        return split(cp, File.pathSeparator);
    }

    private static List<String> split(String s, String separator) {
        if (s == null || s.isBlank()) {
            return List.of();
        }
        return Arrays.stream(s.trim().split(separator.equals(" ") ? "\\s+" : java.util.regex.Pattern.quote(separator)))
                .filter(e -> !e.isBlank()).collect(Collectors.toList());
    }

    private static List<String> manifestClassPath(Path jar) {
        if (!Files.isRegularFile(jar)) {
            return List.of();
        }
        try (JarFile jf = new JarFile(jar.toFile())) {
            Manifest mf = jf.getManifest();
            String cp = mf == null ? null : mf.getMainAttributes().getValue("Class-Path");
            if (cp == null || cp.isBlank()) {
                return List.of();
            }
            URL base = jar.toUri().toURL();
            List<String> out = new ArrayList<>();
            for (String item : cp.trim().split("\\s+")) {
                Path p = Paths.get(new URL(base, item).toURI()).toAbsolutePath().normalize();
                if (Files.exists(p)) {
                    out.add(p.toString());
                }
            }
            return out;
        } catch (IOException | URISyntaxException | IllegalArgumentException e) {
            return List.of();
        }
    }

    private static List<Path> listDirs(Path dir) {
        if (!Files.isDirectory(dir)) {
            return List.of();
        }
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, Files::isDirectory)) {
            ds.forEach(out::add);
        } catch (IOException e) {
            return List.of();
        }
        out.sort(Comparator.naturalOrder());
        return out;
    }

    private static String readLog(Path log) {
        try {
            return new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    private static String tail(String title, Path file) {
        String[] lines = readLog(file).split("\\R");
        int from = Math.max(0, lines.length - LOG_TAIL_LINES);
        StringBuilder sb = new StringBuilder("----- ").append(title).append(": last ")
                .append(lines.length - from).append(" lines of ").append(file).append('\n');
        for (int i = from; i < lines.length; i++) {
            sb.append(lines[i]).append('\n');
        }
        return sb.toString();
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p); // symlinks are deleted, not followed
                } catch (IOException ignored) {
                    // best effort
                }
            });
        } catch (IOException | UncheckedIOException ignored) {
            // best effort
        }
    }

    @Override
    public String toString() {
        return "StandaloneCluster[" + masterUrl() + ", " + workerCount + " workers x " + coresPerWorker + " cores x "
                + memoryPerWorker + ", " + workDir + "]";
    }
}
