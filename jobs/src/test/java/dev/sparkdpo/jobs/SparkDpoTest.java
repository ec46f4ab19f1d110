package dev.sparkdpo.jobs;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/**
 * The error line of {@link SparkDpo#report} for failures a local run does not produce: on a cluster the executor's
 * exception reaches the driver only as text inside Spark's "Job aborted" message, not as a cause.
 */
class SparkDpoTest {
  private static final String TRACE =
      "\n\tat dev.sparkdpo.reference.ReferenceScorer.pairLogps(ReferenceScorer.java:140)"
      + "\n\tat org.apache.spark.scheduler.Task.run(Task.scala:141)\n";

  private record Printed(int exitCode, String err) {}

  private static Printed report(Throwable e) {
    StringWriter out = new StringWriter();
    int code = SparkDpo.report(e, new PrintWriter(out));
    return new Printed(code, out.toString());
  }

  @Test
  void anIllegalArgumentExceptionOnlyInATaskFailuresTextIsTheUsersError() {
    Printed p = report(new RuntimeException("Job aborted due to stage failure: Task 0 in stage 4.0 failed 4 times,"
        + " most recent failure: Lost task 0.3 in stage 4.0 (TID 9) (10.0.0.2 executor 1):"
        + " java.lang.IllegalArgumentException: pair p1: 70 tokens > the model's context of 64; re-ingest with"
        + " --max-length 64" + TRACE + "\nDriver stacktrace:"));
    assertEquals(2, p.exitCode());
    assertEquals("error: pair p1: 70 tokens > the model's context of 64; re-ingest with --max-length 64\n", p.err());
  }

  @Test
  void aCauseInsideSparksWriteFailureIsFound() {
    Printed p = report(new RuntimeException("Job aborted due to stage failure: ... Lost task 0.0 in stage 7.0 (TID 5)"
        + " (host executor 2): org.apache.spark.SparkException: [TASK_WRITE_FAILED] Task failed while writing rows to"
        + " hdfs:/x." + TRACE + "Caused by: java.lang.IllegalArgumentException: pair p2: reference log-prob is not"
        + " finite" + TRACE));
    assertEquals(2, p.exitCode());
    assertEquals("error: pair p2: reference log-prob is not finite\n", p.err());
  }

  @Test
  void anInternalFailureIsItsFirstLineAndWhereTheTraceIs() {
    Printed p = report(new IllegalStateException("Cannot call methods on a stopped SparkContext.\nThis stopped"
        + " SparkContext was created at:\n\n"
        + "org.apache.spark.sql.SparkSession$Builder.getOrCreate(SparkSession.scala:1093)"));
    assertEquals(1, p.exitCode());
    assertEquals("error: Cannot call methods on a stopped SparkContext. " + SparkDpo.STACK_TRACE_HINT + "\n", p.err());
  }

  @Test
  void aTaskFailureNamesTheTasksExceptionNotSparksWrapper() {
    Printed p = report(new RuntimeException("Job aborted due to stage failure: Task 1 in stage 2.0 failed 4 times, most"
        + " recent failure: Lost task 1.3 in stage 2.0 (TID 7) (10.0.0.3 executor 2): java.lang.OutOfMemoryError: Java"
        + " heap space" + TRACE));
    assertEquals(1, p.exitCode());
    assertEquals("error: a Spark task failed: OutOfMemoryError: Java heap space (raise --conf spark.executor.memory,"
        + " or lower the batch size) " + SparkDpo.STACK_TRACE_HINT + "\n", p.err());
  }

  @Test
  void aMultiLineMessageBecomesOneLine() {
    Printed p = report(new IllegalArgumentException("the training data has pairs the model cannot train on:\n  pair a:"
        + " empty prompt\n  pair b: empty chosen response"));
    assertEquals(2, p.exitCode());
    assertEquals("error: the training data has pairs the model cannot train on: pair a: empty prompt pair b: empty"
        + " chosen response\n", p.err());
  }

  @Test
  void aRootCauseThatAddsSomethingIsKept() {
    Printed p = report(new java.io.UncheckedIOException("reading /data/x",
        new java.io.IOException("Permission denied")));
    assertEquals(1, p.exitCode());
    assertEquals("error: reading /data/x (IOException: Permission denied) " + SparkDpo.STACK_TRACE_HINT + "\n",
        p.err());
  }
}
