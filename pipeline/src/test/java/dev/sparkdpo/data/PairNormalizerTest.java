package dev.sparkdpo.data;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class PairNormalizerTest {
  private final PairNormalizer normalizer = new PairNormalizer(50);

  private QuarantineReason reason(String p, String c, String r) {
    return assertThrows(RecordException.class, () -> normalizer.apply(new PreferencePair(p, c, r))).reason();
  }

  @Test
  void appliesNfcLineEndingsAndTrailingWhitespaceOfResponsesOnly() {
    PreferencePair p = normalizer.apply(new PreferencePair("cafe\u0301?\r\nAnswer: ", " caf\u00e9 \t\r\n", " no\rway  "));
    assertEquals("caf\u00e9?\nAnswer: ", p.prompt(), "NFC + CRLF; the prompt keeps its trailing space");
    assertEquals(" caf\u00e9", p.chosen(), "leading space kept, trailing whitespace dropped");
    assertEquals(" no\nway", p.rejected());
  }

  @Test
  void quarantinesEmptyIdenticalAndTooLong() {
    assertEquals(QuarantineReason.EMPTY_PROMPT, reason(" \n ", "a", "b"));
    assertEquals(QuarantineReason.EMPTY_RESPONSE, reason("p", "", "b"));
    assertEquals(QuarantineReason.EMPTY_RESPONSE, reason("p", "a", "\t\n"));
    assertEquals(QuarantineReason.IDENTICAL_RESPONSES, reason("p", "same", "same \r\n"));
    assertEquals(QuarantineReason.IDENTICAL_RESPONSES, reason("p", "cafe\u0301", "caf\u00e9"));
    RecordException e = assertThrows(RecordException.class,
        () -> normalizer.apply(new PreferencePair("p", "a".repeat(51), "b")));
    assertEquals(QuarantineReason.TOO_LONG, e.reason());
    assertTrue(e.getMessage().contains("'chosen'") && e.getMessage().contains("--max-chars"), e.getMessage());
    assertEquals("a".repeat(50), normalizer.apply(new PreferencePair("p", "a".repeat(50), "b")).chosen());
  }

  @Test
  void pairIdIsStableAndUnambiguous() {
    String id = PairNormalizer.pairId("p", "a", "b");
    assertEquals(32, id.length());
    assertEquals(id, PairNormalizer.pairId("p", "a", "b"));
    assertNotEquals(id, PairNormalizer.pairId("p", "b", "a"));
    assertNotEquals(PairNormalizer.pairId("ab", "c", "d"), PairNormalizer.pairId("a", "bc", "d"), "length-prefixed");
  }
}
