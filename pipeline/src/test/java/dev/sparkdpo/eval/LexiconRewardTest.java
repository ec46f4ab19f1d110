package dev.sparkdpo.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sparkdpo.TestData;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;

class LexiconRewardTest {
  private static final String LEXICON = "{\"good\": 3, \"bad\": -2, \"don't\": -1, \"love\": 3.5, \"Über\": 1}";

  @Test
  void wordsAreLowerCasedLettersWithInnerApostrophes() {
    assertEquals(List.of("good", "good", "bad", "i", "don't", "love", "it’s".replace('’', '\''), "bad", "über",
        "x", "y"), LexiconReward.words("Good, GOOD bad! I don't LOVE it’s 'bad' ÜBER x1y"));
    assertEquals(List.of(), LexiconReward.words(" 42 -- ' "));
  }

  @Test
  void rewardIsTheSumOfTheWordsScores() {
    LexiconReward r = LexiconReward.parse("lexicon:test", LEXICON);
    // good 3 + good 3 + bad -2 + i 0 + don't -1 + love 3.5 + it's 0 + bad -2 + über 1 = 5.5
    assertEquals(5.5, r.score("prompt ignored", "Good, GOOD bad! I don't LOVE it's 'bad' ÜBER"), 0);
    assertEquals(0, r.score("p", ""), 0);
    assertEquals(-1, r.score("p", "don’t"), 0); // typographic apostrophe reads as AFINN's
  }

  @Test
  void afinn165Fixture() {
    String path = TestData.resolve("data/afinn-165/afinn-165.json").toString();
    RewardModel r = RewardModel.parse("lexicon:" + path, new Configuration(false));
    assertInstanceOf(LexiconReward.class, r);
    assertEquals(3382, ((LexiconReward) r).size());
    // AFINN-165: great +3, love +3, bad -3; i, it, the, ending, was are not listed
    assertEquals(3, r.score("", "Great! I love it; the ending was bad."), 0);
    assertEquals("lexicon:" + path, r.spec());
  }

  @Test
  void badSpecsAreOneLineErrors() {
    Configuration conf = new Configuration(false);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> RewardModel.parse("rm:x", conf));
    assertEquals("--reward rm:x: unknown kind rm; built-in kinds: " + RewardModel.KINDS, e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> RewardModel.parse("lexicon:/no/such.json", conf));
    assertTrue(e.getMessage().startsWith("--reward lexicon:/no/such.json: cannot read it"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LexiconReward.parse("lexicon:f", "{\"good\": \"3\"}"));
    assertTrue(e.getMessage().contains("the score of \"good\" is \"3\", not a number"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> LexiconReward.parse("lexicon:f", "[1]"));
    assertTrue(e.getMessage().contains("is not a JSON object"), e.getMessage());
    assertEquals(0, RewardModel.parse("none", conf).score("a", "good"), 0);
  }
}
