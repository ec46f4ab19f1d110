package dev.sparkdpo.data.read;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
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
 */
public final class ParquetRecordReader extends RecordReader implements Closeable {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private final ParquetReader<Group> reader;
  private final MessageType schema;
  private long index;

  public ParquetRecordReader(String path, Configuration conf) {
    try {
      Path p = new Path(path);
      this.schema = org.apache.parquet.hadoop.ParquetFileReader.open(HadoopInputFile.fromPath(p, conf))
          .getFooter().getFileMetaData().getSchema();
      this.reader = ParquetReader.builder(new GroupReadSupport(), p).withConf(conf).build();
    } catch (IOException e) {
      throw new UncheckedIOException("reading Parquet file " + path + ": " + e.getMessage(), e);
    }
  }

  /** A record with the file's top-level field names (lists as empty arrays), for layout detection. */
  public JsonNode schemaSample() {
    ObjectNode sample = NODES.objectNode();
    for (Type f : schema.getFields()) {
      if (isList(f)) sample.putArray(f.getName());
      else sample.put(f.getName(), "");
    }
    return sample;
  }

  @Override
  protected RawRecord read() {
    Group g;
    try {
      g = reader.read();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
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
    try {
      reader.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
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
        case BINARY, FIXED_LEN_BYTE_ARRAY -> NODES.textNode(g.getString(field, index));
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

  private static boolean isList(Type t) {
    return !t.isPrimitive() && t.getLogicalTypeAnnotation() instanceof LogicalTypeAnnotation.ListLogicalTypeAnnotation;
  }
}
