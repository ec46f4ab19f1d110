package dev.sparkdpo.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PromptsTest {
  @Test
  void sentencesAreCutAtTheirEndsWithWhitespaceFolded() {
    assertEquals(List.of("In meeting you again I feel much satisfaction.", "The abundant fruits (of another year)"
        + " have blessed us!", "\"Is it so?\" he asked.", "1794 was a year."),
        Prompts.sentences("In meeting you again\nI feel much   satisfaction. The abundant fruits (of another year)\r\n"
            + "have blessed us! \"Is it so?\" he asked. 1794 was a year."));
    // no capital after the stop: one sentence (e.g. "3.5 million", "e.g. this")
    assertEquals(List.of("A loan of 3.5 florins, e.g. this one."), Prompts.sentences("A loan of 3.5 florins, e.g. this one."));
    assertEquals(List.of(), Prompts.sentences(" \n\t "));
  }

  @Test
  void prefixesAreSeededPerSentenceBetweenMinAndMaxWords() {
    String sentence = "one two three four five six seven eight nine ten eleven";
    Set<Integer> lengths = new HashSet<>();
    for (long seed = 0; seed < 200; seed++) {
      String p = Prompts.prefix(sentence, seed, 2, 8);
      int words = p.split(" ").length;
      assertTrue(words >= 2 && words <= 8, p);
      assertTrue(sentence.startsWith(p));
      assertEquals(p, Prompts.prefix(sentence, seed, 2, 8)); // a function of seed and sentence
      lengths.add(words);
    }
    assertEquals(Set.of(2, 3, 4, 5, 6, 7, 8), lengths);
    assertEquals("a b", Prompts.prefix("a b", 1, 2, 8));       // at most the sentence
    assertNull(Prompts.prefix("alone", 1, 2, 8));               // shorter than MIN
    assertEquals("one two three", Prompts.prefix(sentence, 5, 3, 3));
  }

  @Test
  void idsHashTheTextAndSourcesAreRelativeToTheGivenPath() {
    assertEquals(32, Prompts.id("The abundant").length());
    assertEquals(Prompts.id("The abundant"), Prompts.id("The abundant"));
    assertNotEquals(Prompts.id("The abundant"), Prompts.id("The abundant "));
    assertEquals("sub/1790.txt", Prompts.sourceName("file:/data/sotu/sub/1790.txt", List.of("/other", "/data/sotu")));
    assertEquals("1790.txt", Prompts.sourceName("file:/elsewhere/1790.txt", List.of("/data/sotu")));
  }

  @Test
  void promptWordsParseAndBadOnesNameTheOption() {
    assertArrayEquals(new int[] {2, 8}, GeneratePairsOptions.promptWords("2-8"));
    assertArrayEquals(new int[] {4, 4}, GeneratePairsOptions.promptWords("4"));
    assertEquals("--prompt-words two: give MIN-MAX words, e.g. 2-8",
        assertThrows(IllegalArgumentException.class, () -> GeneratePairsOptions.promptWords("two")).getMessage());
  }
}
