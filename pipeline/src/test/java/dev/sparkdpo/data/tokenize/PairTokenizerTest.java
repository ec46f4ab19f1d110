package dev.sparkdpo.data.tokenize;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PairTokenizerTest {

  private static final int GPT2_EOS = 50256;
  private static final String GPT2_JSON = PairTokenizerGoldenTest.gpt2Dir().resolve("tokenizer.json").toString();
  private static final String[] WORDS = {
    "the", "policy", "reward", "model", "DPO", "preference", "answer", "question", "Human:", "Assistant:",
    "naïve", "café", "東京", "🙂", "don't", "3.14159", "\n", "\t", "  ", "!", "?", "loss", "β", "gradient",
    "Spark", "executor", "tokenizer", "chosen", "rejected", "1234567890", "über", "—", "...", "it's",
  };

  private static PairTokenizer gpt2(int maxLength, int maxPromptLength, Truncation mode, boolean appendEos) {
    return PairTokenizer.open(new TokenizerSpec(GPT2_JSON, maxLength, maxPromptLength, mode, appendEos));
  }

  private static String randomText(Random rnd, int maxWords) {
    StringBuilder sb = new StringBuilder();
    int n = rnd.nextInt(maxWords + 1);
    for (int i = 0; i < n; i++) {
      sb.append(rnd.nextInt(4) == 0 ? "" : " ").append(WORDS[rnd.nextInt(WORDS.length)]);
    }
    return sb.toString();
  }

  private static int[] concat(int[] a, int... b) {
    int[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  @Test
  void gpt2EosComesFromModelVocab() {
    PairTokenizer tok = gpt2(0, 0, Truncation.KEEP_END, true);
    assertEquals(GPT2_EOS, tok.eosId().getAsInt());
    assertEquals(Optional.of("<|endoftext|>"), tok.eosToken());
    assertEquals(50257, tok.vocabSize());
  }

  @Test
  void eosIsAppendedToResponsesOnly() {
    PairTokenizer tok = gpt2(0, 0, Truncation.KEEP_END, true);
    TokenizedPair p = tok.encode("Hello world", " yes", " no");
    assertArrayEquals(tok.encodeText("Hello world"), p.promptIds());
    assertArrayEquals(concat(tok.encodeText(" yes"), GPT2_EOS), p.chosenIds());
    assertArrayEquals(concat(tok.encodeText(" no"), GPT2_EOS), p.rejectedIds());
    assertFalse(p.promptTruncated());
    assertFalse(p.responseTruncated());

    TokenizedPair empty = tok.encode("", "", "");
    assertArrayEquals(new int[0], empty.promptIds());
    assertArrayEquals(new int[] {GPT2_EOS}, empty.chosenIds());
  }

  @Test
  void withoutAppendEosResponsesArePlainIds() {
    PairTokenizer tok = gpt2(0, 0, Truncation.KEEP_END, false);
    TokenizedPair p = tok.encode("Hello world", " yes", " no");
    assertArrayEquals(tok.encodeText(" yes"), p.chosenIds());
    assertArrayEquals(tok.encodeText(" no"), p.rejectedIds());
  }

  @Test
  void promptAndResponseAreTokenizedSeparately() {
    PairTokenizer tok = gpt2(0, 0, Truncation.KEEP_END, false);
    String prompt = "Answer: ";
    String response = "yes";
    int[] joint = tok.encodeText(prompt + response); // "Answer", ":", " yes"
    int[] separate = concat(tok.encodeText(prompt), tok.encodeText(response)); // "Answer", ":", " ", "yes"
    assertNotEquals(Arrays.toString(joint), Arrays.toString(separate), "pick a case where BPE merges across");

    TokenizedPair p = tok.encode(prompt, response, response);
    assertArrayEquals(separate, concat(p.promptIds(), p.chosenIds()));
    assertEquals(prompt + response, tok.decode(concat(p.promptIds(), p.chosenIds())));
  }

  @Test
  void promptTruncationKeepsEndOrStart() {
    String prompt = "one two three four five six seven eight nine ten";
    int[] full = gpt2(0, 0, Truncation.KEEP_END, true).encodeText(prompt);
    assertEquals(10, full.length);

    TokenizedPair end = gpt2(0, 4, Truncation.KEEP_END, true).encode(prompt, " yes", " no");
    assertArrayEquals(Arrays.copyOfRange(full, 6, 10), end.promptIds());
    assertTrue(end.promptTruncated());
    assertFalse(end.responseTruncated());

    TokenizedPair start = gpt2(0, 4, Truncation.KEEP_START, true).encode(prompt, " yes", " no");
    assertArrayEquals(Arrays.copyOf(full, 4), start.promptIds());
    assertTrue(start.promptTruncated());
  }

  @Test
  void responseTruncationKeepsStart() {
    PairTokenizer tok = gpt2(8, 3, Truncation.KEEP_END, true);
    String chosen = " a b c d e f g h i j";
    TokenizedPair p = tok.encode("one two three four", chosen, " no");
    assertEquals(3, p.promptIds().length);
    assertArrayEquals(Arrays.copyOf(tok.encodeText(chosen), 5), p.chosenIds());
    assertArrayEquals(concat(tok.encodeText(" no"), GPT2_EOS), p.rejectedIds(), "short response keeps its EOS");
    assertTrue(p.promptTruncated());
    assertTrue(p.responseTruncated());
  }

  @Test
  void withoutPromptLimitThePromptIsCutFirstDownToHalfOfMaxLength() {
    String prompt = " x".repeat(30);
    // room for the whole response: only the prompt is cut, to L - longest = 20 - 6
    TokenizedPair fits = gpt2(20, 0, Truncation.KEEP_END, true).encode(prompt, " a b c d e", " f");
    assertEquals(14, fits.promptIds().length);
    assertEquals(6, fits.chosenIds().length);
    assertTrue(fits.promptTruncated());
    assertFalse(fits.responseTruncated());
    // long response: the prompt keeps L / 2 tokens, the responses get the rest
    TokenizedPair cut = gpt2(20, 0, Truncation.KEEP_END, true).encode(prompt, " a".repeat(40), " f");
    assertEquals(10, cut.promptIds().length);
    assertEquals(10, cut.chosenIds().length);
    assertEquals(2, cut.rejectedIds().length);
    assertTrue(cut.responseTruncated());
  }

  @Test
  void lengthInvariantHoldsOnRandomTexts() {
    Random rnd = new Random(42);
    for (int i = 0; i < 400; i++) {
      int maxLen = rnd.nextBoolean() ? 2 + rnd.nextInt(40) : 0;
      int maxPrompt = rnd.nextBoolean() ? 1 + rnd.nextInt(30) : 0;
      Truncation mode = rnd.nextBoolean() ? Truncation.KEEP_END : Truncation.KEEP_START;
      boolean eos = rnd.nextBoolean();
      PairTokenizer tok = gpt2(maxLen, maxPrompt, mode, eos);
      String prompt = randomText(rnd, 30);
      String chosen = randomText(rnd, 30);
      String rejected = randomText(rnd, 30);
      TokenizedPair p = tok.encode(prompt, chosen, rejected);
      String what = "L=" + maxLen + " P=" + maxPrompt + " " + mode + " eos=" + eos + " " + p;

      if (maxLen > 0) {
        assertTrue(p.promptIds().length + p.chosenIds().length <= maxLen, what);
        assertTrue(p.promptIds().length + p.rejectedIds().length <= maxLen, what);
      }
      if (maxPrompt > 0) {
        assertTrue(p.promptIds().length <= maxPrompt, what);
      }
      int[] fullPrompt = tok.encodeText(prompt);
      int n = p.promptIds().length;
      int[] expectedPrompt = mode == Truncation.KEEP_END
          ? Arrays.copyOfRange(fullPrompt, fullPrompt.length - n, fullPrompt.length)
          : Arrays.copyOf(fullPrompt, n);
      assertArrayEquals(expectedPrompt, p.promptIds(), what);
      assertEquals(n < fullPrompt.length, p.promptTruncated(), what);
      assertTrue(fullPrompt.length == 0 || n > 0, "a non-empty prompt keeps a token: " + what);

      int[] fullChosen = eos ? concat(tok.encodeText(chosen), GPT2_EOS) : tok.encodeText(chosen);
      int[] fullRejected = eos ? concat(tok.encodeText(rejected), GPT2_EOS) : tok.encodeText(rejected);
      assertArrayEquals(Arrays.copyOf(fullChosen, p.chosenIds().length), p.chosenIds(), what);
      assertArrayEquals(Arrays.copyOf(fullRejected, p.rejectedIds().length), p.rejectedIds(), what);
      boolean cut = p.chosenIds().length < fullChosen.length || p.rejectedIds().length < fullRejected.length;
      assertEquals(cut, p.responseTruncated(), what);
      assertTrue(p.chosenIds().length > 0 || fullChosen.length == 0, "a response keeps a token: " + what);
      assertTrue(p.rejectedIds().length > 0 || fullRejected.length == 0, "a response keeps a token: " + what);
    }
  }

  @Test
  void encodeBatchEqualsEncode() {
    Random rnd = new Random(7);
    int n = 50;
    String[] prompts = new String[n];
    String[] chosen = new String[n];
    String[] rejected = new String[n];
    for (int i = 0; i < n; i++) {
      prompts[i] = randomText(rnd, 40);
      chosen[i] = randomText(rnd, 40);
      rejected[i] = randomText(rnd, 40);
    }
    prompts[0] = "";
    chosen[1] = "naïve café — 東京 🙂";
    for (PairTokenizer tok : List.of(gpt2(0, 0, Truncation.KEEP_END, true), gpt2(24, 10, Truncation.KEEP_START, true),
        gpt2(16, 0, Truncation.KEEP_END, false))) {
      TokenizedPair[] batch = tok.encodeBatch(prompts, chosen, rejected);
      assertEquals(n, batch.length);
      for (int i = 0; i < n; i++) {
        assertEquals(tok.encode(prompts[i], chosen[i], rejected[i]), batch[i], "pair " + i);
      }
    }
    assertEquals(0, gpt2(0, 0, Truncation.KEEP_END, true).encodeBatch(new String[0], new String[0], new String[0]).length);
    assertThrows(IllegalArgumentException.class,
        () -> gpt2(0, 0, Truncation.KEEP_END, true).encodeBatch(prompts, chosen, new String[1]));
  }

  @Test
  void sharedTokenizerIsThreadSafe() throws Exception {
    PairTokenizer tok = gpt2(32, 12, Truncation.KEEP_END, true);
    Random rnd = new Random(3);
    String[] texts = IntStream.range(0, 60).mapToObj(i -> randomText(rnd, 40)).toArray(String[]::new);
    List<TokenizedPair> expected = new ArrayList<>();
    for (int i = 0; i + 2 < texts.length; i++) {
      expected.add(tok.encode(texts[i], texts[i + 1], texts[i + 2]));
    }
    ExecutorService pool = Executors.newFixedThreadPool(4);
    try {
      List<Future<Boolean>> results = new ArrayList<>();
      for (int t = 0; t < 8; t++) {
        results.add(pool.submit(() -> {
          PairTokenizer own = gpt2(32, 12, Truncation.KEEP_END, true);
          for (int rep = 0; rep < 10; rep++) {
            for (int i = 0; i + 2 < texts.length; i++) {
              if (!own.encode(texts[i], texts[i + 1], texts[i + 2]).equals(expected.get(i))) {
                return false;
              }
            }
          }
          return true;
        }));
      }
      for (Future<Boolean> f : results) {
        assertTrue(f.get());
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void openLoadsEachTokenizerFileOnce() {
    gpt2(0, 0, Truncation.KEEP_END, true);
    int loaded = PairTokenizer.loadedCount();
    gpt2(128, 64, Truncation.KEEP_START, false);
    PairTokenizer.open(new TokenizerSpec(PairTokenizerGoldenTest.gpt2Dir().toString(), 0, 0, Truncation.KEEP_END, true));
    PairTokenizer.open(new TokenizerSpec(GPT2_JSON.replace("/fixtures/", "/fixtures/./"), 0, 0, Truncation.KEEP_END, true));
    assertEquals(loaded, PairTokenizer.loadedCount());
  }

  @Test
  void modelDirectoryResolvesAndTokenizerConfigWins(@TempDir Path dir) throws Exception {
    Files.copy(Path.of(GPT2_JSON), dir.resolve("tokenizer.json"));
    Files.writeString(dir.resolve("tokenizer_config.json"),
        "{\"eos_token\": {\"__type\": \"AddedToken\", \"content\": \"Hello\", \"special\": true}}");
    Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": 198}");
    assertEquals(dir.resolve("tokenizer.json").toRealPath(), TokenizerFiles.resolveTokenizerJson(dir.toString()));

    PairTokenizer tok = PairTokenizer.open(new TokenizerSpec(dir.toString(), 0, 0, Truncation.KEEP_END, true));
    assertEquals(15496, tok.eosId().getAsInt());
    assertEquals(Optional.of("Hello"), tok.eosToken());
    assertArrayEquals(concat(tok.encodeText(" yes"), 15496), tok.encode("Q", " yes", " no").chosenIds());
  }

  @Test
  void aBundleCarriesTheFilesBesideTheTokenizerAndIsWrittenOncePerRoot(@TempDir Path dir) throws Exception {
    Path model = Files.createDirectory(dir.resolve("model"));
    Files.copy(Path.of(GPT2_JSON), model.resolve("tokenizer.json"));
    Files.writeString(model.resolve("tokenizer_config.json"), "{\"eos_token\": \"Hello\"}");
    Files.writeString(model.resolve("unrelated.bin"), "not a tokenizer file");
    // a tokenizer.json named directly brings its neighbours too: they name the EOS
    TokenizerFiles.Bundle bundle = TokenizerFiles.bundle(model.resolve("tokenizer.json").toString());
    assertEquals(List.of("tokenizer.json", "tokenizer_config.json"), List.copyOf(bundle.files().keySet()));
    assertEquals(bundle.sha256(), TokenizerFiles.bundle(model.toString()).sha256());

    // what an executor does: the bundle's bytes (a broadcast: through Spark's Kryo), written under Spark's root for
    // shipped files, tokenize the same
    org.apache.spark.serializer.SerializerInstance kryo =
        new org.apache.spark.serializer.KryoSerializer(new org.apache.spark.SparkConf()).newInstance();
    scala.reflect.ClassTag<TokenizerFiles.Bundle> tag = scala.reflect.ClassTag$.MODULE$.apply(TokenizerFiles.Bundle.class);
    TokenizerFiles.Bundle received = kryo.deserialize(kryo.serialize(bundle, tag), tag);
    assertEquals(bundle.sha256(), received.sha256());
    Path root = Files.createDirectory(dir.resolve("executor-root"));
    Path written = received.materialize(root);
    assertEquals(written, received.materialize(root));
    assertEquals(root, written.getParent());
    assertArrayEquals(Files.readAllBytes(model.resolve("tokenizer.json")), Files.readAllBytes(written.resolve("tokenizer.json")));
    try (var listing = Files.list(root)) {
      assertEquals(1, listing.count(), "no temporary directory is left beside it");
    }
    PairTokenizer shipped = PairTokenizer.open(new TokenizerSpec(written.toString(), 0, 0, Truncation.KEEP_END, true));
    PairTokenizer local = PairTokenizer.open(new TokenizerSpec(model.toString(), 0, 0, Truncation.KEEP_END, true));
    assertEquals(15496, shipped.eosId().getAsInt());
    assertArrayEquals(local.encode("Q", " yes", " no").chosenIds(), shipped.encode("Q", " yes", " no").chosenIds());

    Files.writeString(model.resolve("tokenizer_config.json"), "{\"eos_token\": \"<|endoftext|>\"}");
    assertNotEquals(bundle.sha256(), TokenizerFiles.bundle(model.toString()).sha256(), "the digest covers the neighbours");
  }

  @SuppressWarnings("unchecked")
  private static <T> T roundTrip(T value) throws Exception {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(value);
    }
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      return (T) in.readObject();
    }
  }

  @Test
  void configJsonEosIdIsTheSecondChoice(@TempDir Path dir) throws Exception {
    Files.copy(Path.of(GPT2_JSON), dir.resolve("tokenizer.json"));
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"eos_token\": \"<not-in-vocab>\"}");
    Files.writeString(dir.resolve("config.json"), "{\"eos_token_id\": [198, 628]}");
    PairTokenizer tok = PairTokenizer.open(new TokenizerSpec(dir.toString(), 0, 0, Truncation.KEEP_END, true));
    assertEquals(198, tok.eosId().getAsInt());
    assertEquals("\n", tok.decode(new int[] {tok.eosId().getAsInt()}));
  }

  @Test
  void missingPathNamesThePath(@TempDir Path dir) {
    String missing = dir.resolve("no-such-model").toString();
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> PairTokenizer.open(new TokenizerSpec(missing, 0, 0, Truncation.KEEP_END, true)));
    assertTrue(e.getMessage().contains(missing), e.getMessage());
    assertTrue(e.getMessage().contains("tokenizer.json"), e.getMessage());

    IllegalArgumentException emptyDir = assertThrows(IllegalArgumentException.class,
        () -> TokenizerFiles.resolveTokenizerJson(dir.toString()));
    assertTrue(emptyDir.getMessage().contains(dir.resolve("tokenizer.json").toString()), emptyDir.getMessage());
  }

  @Test
  void truncationParseAndSpecValidation() throws Exception {
    assertEquals(Truncation.KEEP_END, Truncation.parse("keep_end"));
    assertEquals(Truncation.KEEP_START, Truncation.parse("KEEP_Start"));
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Truncation.parse("left"));
    assertTrue(e.getMessage().contains("keep_end") && e.getMessage().contains("keep_start"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new TokenizerSpec(GPT2_JSON, 1, 0, Truncation.KEEP_END, true));
    assertThrows(IllegalArgumentException.class, () -> new TokenizerSpec(GPT2_JSON, 0, -1, Truncation.KEEP_END, true));

    TokenizerSpec spec = new TokenizerSpec(GPT2_JSON, 512, 128, Truncation.KEEP_START, true);
    assertEquals(spec, roundTrip(spec));
  }
}
