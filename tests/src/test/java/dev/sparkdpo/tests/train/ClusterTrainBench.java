package dev.sparkdpo.tests.train;

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
 * Not a test: runs {@code bench train} against a real standalone cluster (master + 2 one-core workers on 127.0.0.1)
 * with spark.cores.max 1 and 2, i.e. one vs two data-parallel workers (each 4 pairs per step, averaging every 4
 * steps), and writes the JSON to {@code tests/target/bench/train-cluster.json}. Opt-in (CI does not run it):
 * {@code mvn -o verify -pl tests -Dit.test=ClusterTrainBench -Dtest=none -Dsparkdpo.bench=true}.
 */
@EnabledIfSystemProperty(named = "sparkdpo.bench", matches = "true")
class ClusterTrainBench {

  @Test
  void oneVersusTwoWorkers() throws Exception {
    Path out = Path.of("target", "bench", "train-cluster.json").toAbsolutePath();
    Files.createDirectories(out.getParent());
    try (StandaloneCluster cluster = StandaloneCluster.start(2, 1, "3g")) {
      List<String> args = new ArrayList<>(List.of("bench", "train", "--masters", cluster.masterUrl(),
          "--cores-max", "1,2", "--rounds", Integer.getInteger("sparkdpo.bench.rounds", 4).toString(),
          "--json-out", out.toString()));
      cluster.driverConf().forEach((k, v) -> args.addAll(List.of("--conf", k + "=" + v)));
      assertEquals(0, SparkDpo.run(args.toArray(String[]::new)));
    }
  }
}
