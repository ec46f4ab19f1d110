package dev.sparkdpo.dpo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.model.Gpt;
import dev.sparkdpo.model.GptCheckpoint;
import dev.sparkdpo.model.GptParams;
import java.util.ArrayList;
import java.util.List;

import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.spark.api.RDDTrainingApproach;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;

/**
 * DL4J Spark trains the layer: SparkComputationGraph with ParameterAveragingTrainingMaster on local[2], Kryo with
 * ND4J's registrator, the direct RDD approach (no export directory), an RDD of one-pair DataSets that the workers
 * re-batch to 4 pairs.
 */
class GptDpoSparkTest {
  static final int EPOCHS = 4;

  @Test
  void parameterAveragingLowersTheLossAndTheParamsLoadIntoAGpt() {
    SparkConf conf = new SparkConf().setMaster("local[2]").setAppName("GptDpoSparkTest")
        .set("spark.driver.host", "127.0.0.1")
        .set("spark.ui.enabled", "false")
        .set("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
        .set("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator");
    try (JavaSparkContext sc = new JavaSparkContext(conf)) {
      ComputationGraph net = DpoLayerFixtures.graph(GptDpoTrainingTest.layer(), DataType.FLOAT, new Adam(1e-2), 21);
      List<DataSet> pairs = new ArrayList<>();
      for (long seed : new long[] {31, 32}) {
        pairs.addAll(GptDpoTrainingTest.withReference(GptDpoTrainingTest.endTokenTask(seed), net).toDataSet().asList());
      }
      DataSet all = DataSet.merge(pairs);
      JavaRDD<DataSet> rdd = sc.parallelize(pairs, 2);

      ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(1)
          .batchSizePerWorker(4)
          .averagingFrequency(2)
          .workerPrefetchNumBatches(0)
          .rddTrainingApproach(RDDTrainingApproach.Direct)
          .rngSeed(5)
          .build();
      SparkComputationGraph spark = new SparkComputationGraph(sc, net, master);

      double before = net.score(all);
      for (int epoch = 0; epoch < EPOCHS; epoch++) spark.fit(rdd);
      ComputationGraph trained = spark.getNetwork();
      double after = trained.score(all);
      System.out.printf("GptDpoSparkTest: loss %.4f -> %.4f after %d epochs of %d pairs (last Spark score %.4f)%n",
          before, after, EPOCHS, pairs.size(), spark.getScore());
      assertEquals(Math.log(2), before, 1e-5);
      assertTrue(after < 0.8 * before, "loss " + before + " -> " + after);

      // the trained weights as a checkpoint, back into a plain Gpt: same log-probs as the layer's activations
      GptCheckpoint checkpoint = GptParams.over(GptDpoTrainingTest.GPT,
          DpoLayerFixtures.layerOf(trained).params()).toCheckpoint();
      DpoBatch batch = DpoBatch.fromDataSet(all, GptDpoTrainingTest.WIDTH);
      double[] logps = Gpt.from(checkpoint).responseLogProbs(batch.sequences(), batch.sequencePromptLengths());
      INDArray activations = trained.outputSingle(all.getFeatures());
      for (int i = 0; i < batch.size(); i++) {
        assertEquals(logps[i], activations.getDouble(i, 0), 1e-4, "chosen " + i);
        assertEquals(logps[batch.size() + i], activations.getDouble(i, 1), 1e-4, "rejected " + i);
      }
    }
  }
}
