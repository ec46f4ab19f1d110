package dev.sparkdpo.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.ByteBuffer;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.serializer.KryoSerializer;
import org.apache.spark.serializer.SerializerInstance;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import scala.reflect.ClassTag$;

/** Arrays through Spark's Kryo with the bulk-copy registrator come back equal: types, shapes, views, orders. */
class Nd4jKryoTest {
  private final SerializerInstance kryo = new KryoSerializer(new SparkConf()
      .set("spark.kryo.registrator", Nd4jKryo.class.getName())
      .set("spark.kryoserializer.buffer.max", "256m")).newInstance();

  @SuppressWarnings("unchecked")
  private <T> T roundTrip(T value) {
    ByteBuffer bytes = kryo.serialize(value, ClassTag$.MODULE$.apply(Object.class));
    return (T) kryo.deserialize(bytes, ClassTag$.MODULE$.apply(Object.class));
  }

  @Test
  void arraysOfEveryShapeAndTypeComeBackEqual() {
    INDArray big = Nd4j.rand(DataType.FLOAT, 3, 700_001); // more than one 1 MB chunk
    INDArray matrix = Nd4j.rand(DataType.DOUBLE, 5, 7);
    List<INDArray> arrays = List.of(big, matrix, matrix.transpose(), matrix.get(
        org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 4), org.nd4j.linalg.indexing.NDArrayIndex.all()),
        Nd4j.createFromArray(1, 2, 3, 4).reshape(2, 2), Nd4j.scalar(2.5f), Nd4j.create(DataType.FLOAT, 0),
        Nd4j.rand(DataType.FLOAT, 2, 3, 4).permute(2, 0, 1), Nd4j.createFromArray(7L, -8L),
        Nd4j.rand(DataType.HALF, 4, 4));
    for (INDArray a : arrays) {
      INDArray back = roundTrip(a);
      assertEquals(a.dataType(), back.dataType());
      assertArrayEquals(a.shape(), back.shape());
      assertEquals(a, back, "round trip of " + a.shapeInfoToString());
    }
  }

  @Test
  void dataSetsAsDl4jSparkShipsThem() {
    DataSet d = new DataSet(Nd4j.rand(DataType.FLOAT, 4, 515), Nd4j.rand(DataType.FLOAT, 4, 2));
    DataSet back = roundTrip(d);
    assertEquals(d.getFeatures(), back.getFeatures());
    assertEquals(d.getLabels(), back.getLabels());
  }
}
