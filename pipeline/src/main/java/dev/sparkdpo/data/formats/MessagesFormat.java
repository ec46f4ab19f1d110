package dev.sparkdpo.data.formats;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.PreferencePair;
import dev.sparkdpo.data.QuarantineReason;
import dev.sparkdpo.data.RecordException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Chat records: {@code chosen}/{@code rejected} (and optionally {@code prompt}) are lists of {@code {role, content}}.
 *
 * <p>The prompt is the explicit {@code prompt} list when {@code chosen}/{@code rejected} do not repeat it; otherwise
 * the messages {@code chosen} and {@code rejected} share at their start (UltraFeedback-binarized style, where a string
 * {@code prompt} only repeats the first user turn). A string prompt with no shared messages becomes one user turn.
 *
 * <p>Rendered with the HH template, so every format reaches the model in one style: each message is
 * {@code "\n\n" + Role + ": " + content} (user → Human, assistant → Assistant, system → System), the prompt ends with
 * {@code "\n\nAssistant:"}, and a response is {@code " " + content} of its first (assistant) message, followed by any
 * further messages rendered the same way.
 */
final class MessagesFormat {
  private MessagesFormat() {}

  record Message(String role, String content) {}

  static List<PreferencePair> pairs(JsonNode record) {
    List<Message> chosen = messages(Fields.required(record, "chosen", "messages"), "chosen");
    List<Message> rejected = messages(Fields.required(record, "rejected", "messages"), "rejected");
    JsonNode promptNode = record.get("prompt");

    List<Message> prompt;
    if (promptNode != null && promptNode.isArray()) {
      prompt = messages(promptNode, "prompt");
      if (startsWith(chosen, prompt) && startsWith(rejected, prompt)) {   // full conversations repeat the prompt
        chosen = chosen.subList(prompt.size(), chosen.size());
        rejected = rejected.subList(prompt.size(), rejected.size());
      }
    } else {
      int shared = sharedPrefix(chosen, rejected);
      prompt = chosen.subList(0, shared);
      chosen = chosen.subList(shared, chosen.size());
      rejected = rejected.subList(shared, rejected.size());
      if (prompt.isEmpty()) {
        if (promptNode == null || promptNode.isNull()) {
          throw new RecordException(QuarantineReason.MISSING_FIELD,
              "missing field 'prompt': 'chosen' and 'rejected' share no leading messages, so there is no implicit prompt");
        }
        if (!promptNode.isTextual()) {
          throw new RecordException(QuarantineReason.WRONG_TYPE,
              "field 'prompt' is " + Fields.typeName(promptNode) + ", expected a message list or a string");
        }
        prompt = List.of(new Message("user", promptNode.textValue()));
      }
    }
    return List.of(new PreferencePair(renderPrompt(prompt), renderResponse(chosen, "chosen"),
        renderResponse(rejected, "rejected")));
  }

  static String renderPrompt(List<Message> prompt) {
    StringBuilder sb = new StringBuilder();
    for (Message m : prompt) sb.append("\n\n").append(label(m.role())).append(": ").append(m.content());
    return sb.append(HhFormat.ASSISTANT_TAG).toString();
  }

  static String renderResponse(List<Message> response, String field) {
    if (response.isEmpty()) return "";   // validation reports the empty response
    if (!response.get(0).role().equals("assistant")) {
      throw new RecordException(QuarantineReason.INVALID_MESSAGES,
          "the '" + field + "' response starts with a '" + response.get(0).role()
              + "' message after the prompt; it must start with an 'assistant' message");
    }
    StringBuilder sb = new StringBuilder(" ").append(response.get(0).content());
    for (Message m : response.subList(1, response.size())) {
      sb.append("\n\n").append(label(m.role())).append(": ").append(m.content());
    }
    return sb.toString();
  }

  private static String label(String role) {
    return switch (role) {
      case "user", "human" -> "Human";
      case "assistant", "gpt", "bot" -> "Assistant";
      case "system" -> "System";
      default -> role.isEmpty() ? role : Character.toUpperCase(role.charAt(0)) + role.substring(1);
    };
  }

  private static List<Message> messages(JsonNode list, String field) {
    if (!list.isArray()) {
      throw new RecordException(QuarantineReason.WRONG_TYPE,
          "field '" + field + "' is " + Fields.typeName(list) + ", expected a list of {role, content} messages");
    }
    List<Message> out = new ArrayList<>(list.size());
    for (int i = 0; i < list.size(); i++) {
      JsonNode m = list.get(i);
      String where = field + "[" + i + "]";
      if (!m.isObject() || !m.path("role").isTextual()) {
        throw new RecordException(QuarantineReason.INVALID_MESSAGES,
            where + " is not a {\"role\": string, \"content\": ...} message");
      }
      out.add(new Message(m.get("role").textValue().toLowerCase(Locale.ROOT), content(m.get("content"), where)));
    }
    return out;
  }

  /** A string, or OpenAI-style parts {@code [{type: "text", text}]} joined. */
  private static String content(JsonNode c, String where) {
    if (c != null && c.isTextual()) return c.textValue();
    if (c != null && c.isArray()) {
      StringBuilder sb = new StringBuilder();
      for (JsonNode part : c) {
        if (part.isTextual()) sb.append(part.textValue());
        else if (part.path("text").isTextual()) sb.append(part.get("text").textValue());
        else throw new RecordException(QuarantineReason.INVALID_MESSAGES, where + ".content has a non-text part");
      }
      return sb.toString();
    }
    throw new RecordException(QuarantineReason.INVALID_MESSAGES,
        where + ".content is " + (c == null ? "missing" : Fields.typeName(c)) + ", expected a string");
  }

  private static boolean startsWith(List<Message> list, List<Message> prefix) {
    return list.size() > prefix.size() && list.subList(0, prefix.size()).equals(prefix);
  }

  private static int sharedPrefix(List<Message> a, List<Message> b) {
    int n = Math.min(a.size(), b.size());
    int i = 0;
    while (i < n && a.get(i).equals(b.get(i))) i++;
    return i;
  }
}
