package dev.sparkdpo.data.formats;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PreferencePair;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.util.List;

/**
 * Anthropic HH-RLHF transcripts. As in the DPO reference implementation ({@code extract_anthropic_prompt}), the prompt
 * is {@code chosen} up to and including its last {@code "\n\nAssistant:"}; the responses are what follows it in
 * {@code chosen} and in {@code rejected}, which must start with the same prompt.
 */
final class HhFormat {
  static final String ASSISTANT_TAG = "\n\nAssistant:";

  private HhFormat() {}

  static List<PreferencePair> pairs(JsonNode record) {
    String chosen = Fields.string(record, "chosen", "hh");
    String rejected = Fields.string(record, "rejected", "hh");
    int cut = chosen.lastIndexOf(ASSISTANT_TAG);
    if (cut < 0) {
      throw new RecordException(QuarantineReason.HH_NO_ASSISTANT_TURN,
          "field 'chosen' has no \"\\n\\nAssistant:\" turn; HH transcripts look like "
              + "\"\\n\\nHuman: ...\\n\\nAssistant: ...\" (use --format flat for prompt/chosen/rejected records)");
    }
    String prompt = chosen.substring(0, cut + ASSISTANT_TAG.length());
    if (!rejected.startsWith(prompt)) {
      throw new RecordException(QuarantineReason.HH_PREFIX_MISMATCH,
          "'rejected' does not start with the prompt taken from 'chosen' (up to its last \"\\n\\nAssistant:\", "
              + prompt.length() + " chars); the two transcripts must share the conversation before the final answer");
    }
    return List.of(new PreferencePair(prompt, chosen.substring(prompt.length()), rejected.substring(prompt.length())));
  }
}
