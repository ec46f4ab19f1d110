package dev.sparkdpo.tests.docker;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;

/**
 * The Docker files checked without a Docker engine (there is none on the build machines): what the images are built
 * from exists and reaches the build context, the compose file hangs together, and the one spark-submit line of the
 * images (docker/entrypoint.sh) names the jar's real main class. docker/check.sh, run last, adds what needs tools
 * (shellcheck, docker-compose, gpg), each skipped with its reason where the tool is missing.
 */
class DockerFilesTest {
  private static final Path ROOT = Path.of(System.getProperty("project.root", "..")).toAbsolutePath().normalize();
  private static final Path DOCKER = ROOT.resolve("docker");
  private static final List<String> DOCKERFILES = List.of("docker/Dockerfile", "docker/Dockerfile.gpu");
  /** Where the build stages copy the repository to: what they make under it is the repository's after a build. */
  private static final String BUILD_WORKDIR = "/src/";

  // ------------------------------------------------------------------------------------------------- Dockerfiles

  @Test
  void everyCopySourceExistsAndReachesTheBuildContext() throws IOException {
    DockerIgnore ignore = DockerIgnore.read(ROOT.resolve(".dockerignore"));
    List<String> problems = new ArrayList<>();
    for (String file : DOCKERFILES) {
      Dockerfile df = Dockerfile.parse(ROOT.resolve(file));
      for (Copy c : df.copies()) {
        for (String src : c.sources()) {
          String where = file + ":" + c.line() + " " + c.instruction() + " " + src;
          if (c.from() == null) {
            List<String> matches = glob(ROOT, src);
            if (matches.isEmpty()) problems.add(where + ": not in the repository");
            for (String m : matches) {
              if (ignore.excludes(m)) problems.add(where + ": left out of the build context by .dockerignore (" + m + ")");
            }
          } else if (c.from().equals("build")) {
            // made by the build stage's Maven run from the repository: the same path here after `mvn package`
            if (!src.startsWith(BUILD_WORKDIR)) problems.add(where + ": not under the build stage's " + BUILD_WORKDIR);
            else if (glob(ROOT, src.substring(BUILD_WORKDIR.length())).size() != 1) {
              problems.add(where + ": the build makes no (or more than one) such file (" + src + " after mvn package)");
            }
          } else if (!df.stages().contains(c.from()) && !c.from().contains(":") && !c.from().contains("/")) {
            problems.add(where + ": --from=" + c.from() + " is neither a stage of this file nor an image");
          }
        }
      }
      assertTrue(df.stages().contains("build"), file + " has a build stage");
    }
    assertEquals(List.of(), problems);
  }

  @Test
  void bothImagesBuildTheJarFromTheSameSources() throws IOException {
    List<List<String>> sources = new ArrayList<>();
    for (String file : DOCKERFILES) {
      sources.add(Dockerfile.parse(ROOT.resolve(file)).copies().stream()
          .filter(c -> c.stage().equals("build") && c.from() == null)
          .map(c -> String.join(" ", c.sources()) + " -> " + c.destination()).toList());
    }
    assertFalse(sources.get(0).isEmpty());
    assertEquals(sources.get(0), sources.get(1), "the build stages of " + DOCKERFILES + " copy different sources");
  }

  @Test
  void imagesRunAsANonRootUserThroughTheEntrypoint() throws IOException {
    for (String file : DOCKERFILES) {
      Dockerfile df = Dockerfile.parse(ROOT.resolve(file));
      List<String> last = df.lastStage();
      String user = last.stream().filter(l -> l.startsWith("USER ")).reduce((a, b) -> b).orElse("USER root");
      assertEquals("USER spark", user, file);
      assertTrue(last.stream().anyMatch(l -> l.startsWith("ENTRYPOINT ") && l.contains("/opt/spark-dpo/bin/entrypoint.sh")),
          file + " runs docker/entrypoint.sh");
      assertTrue(last.stream().anyMatch(l -> l.matches("COPY conf/spark-submit\\.conf /opt/spark/conf/spark-defaults\\.conf")),
          file + ": spark-dpo's Spark settings are the image's spark-defaults.conf");
    }
  }

