package dev.sparkdpo.data.read;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.Closeable;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.hadoop.conf.Configuration;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.security.AccessControlException;
import org.apache.parquet.hadoop.ParquetFileReader;
import org.apache.parquet.io.api.Binary;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.util.HadoopInputFile;
import org.apache.parquet.schema.GroupType;
import org.apache.parquet.schema.LogicalTypeAnnotation;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.PrimitiveType;
import org.apache.parquet.schema.Type;

/**
 * Streams the rows of one Parquet file as JSON records (strings, numbers, booleans, lists and structs; a missing
 * value is JSON null), so Parquet goes through the same record layouts as JSON. Record numbers are 1-based row indexes.
 *
 * <p>A file that is not Parquet, is truncated or has a corrupt page gives the rows read before the failure and then one
 * {@code unreadable_file} row (a missing or forbidden file is an error: the setup is wrong, not the data). String bytes
 * that are not UTF-8 become unpaired surrogates (U+DC80-U+DCFF, one per bad byte, as Python's "surrogateescape"), so
 * the record is quarantined as {@code invalid_text} by {@link dev.sparkdpo.data.PairNormalizer} only when that column
 * is part of a pair; a binary column nobody reads does not matter.
 */
public final class ParquetRecordReader extends RecordReader implements Closeable {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private final String path;
  private ParquetReader<Group> reader;
  private MessageType schema;
  private long index;
  private RawRecord failed;   // the unreadable row, until it is returned
  private boolean done;

  public ParquetRecordReader(String path, Configuration conf) {
    this.path = path;
    Path p = new Path(path);
    try (ParquetFileReader footer = ParquetFileReader.open(HadoopInputFile.fromPath(p, conf))) {
      this.schema = footer.getFooter().getFileMetaData().getSchema();
      this.reader = ParquetReader.builder(new GroupReadSupport(), p).withConf(conf).build();
    } catch (FileNotFoundException | AccessControlException e) {
      throw new UncheckedIOException("reading Parquet file " + path + ": " + e.getMessage(), e);
    } catch (IOException | RuntimeException e) {
      fail(e);
    }
  }

  private void fail(Exception e) {
    failed = unreadable(index + 1, -1, index, null, new UnreadableInputException(path, e));
    close();
  }

  /** A record with the file's top-level field names (lists as empty arrays), for layout detection. */
  public JsonNode schemaSample() {
    ObjectNode sample = NODES.objectNode();
    if (schema == null) return sample;
    for (Type f : schema.getFields()) {
      if (isList(f)) sample.putArray(f.getName());
      else sample.put(f.getName(), "");
    }
    return sample;
  }

  @Override
  protected RawRecord read() {
    if (failed != null) {
      RawRecord r = failed;
      failed = null;
      return r;
    }
    if (done) return null;
    Group g;
    try {
      g = reader.read();
    } catch (IOException | RuntimeException e) {   // corrupt page or truncated file: the rows before are kept
      fail(e);
      return read();
    }
    if (g == null) {
      close();
      return null;
    }
    index++;
    return RawRecord.ok(index, -1, object(g, g.getType()));
  }

  @Override
  public void close() {
    done = true;
    if (reader == null) return;
    try {
      reader.close();
    } catch (IOException e) {   // a read-only file: nothing is lost by a failed close
    }
    reader = null;
  }

  private static ObjectNode object(Group g, GroupType type) {
    ObjectNode o = NODES.objectNode();
    for (int i = 0; i < type.getFieldCount(); i++) {
      Type f = type.getType(i);
      int n = g.getFieldRepetitionCount(i);
      if (f.isRepetition(Type.Repetition.REPEATED)) {       // legacy 2-level list
        ArrayNode a = o.putArray(f.getName());
        for (int j = 0; j < n; j++) a.add(value(g, i, j, f));
      } else {
        o.set(f.getName(), n == 0 ? NODES.nullNode() : value(g, i, 0, f));
      }
    }
    return o;
  }

  private static JsonNode value(Group g, int field, int index, Type f) {
    if (f.isPrimitive()) {
      PrimitiveType p = f.asPrimitiveType();
      return switch (p.getPrimitiveTypeName()) {
        case BINARY, FIXED_LEN_BYTE_ARRAY -> NODES.textNode(text(g.getBinary(field, index)));
        case INT32 -> NODES.numberNode(g.getInteger(field, index));
        case INT64 -> NODES.numberNode(g.getLong(field, index));
        case FLOAT -> NODES.numberNode(g.getFloat(field, index));
        case DOUBLE -> NODES.numberNode(g.getDouble(field, index));
        case BOOLEAN -> NODES.booleanNode(g.getBoolean(field, index));
        default -> NODES.textNode(g.getValueToString(field, index));
      };
    }
    Group child = g.getGroup(field, index);
    GroupType t = f.asGroupType();
    if (isList(t)) {                                        // 3-level list: group (LIST) { repeated group list { element } }
      ArrayNode a = NODES.arrayNode();
      Type repeated = t.getType(0);
      int n = child.getFieldRepetitionCount(0);
      for (int j = 0; j < n; j++) {
        if (repeated.isPrimitive()) {
          a.add(value(child, 0, j, repeated));
        } else {
          Group item = child.getGroup(0, j);
          GroupType itemType = repeated.asGroupType();
          a.add(itemType.getFieldCount() == 1 && item.getFieldRepetitionCount(0) == 0 ? NODES.nullNode()
              : itemType.getFieldCount() == 1 ? value(item, 0, 0, itemType.getType(0)) : object(item, itemType));
        }
      }
      return a;
    }
    return object(child, t);
  }

  /** The bytes as UTF-8 text; bytes that are not UTF-8 become unpaired surrogates (see the class comment). */
  static String text(Binary b) {
    ByteBuffer bytes = b.toByteBuffer();
    byte[] a;
    int from;
    int len = bytes.remaining();
    if (bytes.hasArray()) {
      a = bytes.array();
      from = bytes.arrayOffset() + bytes.position();
    } else {
      a = b.getBytes();
      from = 0;
    }
    if (JsonLinesReader.isUtf8(a, from, from + len)) return new String(a, from, len, StandardCharsets.UTF_8);
    CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT);
    ByteBuffer in = ByteBuffer.wrap(a, from, len);
    CharBuffer out = CharBuffer.allocate(len);   // never more chars than bytes: one per escaped byte
    while (true) {
      CoderResult r = decoder.decode(in, out, true);
      if (!r.isError()) break;
      for (int i = 0; i < r.length(); i++) out.put((char) (0xDC00 | (in.get() & 0xFF)));
    }
    decoder.flush(out);
    return out.flip().toString();
  }

  private static boolean isList(Type t) {
    return !t.isPrimitive() && t.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation;
  }
}
