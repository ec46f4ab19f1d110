package dev.sparkdpo.data.formats;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;

/** Field access that turns a missing or mistyped field into a {@link RecordException} naming it. */
public final class Fields {
  private Fields() {}

  static JsonNode required(JsonNode record, String field, String format) {
    JsonNode v = record.get(field);
    if (v == null || v.isMissingNode()) {
      throw new RecordException(QuarantineReason.MISSING_FIELD,
          "missing field '" + field + "' for format " + format + " (record has " + fieldNames(record) + ")");
    }
    return v;
  }

  static String string(JsonNode record, String field, String format) {
    JsonNode v = required(record, field, format);
    if (!v.isTextual()) {
      throw new RecordException(QuarantineReason.WRONG_TYPE,
          "field '" + field + "' is " + typeName(v) + ", expected a string for format " + format);
    }
    return v.textValue();
  }

  static double number(JsonNode node, String field, String where) {
    JsonNode v = node.get(field);
    if (v == null) {
      throw new RecordException(QuarantineReason.MISSING_FIELD, "missing field '" + field + "' in " + where);
    }
    if (v.isNumber()) return v.doubleValue();
    if (v.isTextual()) {
      try {
        return Double.parseDouble(v.textValue().trim());
      } catch (NumberFormatException ignored) {
        // fall through to the error below
      }
    }
    throw new RecordException(QuarantineReason.WRONG_TYPE,
        "field '" + field + "' in " + where + " is " + typeName(v) + ", expected a number");
  }

  /** "a string", "an array", "null"…: for messages that say what a value is. */
  public static String typeName(JsonNode v) {
    if (v.isNull()) return "null";
    if (v.isTextual()) return "a string";
    if (v.isArray()) return "an array";
    if (v.isObject()) return "an object";
    if (v.isNumber()) return "a number";
    if (v.isBoolean()) return "a boolean";
    return v.getNodeType().toString().toLowerCase();
  }

  /** The record's field names as {@code [a, b, c]}. */
  public static String fieldNames(JsonNode record) {
    StringBuilder sb = new StringBuilder("[");
    record.fieldNames().forEachRemaining(n -> sb.append(sb.length() > 1 ? ", " : "").append(n));
    return sb.append(']').toString();
  }
}
