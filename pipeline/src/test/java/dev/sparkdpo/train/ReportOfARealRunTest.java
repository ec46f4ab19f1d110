package dev.sparkdpo.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.report.Report;
import dev.sparkdpo.report.TrainingCurves;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The report of a real (tiny) DPO run on local[2]: the trainer's own metrics.jsonl, not a hand-written one, draws
 * every training curve. Set the environment variable REPORT_TEST_DIR=DIR to keep the report and look at it.
 */
class ReportOfARealRunTest {
  @TempDir Path tmp;

  @Test
  void theTrainersMetricsDrawEveryCurve() throws Exception {
    SparkSession spark = SparkSession.builder().master("local[2]").appName("report-real-run")
        .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
        .config("spark.serializer", "org.apache.spark.serializer.KryoSerializer")
        .config("spark.kryo.registrator", "org.nd4j.kryo.Nd4jRegistrator").getOrCreate();
    Path out = tmp.resolve("run");
    try {
      TrainFixture fixture = TrainFixture.create(spark, tmp.resolve("fixture"), 1);
      // TrainerTest's learning run cut to 1 epoch: 16 steps (128 train pairs / 2 workers x 4), an eval every 4
      Trainer.run(spark, TrainFixture.options(fixture.reference, fixture.model, out, "adamw", 1e-2, 1.0, 2, 4, 2, 1,
          0, 4, 0, false));
    } finally {
      spark.stop();
    }
    Path metrics = out.resolve(MetricsLog.FILE);
    String keep = System.getenv("REPORT_TEST_DIR");
    Path reportDir = keep != null ? Path.of(keep) : tmp.resolve("report");

    Report.Result r = Report.write(reportDir, metrics, List.of());

    assertEquals(List.of("loss.png", "reward_accuracy.png", "reward_margins.png", "rewards_chosen_rejected.png",
        "learning_rate.png"), r.plots().stream().map(p -> p.getFileName().toString()).toList());
    for (Path png : r.plots()) {
      BufferedImage img = ImageIO.read(png.toFile());
      assertEquals(800, img.getWidth());
      assertEquals(450, img.getHeight());
    }
    // the curves hold what the trainer logged: every step, and evals from log 2 at step 0 down
    TrainingCurves c = TrainingCurves.read(metrics);
    assertEquals(16, c.train("loss").size());
    assertEquals(16, c.train("rewards/margins").size());
    assertEquals(5, c.eval("loss").size()); // steps 0, 4, 8, 12, 16
    List<double[]> evalLoss = c.eval("loss").points();
    assertEquals(0.0, evalLoss.get(0)[0]);
    assertEquals(Math.log(2), evalLoss.get(0)[1], 1e-4);
    assertTrue(evalLoss.get(evalLoss.size() - 1)[1] < evalLoss.get(0)[1], "eval loss did not fall");
    String html = Files.readString(r.html());
    assertTrue(html.contains("No evaluate output given"));
  }
}
