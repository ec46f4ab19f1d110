package dev.sparkdpo.data;

import static org.apache.spark.sql.types.DataTypes.*;

import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.StructType;

/**
 * The one declaration of the ingest output schemas. README's "Output schema" section documents the same columns.
 *
 * <p>{@code pairs/} holds one row per preference pair, partitioned by {@code split=train|eval};
 * {@code quarantine/} holds one row per dropped record or pair with the reason it was dropped.
 */
public final class PairSchema {
  private PairSchema() {}

  public static final String ID = "id";
  public static final String SPLIT = "split";
  public static final String PROMPT = "prompt";
  public static final String CHOSEN = "chosen";
  public static final String REJECTED = "rejected";
  public static final String FORMAT = "format";
  public static final String SOURCE = "source";
  public static final String RECORD = "record";
  public static final String PROMPT_IDS = "prompt_ids";
  public static final String CHOSEN_IDS = "chosen_ids";
  public static final String REJECTED_IDS = "rejected_ids";
  public static final String PROMPT_LEN = "prompt_len";
  public static final String CHOSEN_LEN = "chosen_len";
  public static final String REJECTED_LEN = "rejected_len";
  public static final String PROMPT_TRUNCATED = "prompt_truncated";
  public static final String RESPONSE_TRUNCATED = "response_truncated";

  public static final String TRAIN = "train";
  public static final String EVAL = "eval";

  /** The columns every pairs/ row has, text first. */
  private static final StructType TEXT_COLUMNS = new StructType()
      .add(ID, StringType, false)
      .add(PROMPT, StringType, false)
      .add(CHOSEN, StringType, false)
      .add(REJECTED, StringType, false)
      .add(FORMAT, StringType, false)
      .add(SOURCE, StringType, false)
      .add(RECORD, LongType, false);

  /** {@code pairs/} without tokenization. */
  public static final StructType PAIRS = TEXT_COLUMNS.add(SPLIT, StringType, false);

  private static final ArrayType IDS = createArrayType(IntegerType, false);

  /** The text columns, then the token columns. */
  private static final StructType TOKEN_COLUMNS = TEXT_COLUMNS
      .add(PROMPT_IDS, IDS, false)
      .add(CHOSEN_IDS, IDS, false)
      .add(REJECTED_IDS, IDS, false)
      .add(PROMPT_LEN, IntegerType, false)
      .add(CHOSEN_LEN, IntegerType, false)
      .add(REJECTED_LEN, IntegerType, false)
      .add(PROMPT_TRUNCATED, BooleanType, false)
      .add(RESPONSE_TRUNCATED, BooleanType, false);

  /** {@code pairs/} with {@code --tokenizer}: the token columns follow the text columns. */
  public static final StructType TOKENIZED_PAIRS = TOKEN_COLUMNS.add(SPLIT, StringType, false);

  public static final String CHOSEN_REWARD = "chosen_reward";
  public static final String REJECTED_REWARD = "rejected_reward";

  /**
   * {@code pairs/} of generate-pairs: the tokenized ingest columns, then the two completions' rewards, then the split
   * (so reference and train read it as an ingest output; the extra columns ride along).
   */
  public static final StructType GENERATED_PAIRS = TOKEN_COLUMNS
      .add(CHOSEN_REWARD, DoubleType, false)
      .add(REJECTED_REWARD, DoubleType, false)
      .add(SPLIT, StringType, false);

  /** A token-id column of a pairs/ row as an int array. */
  public static int[] ids(org.apache.spark.sql.Row row, String column) {
    java.util.List<Integer> list = row.getList(row.fieldIndex(column));
    int[] out = new int[list.size()];
    for (int i = 0; i < out.length; i++) out[i] = list.get(i);
    return out;
  }

  public static final String REASON = "reason";
  public static final String DETAIL = "detail";
  public static final String LINE = "line";
  public static final String RAW = "raw";

  /** {@code quarantine/}: what was dropped, where it came from, and why. */
  public static final StructType QUARANTINE = new StructType()
      .add(SOURCE, StringType, false)
      .add(RECORD, LongType, true)         // 1-based record number in the file (line for JSONL, element, row)
      .add(LINE, LongType, true)           // 1-based line where the record starts, when the file has lines
      .add(REASON, StringType, false)      // a QuarantineReason code
      .add(DETAIL, StringType, false)      // a sentence naming the field and the fix
      .add(RAW, StringType, true);         // the raw record, truncated to QuarantineReason.RAW_LIMIT chars
}
