package dev.sparkdpo.demo;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.data.tokenize.Truncation;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DemoDataTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @Test
  void writesLoadableTokenizerAndPreferencesTheLexiconDefines(@TempDir Path tmp) throws Exception {
    Path out = tmp.resolve("demo");
    DemoData.Result r = DemoData.run(new DemoData.Options(out.toString(), 7, 300, 200), new Configuration());
    assertFalse(r.skipped());

    // DJL (what ingest and train tokenize with) loads the word-level tokenizer, finds EOS, and round-trips text
    PairTokenizer tok = PairTokenizer.open(new TokenizerSpec(out.resolve(DemoData.TOKENIZER).toString(), 0, 0,
        Truncation.KEEP_END, true));
    assertEquals(DemoData.vocabulary().size(), tok.vocabSize());
    assertEquals(0, tok.eosId().getAsInt());
    String text = "the happy cat sees the awful river and it was green .";
    int[] ids = tok.encodeText(text);
    assertEquals(12, ids.length); // one token per word, "." its own
    for (int id : ids) assertTrue(id > 1, "no <unk> and no EOS inside a sentence: " + id);
    assertEquals(text, tok.decode(ids));
    int[] withEos = tok.encodeText("the dog . " + DemoData.EOS);
    assertEquals(0, withEos[withEos.length - 1]);

    // every pair: prompt of 4 words, chosen scored strictly above rejected by the lexicon file
    JsonNode lexicon = JSON.readTree(out.resolve(DemoData.LEXICON).toFile());
    List<String> lines = Files.readAllLines(out.resolve("preferences/pairs.jsonl"));
    assertEquals(200, lines.size());
    for (String line : lines) {
      JsonNode p = JSON.readTree(line);
      assertEquals(4, p.get("prompt").asText().split(" ").length);
      assertTrue(lexiconScore(lexicon, p.get("chosen").asText()) > lexiconScore(lexicon, p.get("rejected").asText()),
          line);
      for (String w : (p.get("prompt").asText() + " " + p.get("chosen").asText()).split(" ")) {
        assertTrue(DemoData.vocabulary().contains(w), w);
      }
    }
    assertEquals(300, Files.readAllLines(out.resolve("corpus/sentences.txt")).size());

    // deterministic from the seed, and a rerun with the same settings is skipped
    Path again = tmp.resolve("again");
    DemoData.run(new DemoData.Options(again.toString(), 7, 300, 200), new Configuration());
    assertArrayEquals(Files.readAllBytes(out.resolve("preferences/pairs.jsonl")),
        Files.readAllBytes(again.resolve("preferences/pairs.jsonl")));
    assertArrayEquals(Files.readAllBytes(out.resolve("corpus/sentences.txt")),
        Files.readAllBytes(again.resolve("corpus/sentences.txt")));
    assertTrue(DemoData.run(new DemoData.Options(out.toString(), 7, 300, 200), new Configuration()).skipped());
    assertFalse(DemoData.run(new DemoData.Options(out.toString(), 8, 300, 200), new Configuration()).skipped());
  }

  private static double lexiconScore(JsonNode lexicon, String text) {
    double s = 0;
    for (String w : text.split(" ")) s += lexicon.path(w).asDouble(0);
    return s;
  }
}
