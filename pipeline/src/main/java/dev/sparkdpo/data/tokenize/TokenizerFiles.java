package dev.sparkdpo.data.tokenize;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;

/** Locates {@code tokenizer.json} and reads what DJL does not expose: the EOS token and the vocab size. */
public final class TokenizerFiles {

  /** Tried in this order when neither tokenizer_config.json nor config.json names the EOS. */
  static final List<String> WELL_KNOWN_EOS = List.of("<|endoftext|>", "</s>", "<|eot_id|>", "<|im_end|>", "<eos>");

  /** The files beside tokenizer.json that {@link #readMeta} reads: what a tokenizer is, besides tokenizer.json. */
  static final List<String> SIBLINGS = List.of("tokenizer_config.json", "config.json");

  private static final ObjectMapper MAPPER = new ObjectMapper();
  /** Bundles written in this JVM: "directory root + sha256" -> the directory. */
  private static final Map<String, Path> WRITTEN = new ConcurrentHashMap<>();

  private TokenizerFiles() {}

  /**
   * A tokenizer's bytes (tokenizer.json, and those of {@link #SIBLINGS} that exist beside it), to send to Spark
   * executors that may not see the driver's path: a broadcast of this replaces {@code SparkContext.addFile}, which
   * cannot ship a model directory to a non-local master and ships a file's neighbours (the EOS) not at all.
   */
  public static final class Bundle implements Serializable {
    private static final long serialVersionUID = 1L;
    // a class, not a record: Spark's Kryo (the serializer of broadcasts) cannot set a record's final fields
    private final LinkedHashMap<String, byte[]> files;
    private final String sha256;

    Bundle(LinkedHashMap<String, byte[]> files, String sha256) {
      this.files = files;
      this.sha256 = sha256;
    }

    /** File name (tokenizer.json first) to bytes. */
    public Map<String, byte[]> files() {
      return java.util.Collections.unmodifiableMap(files);
    }

    /** SHA-256 over the files' names, lengths and bytes. */
    public String sha256() {
      return sha256;
    }

    /**
     * The directory {@code root/spark-dpo-tokenizer-<sha256 prefix>} holding these files, written on the first call
     * in this JVM (into a temporary directory first, then renamed, so no reader sees half a tokenizer). Pass Spark's
     * {@code SparkFiles.getRootDirectory()}, where Spark puts the files it ships and deletes them with the
     * application.
     */
    public Path materialize(Path root) {
      return WRITTEN.computeIfAbsent(root.toAbsolutePath() + "\0" + sha256, key -> {
        Path dir = root.resolve("spark-dpo-tokenizer-" + sha256.substring(0, 16));
        try {
          if (!Files.isDirectory(dir)) {
            Path tmp = root.resolve(".spark-dpo-tokenizer-" + UUID.randomUUID());
            Files.createDirectories(tmp);
            for (Map.Entry<String, byte[]> f : files.entrySet()) Files.write(tmp.resolve(f.getKey()), f.getValue());
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
          }
          return dir;
        } catch (IOException e) {
          throw new UncheckedIOException("cannot write the tokenizer's files into " + dir + ": " + e.getMessage(), e);
        }
      });
    }
  }

