package dev.sparkdpo.data;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** MinHash LSH near-duplicates on real Spark (local[2]). */
class NearDuplicatesTest {
  private static SparkSession spark;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("near-dup-test")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4").getOrCreate();
  }

  @AfterAll
  static void stop() {
    spark.stop();
  }

  @Test
  void clustersNearIdenticalPairsAndKeepsTheSmallestId() {
    String base = "The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden fence.";
    List<Row> rows = List.of(
        RowFactory.create("b1", "Tell a story.", base, "No."),
        RowFactory.create("a1", "Tell a story.", base.replace("lazy", "lazzy"), "No."),
        RowFactory.create("c1", "Tell a story.", base.replace("old", "olde"), "No."),
        RowFactory.create("d1", "What is 2+2?", "Four, because two plus two is four.", "Five."),
        RowFactory.create("e1", "Name a colour.", "Blue is a colour that many people like.", "Seven."));
    StructType schema = new StructType().add("id", DataTypes.StringType).add("prompt", DataTypes.StringType)
        .add("chosen", DataTypes.StringType).add("rejected", DataTypes.StringType);
    Map<String, String> losers = NearDuplicates.find(spark.createDataFrame(rows, schema), 0.8, 5, 8, 42)
        .collectAsList().stream().collect(Collectors.toMap(r -> r.getString(0), r -> r.getString(1)));
    assertEquals(Map.of("b1", "a1", "c1", "a1"), losers);
  }

  @Test
  void aHighThresholdKeepsPairsThatMerelyLookAlike() {
    List<Row> rows = List.of(
        RowFactory.create("x", "Q", "one two three four five six seven", "no"),
        RowFactory.create("y", "Q", "one two three four five six eight nine ten", "no"));
    StructType schema = new StructType().add("id", DataTypes.StringType).add("prompt", DataTypes.StringType)
        .add("chosen", DataTypes.StringType).add("rejected", DataTypes.StringType);
    assertEquals(0, NearDuplicates.find(spark.createDataFrame(rows, schema), 0.95, 5, 8, 42).count());
  }

  @Test
  void shinglesAreCaseAndWhitespaceInsensitive() {
    assertEquals(NearDuplicates.shingleVector("Hello   World", 5), NearDuplicates.shingleVector("hello world", 5));
    assertEquals(1, NearDuplicates.shingleVector("ab", 5).numNonzeros(), "short texts still have one shingle");
  }
}
