package dev.sparkdpo.io;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;
import org.apache.hadoop.conf.Configuration;

/**
 * Child-JVM driver for {@link StageOutputTest}: {@code <output> <content> <step>} writes an output whose data.txt holds
 * {@code content} and halts the JVM (no finally blocks, no shutdown hooks: what SIGKILL does) when the commit reaches
 * {@code step} ("writing": before the commit; "hold": keep the lock and sleep until killed).
 */
public final class StageOutputCrash {
  public static void main(String[] args) throws Exception {
    String output = args[0];
    String content = args[1];
    String step = args[2];
    StageOutput.faultInjector = s -> {
      if (s.equals(step)) Runtime.getRuntime().halt(137);
    };
    StageOutput out = StageOutput.open("test", "--output", output, List.of(), new Configuration());
    out.begin("fp-" + content);
    Files.writeString(Paths.get(java.net.URI.create(out.path("data.txt"))), content, StandardCharsets.UTF_8);
    if (step.equals("writing")) Runtime.getRuntime().halt(137);
    if (step.equals("hold")) {
      System.out.println("locked");
      System.out.flush();
      Thread.sleep(600_000);
    }
    out.commit();
    out.close();
  }
}
