package dev.sparkdpo.tests.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sparkdpo.jobs.SparkDpo;
import dev.sparkdpo.tests.cluster.StandaloneCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Not a test: runs {@code bench reference} against a real standalone cluster (master + 2 one-core workers on
 * 127.0.0.1) with spark.cores.max 1 and 2, i.e. one vs two workers, and writes the JSON to
 * {@code tests/target/bench/reference-cluster.json}. Opt-in (CI does not run it):
 * {@code mvn -o verify -pl tests -Dit.test=ClusterReferenceBench -Dtest=none -Dsparkdpo.bench=true}.
 */
@EnabledIfSystemProperty(named = "sparkdpo.bench", matches = "true")
class ClusterReferenceBench {

  @Test
  void oneVersusTwoWorkers() throws Exception {
    Path out = Path.of("target", "bench", "reference-cluster.json").toAbsolutePath();
    Files.createDirectories(out.getParent());
    try (StandaloneCluster cluster = StandaloneCluster.start(2, 1, "3g")) {
      List<String> args = new ArrayList<>(List.of("bench", "reference", "--masters", cluster.masterUrl(),
          "--cores-max", "1,2", "--pairs", Integer.getInteger("sparkdpo.bench.pairs", 256).toString(),
          "--json-out", out.toString()));
      cluster.driverConf().forEach((k, v) -> args.addAll(List.of("--conf", k + "=" + v)));
      assertEquals(0, SparkDpo.run(args.toArray(String[]::new)));
    }
  }
}