  // ------------------------------------------------------------------------------------------------ compose.yaml

  @Test
  void composeFileHangsTogether() throws IOException {
    Map<String, Object> compose = yaml(DOCKER.resolve("compose.yaml"));
    Map<String, Object> services = map(compose.get("services"));
    Set<String> volumes = map(compose.getOrDefault("volumes", Map.of())).keySet();
    Set<String> builtImages = new LinkedHashSet<>();
    List<String> problems = new ArrayList<>();
    services.forEach((name, s) -> {
      Map<String, Object> service = map(s);
      if (service.get("build") != null) {
        Map<String, Object> build = map(service.get("build"));
        Path context = DOCKER.resolve(String.valueOf(build.get("context"))).normalize();
        if (!context.equals(ROOT)) problems.add(name + ": build context " + context + " is not the repository root");
        Path dockerfile = context.resolve(String.valueOf(build.get("dockerfile")));
        if (!Files.isRegularFile(dockerfile)) problems.add(name + ": no Dockerfile " + dockerfile);
        builtImages.add(String.valueOf(service.get("image")));
      }
    });
    services.forEach((name, s) -> {
      Map<String, Object> service = map(s);
      Object image = service.get("image");
      if (image == null || !builtImages.contains(image.toString())) {
        problems.add(name + ": image " + image + " is not built by any service of the file");
      }
      for (Object dep : dependsOn(service.get("depends_on"))) {
        if (!services.containsKey(dep.toString())) problems.add(name + ": depends on unknown service " + dep);
      }
      for (Object v : list(service.getOrDefault("volumes", List.of()))) {
        String source = v.toString().split(":")[0];
        if (!source.startsWith(".") && !source.startsWith("/") && !volumes.contains(source)) {
          problems.add(name + ": volume " + source + " is not declared");
        }
      }
      for (Object p : list(service.getOrDefault("ports", List.of()))) {
        if (!p.toString().startsWith("127.0.0.1:")) problems.add(name + ": port " + p + " is not bound to 127.0.0.1");
      }
    });
    assertEquals(List.of(), problems);
    assertTrue(services.keySet().containsAll(List.of("spark-master", "spark-worker-1", "spark-worker-2", "submit")),
        "a master, two workers and the submitter: " + services.keySet());
  }

  @Test
  void submitServicesGoThroughTheEntrypointsSparkSubmitLine() throws IOException {
    Map<String, Object> services = map(yaml(DOCKER.resolve("compose.yaml")).get("services"));
    Set<String> imageFiles = new LinkedHashSet<>();
    for (String file : DOCKERFILES) {
      for (Copy c : Dockerfile.parse(ROOT.resolve(file)).copies()) {
        if (c.from() == null && c.destination().endsWith("/")) {
          for (String src : c.sources()) imageFiles.add(c.destination() + Path.of(src).getFileName());
        } else if (c.from() == null) {
          imageFiles.add(c.destination());
        }
      }
    }
    int submitters = 0;
    for (Map.Entry<String, Object> e : services.entrySet()) {
      List<String> command = list(map(e.getValue()).getOrDefault("command", List.of())).stream()
          .map(Object::toString).toList();
      if (command.isEmpty() || !command.get(0).equals("submit")) continue;
      submitters++;
      // the spark-submit options are the entrypoint's alone; the service gives only the spark-dpo command
      for (String arg : command) {
        assertFalse(Set.of("--class", "--master", "--deploy-mode", "--properties-file", "--conf").contains(arg),
            e.getKey() + " passes spark-submit's " + arg + " itself instead of the entrypoint's line");
      }
      int config = command.indexOf("--config");
      assertTrue(config > 0, e.getKey() + " runs a --config");
      assertTrue(imageFiles.contains(command.get(config + 1)),
          e.getKey() + ": " + command.get(config + 1) + " is not copied into the images: " + imageFiles);
      assertTrue(command.get(command.indexOf("--output") + 1).startsWith("/data/"),
          e.getKey() + " writes under the shared run root /data");
    }
    assertTrue(submitters >= 1, "a service submits the demo");
  }

