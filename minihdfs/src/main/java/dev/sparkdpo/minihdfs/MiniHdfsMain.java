package dev.sparkdpo.minihdfs;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.DFSConfigKeys;
import org.apache.hadoop.hdfs.MiniDFSCluster;

/**
 * A real HDFS for the tests: {@code MiniHdfsMain <baseDir> <dataNodes>} starts a NameNode and DataNodes (Hadoop
 * 3.3.4's MiniDFSCluster, every socket on 127.0.0.1, storage under {@code baseDir}), writes the NameNode's URI to
 * {@code baseDir/uri} when it is ready, and runs until killed. It runs in its own JVM, with the classpath of this
 * module: the unshaded hadoop-common/hdfs cannot share a JVM with Spark's hadoop-client-api/runtime.
 */
public final class MiniHdfsMain {
  private MiniHdfsMain() {}

  public static void main(String[] args) throws Exception {
    Path base = Path.of(args[0]).toAbsolutePath();
    int dataNodes = Integer.parseInt(args[1]);
    Configuration conf = new Configuration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, base.resolve("data").toString());
    // loopback only: the NameNode's RPC and HTTP, the DataNodes' transfer, IPC and HTTP addresses
    conf.set(DFSConfigKeys.DFS_NAMENODE_RPC_BIND_HOST_KEY, "127.0.0.1");
    conf.set(DFSConfigKeys.DFS_NAMENODE_HTTP_ADDRESS_KEY, "127.0.0.1:0");
    conf.set(DFSConfigKeys.DFS_DATANODE_ADDRESS_KEY, "127.0.0.1:0");
    conf.set(DFSConfigKeys.DFS_DATANODE_HTTP_ADDRESS_KEY, "127.0.0.1:0");
    conf.set(DFSConfigKeys.DFS_DATANODE_IPC_ADDRESS_KEY, "127.0.0.1:0");
    conf.set(DFSConfigKeys.DFS_DATANODE_HOST_NAME_KEY, "127.0.0.1");
    // small blocks: a model of a few MB still spans several blocks (and DataNodes)
    conf.setLong(DFSConfigKeys.DFS_BLOCK_SIZE_KEY, 1024 * 1024);
    conf.setInt(DFSConfigKeys.DFS_REPLICATION_KEY, Math.min(dataNodes, 2));
    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf).numDataNodes(dataNodes).checkDataNodeAddrConfig(true)
        .build();
    cluster.waitActive();
    String uri = "hdfs://127.0.0.1:" + cluster.getNameNodePort();
    Path tmp = base.resolve("uri.tmp");
    Files.writeString(tmp, uri + "\n", StandardCharsets.UTF_8);
    Files.move(tmp, base.resolve("uri"), StandardCopyOption.ATOMIC_MOVE);
    System.out.println("MiniHdfsMain: " + uri + " with " + dataNodes + " DataNodes, storage in " + base
        + File.separator + "data");
    Runtime.getRuntime().addShutdownHook(new Thread(cluster::shutdown, "minihdfs-shutdown"));
    Thread.currentThread().join(); // until the JVM is stopped
  }
}
