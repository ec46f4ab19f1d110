package dev.sparkdpo.jobs;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * A synthetic flat JSONL preference corpus for benchmarks: English-like word salad with prompt ~40 words and
 * responses ~60 words, plus the hazards ingest must handle at rate: 1% exact duplicates, 0.1% swapped (conflicting)
 * pairs and 0.1% malformed lines.
 */
final class SyntheticPreferences {
  private static final String[] WORDS = (
      "the of and to a in is it you that he was for on are with as his they be at one have this from or had by "
      + "word but what some we can out other were all there when up use your how said an each she which do their "
      + "time if will way about many then them write would like so these her long make thing see him two has look "
      + "more day could go come did number sound no most people my over know water than call first who may down "
      + "side been now find any new work part take get place made live where after back little only round man year "
      + "came show every good me give our under name very through just form sentence great think say help low line "
      + "differ turn cause much mean before move right boy old too same tell does set three want air well also play "
      + "small end put home read hand port large spell add even land here must big high such follow act why ask men "
      + "change went light kind off need house picture try us again animal point mother world near build self earth "
      + "father head stand own page should country found answer school grow study still learn plant cover food sun "
      + "four between state keep eye never last let thought city tree cross farm hard start might story saw far sea "
      + "draw left late run while press close night real life few north open seem together next white children begin")
      .split(" ");

  record Summary(long records, long bytes) {}

  private SyntheticPreferences() {}

  static Summary write(Path dir, long pairs, int shards, long seed) throws IOException {
    Files.createDirectories(dir);
    SplittableRandom rnd = new SplittableRandom(seed);
    JsonFactory json = new JsonFactory();
    long records = 0;
    long bytes = 0;
    for (int s = 0; s < shards; s++) {
      Path file = dir.resolve(String.format("part-%05d.jsonl", s));
      long n = pairs / shards + (s < pairs % shards ? 1 : 0);
      try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
        String[] previous = null;
        for (long i = 0; i < n; i++) {
          double hazard = rnd.nextDouble();
          String[] pair;
          if (previous != null && hazard < 0.01) {
            pair = previous;                                       // exact duplicate
          } else if (previous != null && hazard < 0.011) {
            pair = new String[] {previous[0], previous[2], previous[1]};   // swapped: conflicting preference
          } else {
            pair = new String[] {words(rnd, 40), words(rnd, 60), words(rnd, 60)};
          }
          if (hazard > 0.999) {
            out.write("{\"prompt\": \"broken line\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
          } else {
            try (JsonGenerator g = json.createGenerator(out)) {
              g.configure(JsonGenerator.Feature.AUTO_CLOSE_TARGET, false);
              g.writeStartObject();
              g.writeStringField("prompt", pair[0]);
              g.writeStringField("chosen", pair[1]);
              g.writeStringField("rejected", pair[2]);
              g.writeEndObject();
            }
            out.write('\n');
          }
          previous = pair;
          records++;
        }
      }
      bytes += Files.size(file);
    }
    return new Summary(records, bytes);
  }

  private static String words(SplittableRandom rnd, int mean) {
    int n = mean / 2 + rnd.nextInt(mean);
    StringBuilder sb = new StringBuilder(n * 6);
    for (int i = 0; i < n; i++) {
      if (i > 0) sb.append(' ');
      sb.append(WORDS[rnd.nextInt(WORDS.length)]);
    }
    return sb.append('.').toString();
  }
}
