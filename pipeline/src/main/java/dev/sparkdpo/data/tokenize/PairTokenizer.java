package dev.sparkdpo.data.tokenize;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Tokenizes preference pairs the way TRL's DPO trainer does: the prompt and each response are encoded
 * separately (no BPE merge across the boundary), never with BOS/special tokens, and the EOS id is appended
 * to both responses when {@link TokenizerSpec#appendEos()} is set and the tokenizer has an EOS.
 *
 * <p>Truncation, applied after the EOS is appended, with {@code L = maxLength}, {@code P = maxPromptLength}
 * (0 = no limit) and the prompt cut at the end chosen by {@link Truncation}:
 * <ol>
 *   <li>If {@code P > 0} and the prompt is longer than {@code P}, it is cut to {@code P} tokens.</li>
 *   <li>If {@code L > 0} and {@code prompt + longer response > L}, the prompt is cut first, but only down
 *       to a floor of {@code P} tokens (or {@code L / 2} when {@code P == 0}), and never to more than
 *       {@code L - 1} tokens. So when {@code P < L} a prompt within {@code P} is left alone, like TRL.</li>
 *   <li>If still too long, both responses are cut to {@code L - prompt} tokens, keeping their start
 *       (which may drop the EOS). Afterwards {@code prompt + each response <= L} and each response that
 *       was cut keeps at least one token.</li>
 * </ol>
 *
 * <p>Instances are cheap; the native tokenizer behind them is loaded once per JVM per tokenizer file,
 * shared by all threads (DJL encode/decode only read it) and never closed.
 */
public final class PairTokenizer {

  /** No special tokens, no truncation or padding inside DJL: all of that is done here. */
  static final Map<String, String> DJL_OPTIONS =
      Map.of("addSpecialTokens", "false", "truncation", "false", "padding", "false");

  private static final Map<Path, Loaded> CACHE = new ConcurrentHashMap<>();

  private record Loaded(HuggingFaceTokenizer hf, TokenizerFiles.Meta meta) {}

  private final TokenizerSpec spec;
  private final Loaded tok;

  private PairTokenizer(TokenizerSpec spec, Loaded tok) {
    this.spec = spec;
    this.tok = tok;
  }

  /** Returns a tokenizer for {@code spec}; the tokenizer file is loaded only on first use in this JVM. */
  public static PairTokenizer open(TokenizerSpec spec) {
    Path json = TokenizerFiles.resolveTokenizerJson(spec.path());
    return new PairTokenizer(spec, CACHE.computeIfAbsent(json, PairTokenizer::load));
  }

  private static Loaded load(Path json) {
    try {
      return new Loaded(HuggingFaceTokenizer.newInstance(json, DJL_OPTIONS), TokenizerFiles.readMeta(json));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot load tokenizer " + json + ": " + e.getMessage(), e);
    } catch (RuntimeException e) {
      // the native tokenizers library reports a file it cannot parse as a plain RuntimeException (serde's message)
      if (e.getClass() != RuntimeException.class) throw e;
      throw new IllegalArgumentException("tokenizer " + json + " is not a Hugging Face tokenizer.json ("
          + e.getMessage() + "): give the model's tokenizer.json, or the model directory that holds it", e);
    }
  }

  /** Number of distinct tokenizer files loaded in this JVM (for tests). */
  static int loadedCount() {
    return CACHE.size();
  }

  public TokenizedPair encode(String prompt, String chosen, String rejected) {
    return assemble(encodeText(prompt), encodeText(chosen), encodeText(rejected));
  }

  /** Same results as {@link #encode} element-wise, with one DJL batch call for all 3n texts. */
  public TokenizedPair[] encodeBatch(String[] prompts, String[] chosen, String[] rejected) {
    int n = prompts.length;
    if (chosen.length != n || rejected.length != n) {
      throw new IllegalArgumentException("batch sizes differ: " + n + " prompts, " + chosen.length
          + " chosen, " + rejected.length + " rejected");
    }
    TokenizedPair[] out = new TokenizedPair[n];
    if (n == 0) {
      return out;
    }
    String[] all = new String[3 * n];
    System.arraycopy(prompts, 0, all, 0, n);
    System.arraycopy(chosen, 0, all, n, n);
    System.arraycopy(rejected, 0, all, 2 * n, n);
    int[][] ids = batchIds(all);
    for (int i = 0; i < n; i++) {
      out[i] = assemble(ids[i], ids[n + i], ids[2 * n + i]);
    }
    return out;
  }

  /**
   * Ids only, through DJL's JNI binding directly: {@code HuggingFaceTokenizer.batchEncode} also builds every token's
   * string, offsets and masks, which ingest never uses and which cost ~40% of tokenization time. Same native
   * tokenizer, same settings, so the ids are identical (tested against {@link #encodeText}).
   */
  private int[][] batchIds(String[] texts) {
    long[] encodings = TokenizersLibrary.LIB.batchEncode(tok.hf.getHandle(), texts, false);
    int[][] out = new int[texts.length][];
    try {
      for (int i = 0; i < encodings.length; i++) {
        long[] ids = TokenizersLibrary.LIB.getTokenIds(encodings[i]);
        int[] v = new int[ids.length];
        for (int j = 0; j < ids.length; j++) {
          v[j] = (int) ids[j];
        }
        out[i] = v;
      }
    } finally {
      for (long e : encodings) {
        TokenizersLibrary.LIB.deleteEncoding(e);
      }
    }
    return out;
  }

  /** Plain ids of {@code text}, no special tokens. */
  public int[] encodeText(String text) {
    return ids(tok.hf.encode(text, false, false));
  }

  /** Decodes {@code ids} without skipping any token; the exact inverse of {@link #encodeText} for byte-level BPE. */
  public String decode(int[] ids) {
    return tok.hf.decode(Arrays.stream(ids).asLongStream().toArray(), false);
  }

  public OptionalInt eosId() {
    return tok.meta.eosId();
  }

  public Optional<String> eosToken() {
    return tok.meta.eosToken();
  }

  /** Model vocab plus added tokens: every id is below this. */
  public int vocabSize() {
    return tok.meta.vocabSize();
  }

  private TokenizedPair assemble(int[] prompt, int[] chosen, int[] rejected) {
    OptionalInt eos = eosId();
    if (spec.appendEos() && eos.isPresent()) {
      chosen = append(chosen, eos.getAsInt());
      rejected = append(rejected, eos.getAsInt());
    }
    int maxLen = spec.maxLength();
    int maxPrompt = spec.maxPromptLength();
    boolean promptCut = false;
    boolean responseCut = false;

    if (maxPrompt > 0 && prompt.length > maxPrompt) {
      prompt = cutPrompt(prompt, maxPrompt);
      promptCut = true;
    }
    int longest = Math.max(chosen.length, rejected.length);
    if (maxLen > 0 && prompt.length + longest > maxLen) {
      int floor = Math.min(maxPrompt > 0 ? maxPrompt : maxLen / 2, maxLen - 1);
      int keep = Math.max(maxLen - longest, Math.min(prompt.length, floor));
      if (keep < prompt.length) {
        prompt = cutPrompt(prompt, keep);
        promptCut = true;
      }
      int room = maxLen - prompt.length;
      if (longest > room) {
        chosen = Arrays.copyOf(chosen, Math.min(chosen.length, room));
        rejected = Arrays.copyOf(rejected, Math.min(rejected.length, room));
        responseCut = true;
      }
    }
    return new TokenizedPair(prompt, chosen, rejected, promptCut, responseCut);
  }

  private int[] cutPrompt(int[] prompt, int keep) {
    return spec.truncation() == Truncation.KEEP_END
        ? Arrays.copyOfRange(prompt, prompt.length - keep, prompt.length)
        : Arrays.copyOf(prompt, keep);
  }

  private static int[] append(int[] ids, int id) {
    int[] out = Arrays.copyOf(ids, ids.length + 1);
    out[ids.length] = id;
    return out;
  }

  private static int[] ids(Encoding e) {
    long[] ids = e.getIds();
    int[] out = new int[ids.length];
    for (int i = 0; i < ids.length; i++) {
      out[i] = Math.toIntExact(ids[i]);
    }
    return out;
  }
}