  /** The one spark-submit argument list of the images names the shaded jar's main class, a real main method. */
  @Test
  void entrypointSubmitArgumentsNameTheJarsMainClass() throws Exception {
    List<String> args = entrypointSubmitArgs();
    int cls = args.indexOf("--class");
    assertTrue(cls >= 0 && cls + 1 < args.size(), "submit_args has --class: " + args);
    Method main = Class.forName(args.get(cls + 1)).getMethod("main", String[].class);
    assertTrue(Modifier.isStatic(main.getModifiers()));
    Path jar = glob(ROOT, "jobs/target/spark-dpo-jobs-*-spark.jar").stream().map(ROOT::resolve).findFirst()
        .orElseThrow(() -> new AssertionError("no shaded jar under jobs/target (run after mvn package)"));
    try (JarFile j = new JarFile(jar.toFile())) {
      assertEquals(j.getManifest().getMainAttributes().getValue("Main-Class"), args.get(cls + 1),
          "the entrypoint's --class is the shaded jar's Main-Class");
    }
  }

  /** The submit_args=( ... ) array of docker/entrypoint.sh, one argument per line. */
  static List<String> entrypointSubmitArgs() throws IOException {
    String script = Files.readString(DOCKER.resolve("entrypoint.sh"));
    Matcher m = Pattern.compile("(?m)^submit_args=\\(\\n(.*?)^\\)", Pattern.DOTALL).matcher(script);
    assertTrue(m.find(), "docker/entrypoint.sh declares submit_args=( ... )");
    return m.group(1).lines().map(String::strip).filter(l -> !l.isEmpty() && !l.startsWith("#"))
        .flatMap(l -> Stream.of(l.split("\\s+"))).toList();
  }

  // -------------------------------------------------------------------------------------- tools: docker/check.sh

