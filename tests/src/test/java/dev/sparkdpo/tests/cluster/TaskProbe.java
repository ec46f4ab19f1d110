package dev.sparkdpo.tests.cluster;

import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;

import java.io.Serializable;

/**
 * Static helpers called inside Spark tasks by cluster tests: if an executor can run them, the project's test
 * classes reached the executor's classpath. {@link #describe} reports which JVM ran a partition.
 */
public final class TaskProbe {

    private TaskProbe() {
    }

    /** Where a partition ran. */
    public static final class Where implements Serializable {
        private static final long serialVersionUID = 1L;
        public final int partition;
        public final String executorId;
        public final long pid;
        public final String probeLocation;

        Where(int partition, String executorId, long pid, String probeLocation) {
            this.partition = partition;
            this.executorId = executorId;
            this.pid = pid;
            this.probeLocation = probeLocation;
        }

        @Override
        public String toString() {
            return "partition " + partition + " on executor " + executorId + " (pid " + pid + ", " + probeLocation
                    + ")";
        }
    }

    /** Called inside a task: the executor id, this JVM's pid, and where TaskProbe was loaded from. */
    public static Where describe() {
        TaskContext tc = TaskContext.get();
        return new Where(tc == null ? -1 : tc.partitionId(), SparkEnv.get().executorId(),
                ProcessHandle.current().pid(),
                String.valueOf(TaskProbe.class.getProtectionDomain().getCodeSource().getLocation()));
    }

    /** A pure function to call in a map: proves the class is usable inside tasks. */
    public static long square(long x) {
        return x * x;
    }
}
