package dev.sparkdpo.data.formats;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PreferencePair;
import java.util.List;

/** {@code {"prompt": "...", "chosen": "...", "rejected": "..."}}: the text is used as given. */
final class FlatFormat {
  private FlatFormat() {}

  static List<PreferencePair> pairs(JsonNode record) {
    return List.of(new PreferencePair(
        Fields.string(record, "prompt", "flat"),
        Fields.string(record, "chosen", "flat"),
        Fields.string(record, "rejected", "flat")));
  }
}
