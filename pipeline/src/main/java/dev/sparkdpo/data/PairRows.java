package dev.sparkdpo.data;

import dev.sparkdpo.data.tokenize.TokenizedPair;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.GenericInternalRow;
import org.apache.spark.sql.catalyst.expressions.UnsafeArrayData;
import org.apache.spark.unsafe.types.UTF8String;

/**
 * Rows of {@link PairSchema#PAIRS} / {@link PairSchema#TOKENIZED_PAIRS} built directly as Spark's internal rows
 * (skipping the external-Row conversion, a measurable share of the write at a million pairs).
 */
final class PairRows {
  private PairRows() {}

  static final UTF8String TRAIN = UTF8String.fromString(PairSchema.TRAIN);
  static final UTF8String EVAL = UTF8String.fromString(PairSchema.EVAL);

  static InternalRow pair(ParsedRecord r, UTF8String source, UTF8String split) {
    return new GenericInternalRow(new Object[] {UTF8String.fromString(r.id()), UTF8String.fromString(r.prompt()),
        UTF8String.fromString(r.chosen()), UTF8String.fromString(r.rejected()), UTF8String.fromString(r.format()),
        source, r.record(), split});
  }

  static InternalRow tokenizedPair(ParsedRecord r, UTF8String source, UTF8String split, TokenizedPair t) {
    return new GenericInternalRow(new Object[] {UTF8String.fromString(r.id()), UTF8String.fromString(r.prompt()),
        UTF8String.fromString(r.chosen()), UTF8String.fromString(r.rejected()), UTF8String.fromString(r.format()),
        source, r.record(), UnsafeArrayData.fromPrimitiveArray(t.promptIds()),
        UnsafeArrayData.fromPrimitiveArray(t.chosenIds()), UnsafeArrayData.fromPrimitiveArray(t.rejectedIds()),
        t.promptIds().length, t.chosenIds().length, t.rejectedIds().length, t.promptTruncated(),
        t.responseTruncated(), split});
  }
}
