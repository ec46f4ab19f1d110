package dev.sparkdpo.data.tokenize;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face tokenizers file with a WordLevel model, the one kind of tokenizer this project writes (the demo's,
 * and {@code spark-dpo tokenizer} over a corpus): the Whitespace pre-tokenizer (splits on {@code \w+|[^\w\s]+}),
 * optionally a Lowercase normalizer, {@code <|endoftext|>} (id 0) an added special token (so PairTokenizer finds it as
 * EOS), {@code <unk>} (id 1) for every word outside the vocabulary, and no decoder: decoding joins tokens with spaces.
 */
public final class WordLevelTokenizer {
  public static final String EOS = "<|endoftext|>";
  public static final String UNK = "<unk>";
  /** The Whitespace pre-tokenizer's pattern (HF tokenizers' {@code pre_tokenizers::whitespace}). */
  private static final Pattern WORDS = Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS);
  private static final ObjectMapper JSON = new ObjectMapper();

  private WordLevelTokenizer() {}

  /** The words the tokenizer sees in {@code text}: Whitespace pre-tokens, lower-cased when {@code lowercase}. */
  public static List<String> words(String text, boolean lowercase) {
    String s = lowercase ? text.toLowerCase(Locale.ROOT) : text;
    List<String> out = new ArrayList<>();
    Matcher m = WORDS.matcher(s);
    while (m.find()) out.add(m.group());
    return out;
  }

  /** The tokenizer.json text: ids are positions in {@code vocab}, which must start with EOS and UNK. */
  public static String json(List<String> vocab, boolean lowercase) {
    if (vocab.size() < 2 || !vocab.get(0).equals(EOS) || !vocab.get(1).equals(UNK)) {
      throw new IllegalArgumentException("a WordLevel vocabulary starts with " + EOS + " and " + UNK);
    }
    ObjectNode root = JSON.createObjectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (String special : List.of(EOS, UNK)) {
      ObjectNode t = added.addObject();
      t.put("id", vocab.indexOf(special));
      t.put("content", special);
      t.put("single_word", false);
      t.put("lstrip", false);
      t.put("rstrip", false);
      t.put("normalized", false);
      t.put("special", true);
    }
    if (lowercase) {
      root.putObject("normalizer").put("type", "Lowercase");
    } else {
      root.putNull("normalizer");
    }
    root.putObject("pre_tokenizer").put("type", "Whitespace");
    root.putNull("post_processor");
    root.putNull("decoder");
    ObjectNode model = root.putObject("model");
    model.put("type", "WordLevel");
    ObjectNode ids = model.putObject("vocab");
    for (int i = 0; i < vocab.size(); i++) ids.put(vocab.get(i), i);
    model.put("unk_token", UNK);
    return root.toPrettyString();
  }
}
