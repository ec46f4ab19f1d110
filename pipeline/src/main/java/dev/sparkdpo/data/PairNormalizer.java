package dev.sparkdpo.data;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.text.Normalizer;

/**
 * The few text rules ingest applies before validation, dedup and training. What the model trains on is what the user
 * gave, minus exactly these:
 * <ol>
 *   <li>Unicode NFC (so "é" typed two ways is one string);</li>
 *   <li>line endings: CRLF and lone CR become LF;</li>
 *   <li>responses lose trailing whitespace (spaces, tabs, newlines after the last visible character). Prompts keep
 *       theirs: the end of the prompt is the boundary the response is appended to, and a space there changes tokens.
 *       Leading whitespace is kept everywhere (" Paris" and "Paris" are different GPT-2 tokens).</li>
 * </ol>
 * Then a pair is rejected (quarantined) when a text is not valid Unicode (an unpaired UTF-16 surrogate, from a
 * {@code "\ud800"} JSON escape or from bytes that are not UTF-8 in a Parquet string: it cannot be written as UTF-8),
 * when the prompt or a response is empty or only whitespace, when chosen equals rejected, or when a field is longer
 * than {@code maxChars}. Every reader's texts pass here, so this is the one place that checks them.
 */
public final class PairNormalizer implements java.io.Serializable {
  private final int maxChars;

  public PairNormalizer(int maxChars) {
    this.maxChars = maxChars;
  }

  public static String normalizeText(String s) {
    if (s.indexOf('\r') >= 0) s = s.replace("\r\n", "\n").replace('\r', '\n');
    if (belowCombiningMarks(s)) return s;   // every character below U+0300 is its own NFC form
    return Normalizer.isNormalized(s, Normalizer.Form.NFC) ? s : Normalizer.normalize(s, Normalizer.Form.NFC);
  }

  private static boolean belowCombiningMarks(String s) {
    for (int i = 0, n = s.length(); i < n; i++) {
      if (s.charAt(i) >= 0x300) return false;
    }
    return true;
  }

  /** Normalizes and validates; throws {@link RecordException} with the reason when the pair cannot be used. */
  public PreferencePair apply(PreferencePair raw) {
    String prompt = normalizeText(checkUnicode("prompt", raw.prompt()));
    String chosen = normalizeText(checkUnicode("chosen", raw.chosen())).stripTrailing();
    String rejected = normalizeText(checkUnicode("rejected", raw.rejected())).stripTrailing();
    if (prompt.isBlank()) throw new RecordException(QuarantineReason.EMPTY_PROMPT, "the prompt is empty");
    if (chosen.isBlank()) throw new RecordException(QuarantineReason.EMPTY_RESPONSE, "the chosen response is empty");
    if (rejected.isBlank()) throw new RecordException(QuarantineReason.EMPTY_RESPONSE, "the rejected response is empty");
    if (chosen.equals(rejected)) {
      throw new RecordException(QuarantineReason.IDENTICAL_RESPONSES,
          "chosen and rejected are the same text after normalization: the pair expresses no preference");
    }
    checkLength("prompt", prompt);
    checkLength("chosen", chosen);
    checkLength("rejected", rejected);
    return new PreferencePair(prompt, chosen, rejected);
  }

  /** {@code text}, or invalid_text when it holds an unpaired surrogate (Java strings can; UTF-8 cannot say it). */
  static String checkUnicode(String field, String text) {
    for (int i = 0, n = text.length(); i < n; i++) {
      char c = text.charAt(i);
      if (c < Character.MIN_SURROGATE || c > Character.MAX_SURROGATE) continue;
      if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(text.charAt(i + 1))) {
        i++;
        continue;
      }
      throw new RecordException(QuarantineReason.INVALID_TEXT, "field '" + field + "' is not valid Unicode text: an "
          + "unpaired UTF-16 surrogate (U+" + String.format("%04X", (int) c) + ") at character " + (i + 1)
          + " (a \\uD800-\\uDFFF escape without its pair, or bytes that are not UTF-8); fix the text at its source");
    }
    return text;
  }

  private void checkLength(String field, String text) {
    if (maxChars > 0 && text.length() > maxChars) {
      throw new RecordException(QuarantineReason.TOO_LONG,
          "field '" + field + "' has " + text.length() + " characters, over the limit of " + maxChars
              + " (raise --max-chars / ingest.max-chars)");
    }
  }

  /** Hex of the first 128 bits of SHA-256 over the three length-prefixed UTF-8 texts (the pair key, in sorted order). */
  public static String pairId(String prompt, String first, String second) {
    MessageDigest sha = sha256();
    for (String s : new String[] {prompt, first, second}) {
      byte[] b = s.getBytes(StandardCharsets.UTF_8);
      sha.update((byte) (b.length >>> 24));
      sha.update((byte) (b.length >>> 16));
      sha.update((byte) (b.length >>> 8));
      sha.update((byte) b.length);
      sha.update(b);
    }
    return hex128(sha.digest());
  }

  /**
   * The id of a pair given its order-free key: the key itself when chosen sorts first, else a hash of the key and the
   * orientation (cheap: the texts are not hashed again). Still a pure function of the normalized content.
   */
  public static String orientedId(String pairKey, boolean swapped) {
    if (!swapped) return pairKey;
    MessageDigest sha = sha256();
    sha.update(pairKey.getBytes(StandardCharsets.US_ASCII));
    sha.update((byte) 1);
    return hex128(sha.digest());
  }

  private static String hex128(byte[] d) {
    StringBuilder hex = new StringBuilder(32);
    for (int i = 0; i < 16; i++) hex.append(Character.forDigit((d[i] >> 4) & 15, 16)).append(Character.forDigit(d[i] & 15, 16));
    return hex.toString();
  }

  private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JVM has no SHA-256", e);
    }
  });

  /** This thread's SHA-256 digest (getInstance per pair was a visible cost); digest() leaves it reset. */
  private static MessageDigest sha256() {
    return SHA256.get();
  }
}
