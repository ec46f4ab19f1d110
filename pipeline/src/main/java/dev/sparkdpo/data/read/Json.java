package dev.sparkdpo.data.read;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The shared, thread-safe Jackson mapper for input records. */
public final class Json {
  private Json() {}

  /** Strings up to 512 MB (Jackson 2.15 caps at 20 MB by default; our own size limits apply later). */
  public static final ObjectMapper MAPPER = new ObjectMapper(JsonFactory.builder()
      .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(512 << 20).build())
      .build());

  /** Reads a JSON value as a tree without resolving the target type on every call (as MAPPER.readTree does). */
  public static final com.fasterxml.jackson.databind.ObjectReader TREE = MAPPER.readerFor(
      com.fasterxml.jackson.databind.JsonNode.class);
}
