package dev.sparkdpo.io;

import com.esotericsoftware.kryo.Kryo;
import com.esotericsoftware.kryo.Serializer;
import com.esotericsoftware.kryo.io.Input;
import com.esotericsoftware.kryo.io.Output;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.apache.spark.serializer.KryoRegistrator;
import org.nd4j.kryo.Nd4jRegistrator;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Spark's Kryo registrator for ND4J arrays, set as {@code spark.kryo.registrator}: ND4J's own
 * {@link Nd4jRegistrator}, with its array serializer replaced by one that copies the array's bytes in bulk.
 * ND4J's writes element by element through a DataOutputStream (~400 MB/s measured); DL4J Spark's parameter averaging
 * moves the weights and the optimizer state through Kryo twice per round (broadcast, task results), 50 MB each way
 * per worker for the 4.3M-parameter benchmark model, so that cost is on every round's critical path.
 */
public final class Nd4jKryo implements KryoRegistrator {
  @Override
  public void registerClasses(Kryo kryo) {
    new Nd4jRegistrator().registerClasses(kryo);
    kryo.register(Nd4j.getBackend().getNDArrayClass(), new ArraySerializer());
  }

  /** Data type, shape, then the elements' bytes in 'c' order and this machine's byte order. */
  static final class ArraySerializer extends Serializer<INDArray> {
    private static final int CHUNK = 1 << 20;
    private static final boolean LITTLE_ENDIAN = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    @Override
    public void write(Kryo kryo, Output out, INDArray array) {
      INDArray a = array;
      boolean cContiguous = !a.isView() && a.offset() == 0 && a.data().length() == a.length()
          && (a.rank() < 2 || java.util.Arrays.equals(a.stride(), Nd4j.getStrides(a.shape(), 'c')));
      if (!cContiguous) a = a.dup('c');
      out.writeBoolean(LITTLE_ENDIAN);
      out.writeString(a.dataType().name());
      long[] shape = a.shape();
      out.writeInt(shape.length, true);
      for (long d : shape) out.writeLong(d, true);
      long bytes = a.length() * a.dataType().width();
      out.writeLong(bytes, true);
      if (bytes == 0) return; // empty arrays have no buffer
      // the host copy is read: on CUDA the latest values may be on the GPU only (a no-op on the CPU backend)
      Nd4j.getAffinityManager().ensureLocation(a, AffinityManager.Location.HOST);
      ByteBuffer data = a.data().asNio().duplicate();
      data.position(0);
      byte[] chunk = new byte[(int) Math.min(CHUNK, Math.max(bytes, 1))];
      for (long done = 0; done < bytes; ) {
        int n = (int) Math.min(chunk.length, bytes - done);
        data.get(chunk, 0, n);
        out.writeBytes(chunk, 0, n);
        done += n;
      }
      // the ByteBuffer over the native memory does not keep the array alive: without this fence the JIT may let a
      // (e.g. the 'c' copy above) be collected mid-copy and ND4J's deallocator free the memory being read (a SIGSEGV
      // in Kryo's arraycopy, seen once in CI's LocalTrainTest)
      java.lang.ref.Reference.reachabilityFence(a);
    }

    @Override
    public INDArray read(Kryo kryo, Input in, Class<INDArray> type) {
      if (in.readBoolean() != LITTLE_ENDIAN) {
        throw new IllegalStateException("an ND4J array serialized on a machine of the other byte order");
      }
      DataType dataType = DataType.valueOf(in.readString());
      long[] shape = new long[in.readInt(true)];
      for (int i = 0; i < shape.length; i++) shape[i] = in.readLong(true);
      long bytes = in.readLong(true);
      INDArray a;
      try (MemoryWorkspace ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
        a = Nd4j.createUninitialized(dataType, shape, 'c');
      }
      if (a.length() * dataType.width() != bytes) {
        throw new IllegalStateException("serialized array has " + bytes + " bytes, shape needs "
            + a.length() * dataType.width());
      }
      if (bytes == 0) return a;
      ByteBuffer data = a.data().asNio().duplicate();
      data.position(0);
      byte[] chunk = new byte[(int) Math.min(CHUNK, Math.max(bytes, 1))];
      for (long done = 0; done < bytes; ) {
        int n = (int) Math.min(chunk.length, bytes - done);
        in.readBytes(chunk, 0, n);
        data.put(chunk, 0, n);
        done += n;
      }
      // written through the host copy: on CUDA the GPU's copy is refreshed from it on first use (no-op on the CPU)
      Nd4j.getAffinityManager().tagLocation(a, AffinityManager.Location.HOST);
      return a;
    }
  }
}
