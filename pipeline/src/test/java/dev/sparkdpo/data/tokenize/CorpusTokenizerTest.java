package dev.sparkdpo.data.tokenize;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The corpus tokenizer's vocabulary choice, and its tokenizer.json as Hugging Face tokenizers reads it. */
class CorpusTokenizerTest {
  @TempDir Path tmp;

  @Test
  void theMostFrequentWordsAreKeptAndListedWordsReplaceTheRarest() {
    Map<String, Long> counts = Map.of("the", 10L, "union", 7L, "is", 7L, "strong", 3L, "good", 1L, "bad", 2L,
        "zeal", 5L);
    CorpusTokenizer.Vocabulary v = CorpusTokenizer.vocabulary(counts, 6, 1, Set.of("good", "absent"));
    // 4 places: the, is, union (7, 7: by word), zeal; then good (listed, in the corpus) replaces zeal
    assertEquals(List.of(WordLevelTokenizer.EOS, WordLevelTokenizer.UNK, "the", "is", "union", "good"), v.words());
    assertEquals(1, v.included());
    assertEquals(35, v.tokens());
    assertEquals((10 + 7 + 7 + 1) / 35.0, v.coverage(), 1e-12);
    // min-count holds for listed words too
    assertEquals(0, CorpusTokenizer.vocabulary(counts, 6, 2, Set.of("good")).included());
  }

  @Test
  void theTokenizerJsonEncodesWordsLowerCasedAndUnknownsAsUnk() throws Exception {
    List<String> vocab = List.of(WordLevelTokenizer.EOS, WordLevelTokenizer.UNK, "the", "union", "is", "strong", ".");
    Path file = tmp.resolve("tokenizer.json");
    Files.writeString(file, WordLevelTokenizer.json(vocab, true));
    PairTokenizer tok = PairTokenizer.open(new TokenizerSpec(file.toString(), 0, 0, Truncation.KEEP_END, false));
    assertArrayEquals(new int[] {2, 3, 4, 5, 6}, tok.encodeText("The Union is STRONG."));
    assertArrayEquals(new int[] {2, 1, 4, 5}, tok.encodeText("the nation is strong"));
    assertEquals("the union is strong .", tok.decode(new int[] {2, 3, 4, 5, 6}));
    assertEquals(List.of("the", "union", "is", "strong", "."), WordLevelTokenizer.words("The Union is STRONG.", true));
  }
}
