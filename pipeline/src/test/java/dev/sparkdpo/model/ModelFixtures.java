package dev.sparkdpo.model;

import dev.sparkdpo.TestData;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/** The HF fixtures (tests/testdata) and a raw view of safetensors files, for the model tests. */
final class ModelFixtures {
  static final ObjectMapper JSON = new ObjectMapper();

  private ModelFixtures() {}


  /** Tiny random GPT2LMHeadModel: vocab 1000, 2 layers, d 64, 4 heads, 64 positions, tied lm_head. */
  static Path tinyGpt2() {
    Path dir = TestData.resolve("fixtures/hf-gpt2-tiny");
    assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")), "missing fixture in " + dir);
    return dir;
  }

  /** A safetensors file's parts as stored: header length, JSON header, data section. */
  record RawFile(long headerLength, JsonNode header, byte[] data) {
    static RawFile of(Path file) throws IOException {
      byte[] all = Files.readAllBytes(file);
      long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
      JsonNode header = JSON.readTree(new String(all, 8, (int) n, java.nio.charset.StandardCharsets.UTF_8));
      byte[] data = java.util.Arrays.copyOfRange(all, 8 + (int) n, all.length);
      return new RawFile(n, header, data);
    }

    byte[] tensorBytes(String name) {
      JsonNode off = header.get(name).get("data_offsets");
      return java.util.Arrays.copyOfRange(data, off.get(0).intValue(), off.get(1).intValue());
    }
  }

  /** Writes a safetensors file from a hand-made header and data section (no padding added). */
  static void writeRaw(Path file, String headerJson, byte[] data) throws IOException {
    byte[] h = headerJson.getBytes(java.nio.charset.StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(data);
    Files.write(file, b.array());
  }
}
