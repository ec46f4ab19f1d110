package dev.sparkdpo.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The Hugging Face safetensors format: an 8-byte little-endian header length N, N bytes of JSON
 * ({@code {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {..}}}, offsets relative to the end of the
 * header), then the raw little-endian tensor data.
 *
 * <p>Reading maps each tensor's bytes (no copy) and copies them once into a float array: F32 as is, F16 and BF16
 * up-cast exactly. Writing produces what the Python library writes for F32 tensors: tensors in name order, data
 * contiguous, header padded with spaces to a multiple of 8 bytes.
 */
public final class Safetensors {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String METADATA = "__metadata__";
  /** The Python/Rust library's limit; a larger header is a corrupt or foreign file. */
  private static final long MAX_HEADER = 100_000_000;
  private static final int WRITE_CHUNK = 1 << 20;

  private Safetensors() {}

  /** All tensors of {@code file}, in header order, as float32. */
  public static Map<String, Tensor> read(Path file) {
    return read(file, file.toString());
  }

  /** All tensors of {@code file}, in header order, as float32; errors call the file {@code name}. */
  public static Map<String, Tensor> read(Path file, String name) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      long fileSize = ch.size();
      if (fileSize < 8) throw corrupt(name, "only " + fileSize + " bytes; it starts with an 8-byte header length");
      ByteBuffer lenBuf = ch.map(FileChannel.MapMode.READ_ONLY, 0, 8).order(ByteOrder.LITTLE_ENDIAN);
      long headerLen = checkHeaderLength(lenBuf.getLong(0), fileSize, name);
      ByteBuffer headerBuf = ch.map(FileChannel.MapMode.READ_ONLY, 8, headerLen);
      byte[] headerBytes = new byte[(int) headerLen];
      headerBuf.get(headerBytes);
      long dataStart = 8 + headerLen;
      Map<String, Tensor> out = new LinkedHashMap<>();
      for (Entry entry : entries(headerBytes, fileSize - dataStart, name)) {
        out.put(entry.name(), entry.read(ch, dataStart));
      }
      return out;
    } catch (NoSuchFileException e) {
      throw new IllegalArgumentException("no such file: " + name, e);
    } catch (IOException e) {
      throw new UncheckedIOException("reading " + name + ": " + e.getMessage(), e);
    }
  }

  /** What the header of a safetensors file declares for one tensor. */
  public record TensorInfo(String dtype, long[] shape) {}

  /**
   * The tensors a safetensors file declares (name to dtype and shape, in header order), validated against the file's
   * size like {@link #read} does, from its first bytes only: a cheap check of a large model before it is used.
   * {@code in} is at the start of the file; errors call the file {@code name}.
   */
  public static Map<String, TensorInfo> header(InputStream in, long fileSize, String name) throws IOException {
    if (fileSize < 8) throw corrupt(name, "only " + fileSize + " bytes; it starts with an 8-byte header length");
    byte[] lenBytes = in.readNBytes(8);
    if (lenBytes.length < 8) throw corrupt(name, "it ends within the 8-byte header length");
    long headerLen = checkHeaderLength(ByteBuffer.wrap(lenBytes).order(ByteOrder.LITTLE_ENDIAN).getLong(0), fileSize,
        name);
    byte[] headerBytes = in.readNBytes((int) headerLen);
    if (headerBytes.length < headerLen) throw corrupt(name, "it ends within its header");
    Map<String, TensorInfo> out = new LinkedHashMap<>();
    for (Entry e : entries(headerBytes, fileSize - 8 - headerLen, name)) {
      out.put(e.name(), new TensorInfo(e.dtype(), e.shape()));
    }
    return out;
  }

  private static long checkHeaderLength(long headerLen, long fileSize, String name) {
    String length = "header length " + Long.toUnsignedString(headerLen);
    if (headerLen < 0 || headerLen > fileSize - 8) throw corrupt(name, length + " exceeds the file size " + fileSize);
    if (headerLen > MAX_HEADER) throw corrupt(name, length + " exceeds the format's limit of " + MAX_HEADER);
    if (headerLen < 2) throw corrupt(name, length + " is too small for a JSON object");
    return headerLen;
  }

  /** The header's tensor entries (metadata skipped), each checked against the data section. */
  private static List<Entry> entries(byte[] headerBytes, long dataSize, String name) {
    JsonNode header;
    try {
      header = JSON.readTree(headerBytes);
    } catch (IOException e) {
      String why = e instanceof JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
      throw corrupt(name, "its header is not JSON: " + why);
    }
    if (header == null || !header.isObject()) throw corrupt(name, "its header is not a JSON object");
    List<Entry> out = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getKey().equals(METADATA)) out.add(Entry.parse(name, e.getKey(), e.getValue(), dataSize));
    }
    return out;
  }

  /** Writes {@code tensors} as F32 with {@code "__metadata__": {"format": "pt", ...metadata}}. */
  public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) {
    Map<String, Tensor> sorted = new TreeMap<>(tensors);
    ObjectNode header = JSON.createObjectNode();
    ObjectNode meta = header.putObject(METADATA);
    meta.put("format", "pt");
    if (metadata != null) new TreeMap<>(metadata).forEach(meta::put);
    long offset = 0;
    for (Map.Entry<String, Tensor> e : sorted.entrySet()) {
      String name = e.getKey();
      if (name.isEmpty() || name.equals(METADATA)) throw new IllegalArgumentException("invalid tensor name '" + name + "'");
      Tensor t = e.getValue();
      ObjectNode o = header.putObject(name);
      o.put("dtype", "F32");
      ArrayNode shape = o.putArray("shape");
      for (long d : t.shape()) shape.add(d);
      long end = offset + 4L * t.size();
      o.putArray("data_offsets").add(offset).add(end);
      offset = end;
    }
    byte[] json;
    try {
      json = JSON.writeValueAsBytes(header);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) head.put((byte) ' ');
    head.flip();
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
        StandardOpenOption.TRUNCATE_EXISTING)) {
      writeFully(ch, head);
      ByteBuffer chunk = ByteBuffer.allocateDirect(WRITE_CHUNK).order(ByteOrder.LITTLE_ENDIAN);
      for (Tensor t : sorted.values()) {
        float[] data = t.data();
        int floatsPerChunk = WRITE_CHUNK / 4;
        for (int i = 0; i < data.length; i += floatsPerChunk) {
          int n = Math.min(floatsPerChunk, data.length - i);
          chunk.clear();
          chunk.asFloatBuffer().put(data, i, n);
          chunk.limit(4 * n);
          writeFully(ch, chunk);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException("writing " + file, e);
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
    while (buf.hasRemaining()) ch.write(buf);
  }

  /** A file that is not (or no longer) what a safetensors writer wrote: the fix is to write it again. */
  private static IllegalArgumentException corrupt(String name, String why) {
    return new IllegalArgumentException(name + " is corrupt (" + why + "); re-save the model with save_pretrained");
  }

  /** One header entry, validated against the data section. */
  private record Entry(String file, String name, String dtype, long[] shape, long begin, long end) {
    static Entry parse(String file, String name, JsonNode node, long dataSize) {
      String where = "tensor '" + name + "' ";
      JsonNode dtype = node.get("dtype");
      JsonNode shapeNode = node.get("shape");
      JsonNode offsets = node.get("data_offsets");
      if (dtype == null || !dtype.isTextual() || shapeNode == null || !shapeNode.isArray() || offsets == null
          || !offsets.isArray() || offsets.size() != 2) {
        throw corrupt(file, where + "has a malformed header entry " + node);
      }
      List<Long> dims = new ArrayList<>();
      for (JsonNode d : shapeNode) {
        if (!d.isIntegralNumber() || d.longValue() < 0) throw corrupt(file, where + "has shape " + shapeNode);
        dims.add(d.longValue());
      }
      long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
      long begin = offsets.get(0).asLong(-1);
      long end = offsets.get(1).asLong(-1);
      if (begin < 0 || end < begin || end > dataSize) {
        throw corrupt(file, where + "has data_offsets " + offsets + " beyond the data section of " + dataSize
            + " bytes: the file is truncated or its header is damaged");
      }
      Entry e = new Entry(file, name, dtype.textValue(), shape, begin, end);
      long expected = Math.multiplyExact(Tensor.numel(shape), e.elementBytes());
      if (end - begin != expected) {
        throw corrupt(file, where + "has " + (end - begin) + " bytes of data, but " + e.dtype
            + Tensor.shapeString(shape) + " needs " + expected);
      }
      if (Tensor.numel(shape) > Integer.MAX_VALUE - 8) {
        throw new IllegalArgumentException(file + ": " + where + "is too large for one float array: "
            + Tensor.shapeString(shape));
      }
      return e;
    }

    int elementBytes() {
      return switch (dtype) {
        case "F32" -> 4;
        case "F16", "BF16" -> 2;
        default -> throw new IllegalArgumentException(file + ": tensor '" + name + "' has dtype " + dtype
            + "; only F32, F16 and BF16 are supported: re-save the model in float32 (model.float().save_pretrained)");
      };
    }

    Tensor read(FileChannel ch, long dataStart) throws IOException {
      int n = (int) Tensor.numel(shape);
      float[] out = new float[n];
      if (n > 0) {
        ByteBuffer bytes = ch.map(FileChannel.MapMode.READ_ONLY, dataStart + begin, end - begin)
            .order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
          case "F32" -> {
            FloatBuffer f = bytes.asFloatBuffer();
            f.get(out);
          }
          case "F16" -> {
            ShortBuffer s = bytes.asShortBuffer();
            for (int i = 0; i < n; i++) out[i] = halfToFloat(s.get(i));
          }
          default -> {   // BF16: the upper half of a float32
            ShortBuffer s = bytes.asShortBuffer();
            for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((s.get(i) & 0xffff) << 16);
          }
        }
      }
      return new Tensor(shape, out);
    }
  }

  /** IEEE 754 binary16 to float32, exact (subnormals, infinities and NaN payloads included). */
  static float halfToFloat(short half) {
    int h = half & 0xffff;
    int sign = (h & 0x8000) << 16;
    int exp = (h >>> 10) & 0x1f;
    int mant = h & 0x3ff;
    if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
    if (exp == 0) {
      float v = mant * 0x1p-24f;   // zero or subnormal: exact in float32
      return sign != 0 ? -v : v;
    }
    return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
  }
}
