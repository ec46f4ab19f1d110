package dev.sparkdpo.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsTest {
  @TempDir Path dir;

  @Test
  void rewritingTheFixtureGivesTheHfLayout() throws Exception {
    Path fixture = ModelFixtures.tinyGpt2().resolve("model.safetensors");
    Map<String, Tensor> tensors = Safetensors.read(fixture);
    assertEquals(28, tensors.size());
    Path out = dir.resolve("out.safetensors");
    Safetensors.write(out, tensors, Map.of());

    ModelFixtures.RawFile raw = ModelFixtures.RawFile.of(out);
    assertEquals(0, raw.headerLength() % 8, "header length is a multiple of 8");
    assertEquals("pt", raw.header().get("__metadata__").get("format").asText());
    List<String> names = new ArrayList<>();
    long expectedBegin = 0;
    for (Iterator<Map.Entry<String, JsonNode>> it = raw.header().fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (e.getKey().equals("__metadata__")) continue;
      names.add(e.getKey());
      JsonNode off = e.getValue().get("data_offsets");
      assertEquals(expectedBegin, off.get(0).longValue(), e.getKey() + " starts where the previous one ended");
      assertEquals(4 * tensors.get(e.getKey()).size(), off.get(1).longValue() - off.get(0).longValue());
      assertEquals("F32", e.getValue().get("dtype").asText());
      expectedBegin = off.get(1).longValue();
    }
    assertEquals(expectedBegin, raw.data().length, "data section is exactly the tensors");
    List<String> sorted = new ArrayList<>(names);
    sorted.sort(null);
    assertEquals(sorted, names, "tensors in name order");
    assertEquals(tensors.keySet(), new java.util.HashSet<>(names));

    // The Python library wrote the fixture with the same rules: the files are identical.
    assertArrayEquals(Files.readAllBytes(fixture), Files.readAllBytes(out));
  }

  @Test
  void userMetadataGoesNextToTheFormat() throws Exception {
    Path out = dir.resolve("m.safetensors");
    Safetensors.write(out, Map.of("x", new Tensor(new long[] {2, 1}, new float[] {1f, -0f})), Map.of("step", "7"));
    JsonNode meta = ModelFixtures.RawFile.of(out).header().get("__metadata__");
    assertEquals("pt", meta.get("format").asText());
    assertEquals("7", meta.get("step").asText());
    Tensor back = Safetensors.read(out).get("x");
    assertArrayEquals(new long[] {2, 1}, back.shape());
    assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(back.data()[1]));
  }

  @Test
  void halfPrecisionIsUpCastExactly() throws Exception {
    short[] f16 = {0x3E00, (short) 0xC000, 0x7BFF, 0x1419, 0x0001, (short) 0x8000, 0x7C00, (short) 0xFC00};
    float[] f16Expected = {1.5f, -2.0f, 65504f, 1049f / (1 << 20), 0x1p-24f, -0f, Float.POSITIVE_INFINITY,
        Float.NEGATIVE_INFINITY};
    short[] bf16 = {0x4049, (short) 0xBF00};
    float[] bf16Expected = {3.140625f, -0.5f};
    ByteBuffer data = ByteBuffer.allocate(2 * (f16.length + bf16.length)).order(ByteOrder.LITTLE_ENDIAN);
    for (short s : f16) data.putShort(s);
    for (short s : bf16) data.putShort(s);
    String header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
        + "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]},\"__metadata__\":{\"format\":\"pt\"}}";
    Path file = dir.resolve("half.safetensors");
    ModelFixtures.writeRaw(file, header, data.array());

    Map<String, Tensor> t = Safetensors.read(file);
    assertArrayEquals(new long[] {2, 4}, t.get("h").shape());
    assertBits(f16Expected, t.get("h").data());
    assertArrayEquals(new long[] {2}, t.get("b").shape());
    assertBits(bf16Expected, t.get("b").data());
    assertEquals(0.0010004043579101562, t.get("h").data()[3], 0.0);
  }

  @Test
  void unsupportedDtypeNamesTensorAndDtype() throws Exception {
    Path file = dir.resolve("i64.safetensors");
    ModelFixtures.writeRaw(file, "{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", new byte[8]);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Safetensors.read(file));
    assertTrue(e.getMessage().contains("'ids'") && e.getMessage().contains("I64"), e.getMessage());
  }

  @Test
  void truncatedOrForeignFilesFailClearly() throws Exception {
    Path shortData = dir.resolve("short.safetensors");
    ModelFixtures.writeRaw(shortData, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", new byte[8]);
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Safetensors.read(shortData));
    assertTrue(e.getMessage().contains("'w'"), e.getMessage());

    Path text = dir.resolve("notes.txt");
    Files.writeString(text, "this is not a tensor file at all");
    assertThrows(IllegalArgumentException.class, () -> Safetensors.read(text));
    assertThrows(IllegalArgumentException.class, () -> Safetensors.read(dir.resolve("absent.safetensors")));
  }

  static void assertBits(float[] expected, float[] actual) {
    assertEquals(expected.length, actual.length);
    for (int i = 0; i < expected.length; i++) {
      assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
          "element " + i + ": expected " + expected[i] + ", got " + actual[i]);
    }
  }
}