  /** The tokenizer at {@code pathOrDir} (a tokenizer.json file or a directory holding one) as a {@link Bundle}. */
  public static Bundle bundle(String pathOrDir) {
    Path json = resolveTokenizerJson(pathOrDir);
    LinkedHashMap<String, byte[]> files = new LinkedHashMap<>();
    try {
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      files.put("tokenizer.json", Files.readAllBytes(json));
      for (String name : SIBLINGS) {
        Path f = json.resolveSibling(name);
        if (Files.isRegularFile(f)) files.put(name, Files.readAllBytes(f));
      }
      for (Map.Entry<String, byte[]> f : files.entrySet()) {
        sha.update(f.getKey().getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(Long.toString(f.getValue().length).getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(f.getValue());
      }
      return new Bundle(files, HexFormat.of().formatHex(sha.digest()));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the tokenizer " + json + ": " + e.getMessage(), e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Returns the real path of the tokenizer file: {@code pathOrDir} itself if it is a file, else
   * {@code pathOrDir/tokenizer.json}. A path on another Hadoop file system (hdfs:, s3a:) is read from this JVM's
   * local copy of the tokenizer and the HF config files beside it (DJL's native tokenizer opens local files only).
   */
  public static Path resolveTokenizerJson(String pathOrDir) {
    if (pathOrDir == null || pathOrDir.isBlank()) {
      throw new IllegalArgumentException("tokenizer path is empty: expected a tokenizer.json file "
          + "or a model directory containing tokenizer.json");
    }
    Path local = dev.sparkdpo.io.HadoopFiles.localPathOf(pathOrDir);
    Path p = local != null ? local : remoteCopy(pathOrDir);
    Path file = Files.isDirectory(p) ? p.resolve("tokenizer.json") : p;
    if (!Files.isRegularFile(file)) {
      throw new IllegalArgumentException("tokenizer not found: " + file.toAbsolutePath()
          + " does not exist (tokenizer path '" + pathOrDir
          + "' must be a tokenizer.json file or a model directory containing tokenizer.json)");
    }
    try {
      return file.toRealPath();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot resolve " + file, e);
    }
  }

  /** The local copy of a tokenizer file (or a directory's tokenizer.json) on a non-local file system. */
  private static Path remoteCopy(String pathOrDir) {
    org.apache.hadoop.conf.Configuration conf = dev.sparkdpo.io.HadoopFiles.defaultConf();
    org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(pathOrDir);
    try {
      org.apache.hadoop.fs.FileStatus st = p.getFileSystem(conf).getFileStatus(p);
      org.apache.hadoop.fs.Path dir = st.isDirectory() ? p : p.getParent();
      String name = st.isDirectory() ? "tokenizer.json" : p.getName();
      return dev.sparkdpo.io.HadoopFiles.local(dir.toString(), List.of(name, "tokenizer_config.json", "config.json"),
          conf).resolve(name);
    } catch (java.io.FileNotFoundException e) {
      throw new IllegalArgumentException("tokenizer not found: " + pathOrDir + " does not exist (tokenizer path must"
          + " be a tokenizer.json file or a model directory containing tokenizer.json)");
    } catch (IOException e) {
      throw new UncheckedIOException("reading tokenizer " + pathOrDir + ": " + e.getMessage(), e);
    }
  }

  /** EOS and vocab size of one tokenizer; {@code vocabSize} is the largest id + 1 (vocab and added tokens). */
  record Meta(OptionalInt eosId, Optional<String> eosToken, int vocabSize) {}

  /**
   * Reads {@code tokenizer.json} and the HF config files beside it. The EOS comes from, in order:
   * tokenizer_config.json {@code eos_token} (string or {@code {"content": ...}}) if that token exists,
   * config.json {@code eos_token_id} (an int or a list: first element) if in range,
   * else the first of {@link #WELL_KNOWN_EOS} found in {@code added_tokens} or {@code model.vocab}.
   */
  static Meta readMeta(Path tokenizerJson) {
    JsonNode root = readJson(tokenizerJson);
    if (root == null) {
      throw new IllegalArgumentException("cannot read " + tokenizerJson);
    }
    Vocab vocab = new Vocab(root.path("added_tokens"), root.path("model").path("vocab"));
    Path dir = tokenizerJson.getParent();

    JsonNode cfg = readJson(dir.resolve(SIBLINGS.get(0)));
    if (cfg != null) {
      JsonNode eos = cfg.path("eos_token");
      String token = eos.isTextual() ? eos.asText() : text(eos.path("content"));
      OptionalInt id = token == null ? OptionalInt.empty() : vocab.idOf(token);
      if (id.isPresent()) {
        return new Meta(id, Optional.of(token), vocab.size);
      }
    }
    JsonNode model = readJson(dir.resolve(SIBLINGS.get(1)));
    if (model != null) {
      JsonNode eosId = model.path("eos_token_id");
      if (eosId.isArray() && !eosId.isEmpty()) {
        eosId = eosId.get(0);
      }
      if (eosId.isIntegralNumber() && eosId.asInt() >= 0 && eosId.asInt() < vocab.size) {
        return new Meta(OptionalInt.of(eosId.asInt()), vocab.tokenOf(eosId.asInt()), vocab.size);
      }
    }
    for (String token : WELL_KNOWN_EOS) {
      OptionalInt id = vocab.idOf(token);
      if (id.isPresent()) {
        return new Meta(id, Optional.of(token), vocab.size);
      }
    }
    return new Meta(OptionalInt.empty(), Optional.empty(), vocab.size);
  }

  private static String text(JsonNode node) {
    return node.isTextual() ? node.asText() : null;
  }

  private static JsonNode readJson(Path file) {
    if (!Files.isRegularFile(file)) {
      return null;
    }
    try {
      return MAPPER.readTree(file.toFile());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(file + " is not valid JSON (" + e.getOriginalMessage().replaceAll("\\s+", " ")
          + "): the tokenizer reads it for the EOS token and vocab size; repair it or save the tokenizer again with"
          + " save_pretrained", e);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
    }
  }

  /** Token/id lookups over {@code added_tokens} and {@code model.vocab} (an object for BPE/WordPiece, a list of [token, score] for Unigram). */
  private static final class Vocab {
    final JsonNode added;
    final JsonNode model;
    final int size;

    Vocab(JsonNode added, JsonNode model) {
      this.added = added;
      this.model = model;
      int max = -1;
      for (JsonNode t : added) {
        max = Math.max(max, t.path("id").asInt(-1));
      }
      if (model.isArray()) {
        max = Math.max(max, model.size() - 1);
      } else {
        for (JsonNode id : model) {
          max = Math.max(max, id.asInt(-1));
        }
      }
      this.size = max + 1;
    }

    OptionalInt idOf(String token) {
      for (JsonNode t : added) {
        if (token.equals(text(t.path("content")))) {
          return OptionalInt.of(t.path("id").asInt());
        }
      }
      if (model.isArray()) {
        for (int i = 0; i < model.size(); i++) {
          if (token.equals(text(model.get(i).path(0)))) {
            return OptionalInt.of(i);
          }
        }
      } else if (model.path(token).isIntegralNumber()) {
        return OptionalInt.of(model.path(token).asInt());
      }
      return OptionalInt.empty();
    }

    Optional<String> tokenOf(int id) {
      for (JsonNode t : added) {
        if (t.path("id").asInt(-1) == id) {
          return Optional.ofNullable(text(t.path("content")));
        }
      }
      if (model.isArray()) {
        return id < model.size() ? Optional.ofNullable(text(model.get(id).path(0))) : Optional.empty();
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = model.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (e.getValue().asInt(-1) == id) {
          return Optional.of(e.getKey());
        }
      }
      return Optional.empty();
    }
  }
}
