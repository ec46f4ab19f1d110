package dev.sparkdpo.tests.cluster;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import scala.collection.JavaConverters;

/**
 * A driver-side listener (register it with {@code --conf spark.extraListeners=}{@value #CLASS}) that records which
 * executor ran every task, with the description of the job the task belonged to. Static: Spark instantiates it.
 */
public final class TaskRecorder extends SparkListener {
  public static final String CLASS = "dev.sparkdpo.tests.cluster.TaskRecorder";

  /** One finished task attempt. */
  public record TaskRun(String job, int stageId, String executorId, String host, boolean successful) {}

  private static final Map<Integer, String> JOB_OF_STAGE = new ConcurrentHashMap<>();
  private static final List<TaskRun> TASKS = new CopyOnWriteArrayList<>();

  @Override
  public void onJobStart(SparkListenerJobStart job) {
    String description = job.properties() == null ? "" : job.properties().getProperty("spark.job.description", "");
    for (Object stage : JavaConverters.seqAsJavaList(job.stageIds())) JOB_OF_STAGE.put((Integer) stage, description);
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd task) {
    TASKS.add(new TaskRun(JOB_OF_STAGE.getOrDefault(task.stageId(), ""), task.stageId(), task.taskInfo().executorId(),
        task.taskInfo().host(), task.taskInfo().successful()));
  }

  /** The tasks recorded since the last {@link #clear} (complete once the SparkContext has stopped). */
  public static List<TaskRun> tasks() {
    return List.copyOf(TASKS);
  }

  public static void clear() {
    TASKS.clear();
    JOB_OF_STAGE.clear();
  }
}
