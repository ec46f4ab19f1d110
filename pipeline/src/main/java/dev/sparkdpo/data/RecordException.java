package dev.sparkdpo.data;

/** A record that cannot become a pair: carries the quarantine reason and a sentence naming the field and the fix. */
public final class RecordException extends RuntimeException {
  private final QuarantineReason reason;

  public RecordException(QuarantineReason reason, String detail) {
    super(detail, null, false, false);   // no stack trace: these are data errors, counted by the million
    this.reason = reason;
  }

  public QuarantineReason reason() { return reason; }
}