  @Test
  void checkScriptPasses() throws Exception {
    assumeTrue(Files.isExecutable(Path.of("/bin/bash")) || Files.isExecutable(Path.of("/usr/bin/bash")),
        "docker/check.sh needs bash");
    Process p = new ProcessBuilder("bash", DOCKER.resolve("check.sh").toString()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    int exit = p.waitFor();
    System.out.println(out); // what ran and what was skipped, and why
    assertEquals(0, exit, "docker/check.sh failed:\n" + out);
  }

  // ------------------------------------------------------------------------------------------------------ parsing

  record Copy(String stage, int line, String instruction, String from, List<String> sources, String destination) {}

  /** The instructions of a Dockerfile, continuation lines joined, comments dropped; stages by name. */
  record Dockerfile(List<String> instructions, List<Integer> lines) {
    static Dockerfile parse(Path file) throws IOException {
      List<String> out = new ArrayList<>();
      List<Integer> at = new ArrayList<>();
      StringBuilder current = null;
      int n = 0, start = 0;
      for (String raw : Files.readAllLines(file)) {
        n++;
        String line = raw.strip();
        if (line.startsWith("#") || (current == null && line.isEmpty())) continue;
        if (current == null) {
          current = new StringBuilder();
          start = n;
        }
        boolean continues = line.endsWith("\\");
        current.append(continues ? line.substring(0, line.length() - 1) : line).append(' ');
        if (!continues) {
          out.add(current.toString().strip().replaceAll("\\s+", " "));
          at.add(start);
          current = null;
        }
      }
      return new Dockerfile(out, at);
    }

    List<String> stages() {
      List<String> names = new ArrayList<>();
      for (String i : instructions) {
        Matcher m = Pattern.compile("(?i)FROM \\S+ AS (\\S+)").matcher(i);
        if (m.matches()) names.add(m.group(1));
      }
      return names;
    }

    List<String> lastStage() {
      int from = 0;
      for (int i = 0; i < instructions.size(); i++) if (instructions.get(i).startsWith("FROM ")) from = i;
      return instructions.subList(from, instructions.size());
    }

    List<Copy> copies() {
      List<Copy> out = new ArrayList<>();
      String stage = "";
      for (int i = 0; i < instructions.size(); i++) {
        String ins = instructions.get(i);
        Matcher fromLine = Pattern.compile("(?i)FROM \\S+(?: AS (\\S+))?").matcher(ins);
        if (fromLine.matches()) stage = fromLine.group(1) == null ? "" : fromLine.group(1);
        String[] words = ins.split(" ");
        if (!words[0].equals("COPY") && !words[0].equals("ADD")) continue;
        String from = null;
        List<String> args = new ArrayList<>();
        for (int w = 1; w < words.length; w++) {
          if (words[w].startsWith("--from=")) from = words[w].substring("--from=".length());
          else if (!words[w].startsWith("--")) args.add(words[w]);
        }
        if (args.size() < 2) fail("line " + lines.get(i) + ": " + ins + " has no source or destination");
        out.add(new Copy(stage, lines.get(i), words[0], from, List.copyOf(args.subList(0, args.size() - 1)),
            args.get(args.size() - 1)));
      }
      return out;
    }
  }

  /**
   * .dockerignore as Docker applies it: a path is left out when the last pattern matching it or one of its parent
   * directories is not a "!" exception. Patterns are Go filepath.Match globs with "**" for any number of directories.
   */
  record DockerIgnore(List<Pattern> patterns, List<Boolean> exceptions) {
    static DockerIgnore read(Path file) throws IOException {
      List<Pattern> patterns = new ArrayList<>();
      List<Boolean> exceptions = new ArrayList<>();
      if (Files.exists(file)) {
        for (String raw : Files.readAllLines(file)) {
          String line = raw.strip();
          if (line.isEmpty() || line.startsWith("#")) continue;
          boolean exception = line.startsWith("!");
          String glob = (exception ? line.substring(1) : line).strip().replaceAll("^/+", "").replaceAll("/+$", "");
          patterns.add(Pattern.compile(regex(glob)));
          exceptions.add(exception);
        }
      }
      return new DockerIgnore(patterns, exceptions);
    }

    boolean excludes(String path) {
      List<String> candidates = new ArrayList<>();
      String[] parts = path.split("/");
      for (int i = 1; i <= parts.length; i++) candidates.add(String.join("/", List.of(parts).subList(0, i)));
      boolean excluded = false;
      for (int p = 0; p < patterns.size(); p++) {
        Pattern pattern = patterns.get(p);
        if (candidates.stream().anyMatch(c -> pattern.matcher(c).matches())) excluded = !exceptions.get(p);
      }
      return excluded;
    }

    static String regex(String glob) {
      StringBuilder r = new StringBuilder();
      for (int i = 0; i < glob.length(); i++) {
        char c = glob.charAt(i);
        if (glob.startsWith("**/", i)) {
          r.append("(?:.*/)?");
          i += 2;
        } else if (glob.startsWith("**", i)) {
          r.append(".*");
          i++;
        } else if (c == '*') {
          r.append("[^/]*");
        } else if (c == '?') {
          r.append("[^/]");
        } else {
          r.append(Pattern.quote(String.valueOf(c)));
        }
      }
      return r.toString();
    }
  }

  /** Repository paths (relative, "/"-separated) matching a COPY source: a path, or a glob in its last part. */
  static List<String> glob(Path root, String source) throws IOException {
    String rel = source.replaceAll("^\\./", "").replaceAll("/+$", "");
    Path path = root.resolve(rel);
    if (!rel.contains("*") && !rel.contains("?")) return Files.exists(path) ? List.of(rel) : List.of();
    Path dir = path.getParent();
    if (!Files.isDirectory(dir)) return List.of();
    Pattern name = Pattern.compile(DockerIgnore.regex(path.getFileName().toString()));
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> name.matcher(p.getFileName().toString()).matches())
          .map(p -> root.relativize(p).toString().replace('\\', '/')).sorted().collect(Collectors.toList());
    }
  }

  static Map<String, Object> yaml(Path file) throws IOException {
    return map(new Yaml(new SafeConstructor(new LoaderOptions())).load(Files.readString(file)));
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> map(Object o) {
    return o == null ? new LinkedHashMap<>() : (Map<String, Object>) o;
  }

  @SuppressWarnings("unchecked")
  static List<Object> list(Object o) {
    return o == null ? List.of() : (List<Object>) o;
  }

  /** depends_on is a list of names or a map of name to condition */
  static Iterable<?> dependsOn(Object o) {
    return o instanceof Map<?, ?> m ? m.keySet() : list(o);
  }
}
