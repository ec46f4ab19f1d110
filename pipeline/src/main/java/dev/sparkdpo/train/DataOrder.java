package dev.sparkdpo.train;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import org.apache.spark.Partitioner;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.rdd.PartitionPruningRDD;
import org.apache.spark.storage.StorageLevel;
import org.nd4j.linalg.dataset.DataSet;
import scala.Tuple2;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/**
 * The order training sees the pairs in, and how it is cut into parameter-averaging rounds.
 *
 * <p>Each epoch, every pair gets a position: its rank by a hash of (seed, epoch, id), so the order is a fixed
 * function of the seed and the data (a resumed run sees exactly what an uninterrupted one saw). Step j of an epoch is
 * positions [j G, (j + 1) G) with G = workers x batch-size-per-worker; a round is k consecutive steps. Within a round,
 * position offset o goes to worker o mod W, so each worker's i-th minibatch holds its share of the round's i-th step.
 * The epoch's pairs are shuffled once into one Spark partition per (round, worker), sorted by position, and persisted;
 * a round's DataSet RDD is its W partitions (no further shuffle).
 */
final class DataOrder {
  private DataOrder() {}

  /** How an epoch of {@code pairs} is cut: global batch G = workers x batch, k steps per round. */
  record Plan(long pairs, int workers, int batch, int averagingFrequency) implements Serializable {
    long globalBatch() {
      return (long) workers * batch;
    }

    long stepsPerEpoch() {
      return (pairs + globalBatch() - 1) / globalBatch();
    }

    long pairsPerRound() {
      return globalBatch() * averagingFrequency;
    }

    long rounds() {
      return (pairs + pairsPerRound() - 1) / pairsPerRound();
    }

    /** Partition (round x W + worker) of a position. */
    int partitionOf(long position) {
      long round = position / pairsPerRound();
      long offset = position % pairsPerRound();
      return (int) (round * workers + offset % workers);
    }
  }

  /** The epoch's pairs keyed by position, one partition per (round, worker), sorted by position; persisted. */
  static JavaPairRDD<Long, TrainPair> epoch(JavaRDD<TrainPair> pairs, Plan plan, long seed, int epoch) {
    if ((long) plan.rounds() * plan.workers() > Integer.MAX_VALUE) {
      throw new IllegalArgumentException("too many rounds x workers for one epoch: raise --batch-size-per-worker or"
          + " --averaging-frequency");
    }
    JavaPairRDD<Long, TrainPair> positioned = pairs
        .mapToPair(p -> new Tuple2<>(orderKey(seed, epoch, p.id), p))
        .sortByKey()
        .values()
        .zipWithIndex()
        .mapToPair(t -> new Tuple2<>(t._2(), t._1()));
    return positioned.repartitionAndSortWithinPartitions(new RoundPartitioner(plan))
        .persist(StorageLevel.MEMORY_AND_DISK_SER());
  }

  /** A pair's sort key in an epoch: 64 bits of SHA-256(seed:epoch:id) in hex, then the id (unique) for ties. */
  static String orderKey(long seed, int epoch, String id) {
    try {
      java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
      byte[] digest = sha.digest((seed + ":" + epoch + ":" + id).getBytes(StandardCharsets.UTF_8));
      return java.util.HexFormat.of().formatHex(digest, 0, 8) + id;
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Round {@code round}'s DataSets: its W partitions, positions below {@code endPosition} only (a run that stops at
   * max-steps mid-round), each pair a one-row DataSet of sequence width {@code width}.
   */
  static JavaRDD<DataSet> round(JavaPairRDD<Long, TrainPair> epoch, Plan plan, long round, long endPosition,
      int width) {
    return roundPartitions(epoch, plan, round)
        .filter(t -> t._1() < endPosition)
        .map(t -> t._2().toDataSet(width));
  }

  /** (position, id) of round {@code round}'s pairs at positions [from, to), in position order (for error messages). */
  static java.util.List<Tuple2<Long, String>> ids(JavaPairRDD<Long, TrainPair> epoch, Plan plan, long round, long from,
      long to) {
    java.util.List<Tuple2<Long, String>> out = new java.util.ArrayList<>(roundPartitions(epoch, plan, round)
            .filter(t -> t._1() >= from && t._1() < to)
            .map(t -> new Tuple2<>(t._1(), t._2().id))
            .collect());
    out.sort((a, b) -> Long.compare(a._1(), b._1()));
    return out;
  }

  /** The W partitions of round {@code round} of the epoch (no job: partitions of other rounds are not read). */
  private static JavaPairRDD<Long, TrainPair> roundPartitions(JavaPairRDD<Long, TrainPair> epoch, Plan plan,
      long round) {
    PartitionPruningRDD<Tuple2<Long, TrainPair>> pruned = PartitionPruningRDD.create(epoch.rdd(),
        new PartitionsOfRound(round, plan.workers()));
    return JavaPairRDD.fromRDD(pruned, ClassTag$.MODULE$.apply(Long.class), ClassTag$.MODULE$.apply(TrainPair.class));
  }

  static final class RoundPartitioner extends Partitioner {
    private static final long serialVersionUID = 1L;
    private final Plan plan;

    RoundPartitioner(Plan plan) {
      this.plan = plan;
    }

    @Override
    public int numPartitions() {
      return (int) (plan.rounds() * plan.workers());
    }

    @Override
    public int getPartition(Object key) {
      return plan.partitionOf((Long) key);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof RoundPartitioner r && r.plan.equals(plan);
    }

    @Override
    public int hashCode() {
      return plan.hashCode();
    }
  }

  private static final class PartitionsOfRound extends AbstractFunction1<Object, Object> implements Serializable {
    private static final long serialVersionUID = 1L;
    private final long round;
    private final int workers;

    PartitionsOfRound(long round, int workers) {
      this.round = round;
      this.workers = workers;
    }

    @Override
    public Object apply(Object partition) {
      return ((Integer) partition) / workers == round;
    }
  }
}
