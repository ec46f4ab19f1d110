package dev.sparkdpo.data.tokenize;

import dev.sparkdpo.TestData;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.StreamSupport;

import org.junit.jupiter.api.Test;

/** encodeText/decode against ids and decodes produced by HF tokenizers for the real GPT-2 tokenizer. */
class PairTokenizerGoldenTest {


  static Path gpt2Dir() {
    Path dir = TestData.resolve("fixtures/gpt2-tokenizer");
    assertTrue(Files.isRegularFile(dir.resolve("tokenizer.json")), "missing fixture in " + dir);
    return dir;
  }

  @Test
  void matchesGolden() throws Exception {
    JsonNode golden = new ObjectMapper().readTree(gpt2Dir().resolve("tokenizer_golden.json").toFile());
    PairTokenizer tok = PairTokenizer.open(
        new TokenizerSpec(gpt2Dir().resolve("tokenizer.json").toString(), 0, 0, Truncation.KEEP_END, true));
    assertTrue(golden.size() >= 9);
    for (JsonNode entry : golden) {
      String text = entry.get("text").asText();
      int[] ids = StreamSupport.stream(entry.get("ids").spliterator(), false).mapToInt(JsonNode::asInt).toArray();
      assertArrayEquals(ids, tok.encodeText(text), "ids of " + text);
      assertEquals(entry.get("decoded").asText(), tok.decode(ids), "decode of " + text);
    }
  }
}
