package dev.sparkdpo.data;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.List;
import java.util.Map;

/**
 * {@code stats.json}: every input record is accounted for. For formats that give one pair per record,
 * {@code input_records == output_pairs + sum(quarantined)}; {@code quarantined} includes the duplicates, which
 * {@code duplicates_removed} also counts by kind. What the directory walks did not read is counted too:
 * {@code skipped_files} (no supported type), {@code skipped_symlinks} (not followed), and the first
 * {@link #EXAMPLES} of them, each with why, in {@code skipped_examples}.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record IngestStats(
    @JsonProperty("input_files") int inputFiles,
    @JsonProperty("skipped_files") long skippedFiles,
    @JsonProperty("skipped_symlinks") long skippedSymlinks,
    @JsonProperty("skipped_examples") List<String> skippedExamples,
    @JsonProperty("input_records") long inputRecords,
    @JsonProperty("output_pairs") long outputPairs,
    @JsonProperty("train_pairs") long trainPairs,
    @JsonProperty("eval_pairs") long evalPairs,
    @JsonProperty("quarantined") Map<String, Long> quarantined,
    @JsonProperty("duplicates_removed") Map<String, Long> duplicatesRemoved,
    @JsonProperty("formats") Map<String, Long> formats,
    @JsonProperty("repaired") Map<String, Long> repaired,
    @JsonProperty("tokenization") Map<String, Object> tokenization,
    @JsonProperty("options") Map<String, Object> options,
    @JsonProperty("elapsed_s") double elapsedSeconds,
    @JsonProperty("records_per_s") double recordsPerSecond) {

  /** How many skipped paths stats.json (and the log) name. */
  public static final int EXAMPLES = 20;

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
      .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS);

  public String toJson() {
    try {
      return JSON.writeValueAsString(this);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  public long quarantinedTotal() {
    return quarantined.values().stream().mapToLong(Long::longValue).sum();
  }
}
