package dev.sparkdpo.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sparkdpo.data.formats.Fields;
import dev.sparkdpo.data.formats.FormatOptions;
import dev.sparkdpo.data.formats.InputFormat;
import dev.sparkdpo.data.read.CsvRecordReader;
import dev.sparkdpo.data.read.InputFile;
import dev.sparkdpo.data.read.InputFiles;
import dev.sparkdpo.data.read.JsonArrayReader;
import dev.sparkdpo.data.read.JsonLinesReader;
import dev.sparkdpo.data.read.ParquetRecordReader;
import dev.sparkdpo.data.read.RawRecord;
import dev.sparkdpo.data.read.ReadCounters;
import dev.sparkdpo.data.read.RecordReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.hadoop.conf.Configuration;

/**
 * Turns the records of one file into {@link ParsedRecord}s: normalized pairs or quarantined records.
 * The record layout is fixed by {@code --format}, or detected from the first record of each file that matches one.
 */
public final class RecordParser implements Serializable {
  private final InputFormat forced;
  private final FormatOptions formatOptions;
  private final PairNormalizer normalizer;
  private final int maxRecordBytes;

  public RecordParser(InputFormat forced, FormatOptions formatOptions, int maxChars, int maxRecordBytes) {
    this.forced = forced;
    this.formatOptions = formatOptions;
    this.normalizer = new PairNormalizer(maxChars);
    this.maxRecordBytes = maxRecordBytes;
  }

  /** Streams the parsed records of one input file. */
  public Iterator<ParsedRecord> parseFile(InputFile file, Configuration conf, ReadCounters counters) {
    return parseFile(file, conf, counters, null);
  }

  /**
   * {@code wanted}: for JSON Lines, the record (line) numbers to parse; the others are only counted. Other containers
   * parse everything. Null = everything.
   */
  public Iterator<ParsedRecord> parseFile(InputFile file, Configuration conf, ReadCounters counters,
      java.util.function.LongPredicate wanted) {
    InputStream in;
    try {
      in = file.container() == InputFile.Container.PARQUET ? InputStream.nullInputStream()
          : InputFiles.open(file.path(), conf);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot open input " + file.path() + ": " + e.getMessage(), e);
    }
    FileRows rows = new FileRows(file.path(), in, forced, counters);
    // a skipped line must not be the one that fixes the file's layout: parse until the layout is known
    java.util.function.LongPredicate parse = wanted == null ? null : line -> rows.format == null || wanted.test(line);
    switch (file.container()) {
      case JSON_LINES -> rows.records = new JsonLinesReader(in, maxRecordBytes, counters, parse);
      case JSON -> rows.records = json(in, counters, parse);
      case CSV -> rows.records = new CsvRecordReader(in, maxRecordBytes, counters);
      default -> {
        ParquetRecordReader parquet = new ParquetRecordReader(file.path(), conf);
        if (rows.format == null) rows.format = InputFormat.detect(parquet.schemaSample());   // Parquet: by its schema
        rows.records = parquet;
      }
    }
    return rows;
  }

  /** Adds the rows of one record to {@code out}; returns the layout it has (null if undetected). */
  private InputFormat emit(String source, RawRecord r, InputFormat format, ArrayDeque<ParsedRecord> out) {
    if (r.error() != null) {
      out.add(bad(source, r, r.error(), r.rawText()));
      return format;
    }
    JsonNode node = r.node();
    if (!node.isObject()) {
      out.add(bad(source, r, new RecordException(QuarantineReason.NOT_AN_OBJECT,
          "the record is " + Fields.typeName(node) + ", expected a JSON object"), r.rawText()));
      return format;
    }
    if (format == null) format = InputFormat.detect(node);
    if (format == null) {
      out.add(bad(source, r, new RecordException(QuarantineReason.UNKNOWN_FORMAT,
          "cannot tell the format from the fields " + Fields.fieldNames(node) + ": expected prompt/chosen/rejected (flat), "
              + "chosen/rejected transcripts (hh), message lists (messages) or completions (ranked); see --format"),
          r.rawText()));
      return null;
    }
    try {
      List<PreferencePair> pairs = format.pairs(node, formatOptions);
      for (PreferencePair raw : pairs) {
        try {
          out.add(ParsedRecord.pair(normalizer.apply(raw), format.code(), source, r.record(), r.line()));
        } catch (RecordException e) {
          out.add(bad(source, r, e, r.rawText()));
        }
      }
    } catch (RecordException e) {
      out.add(bad(source, r, e, r.rawText()));
    }
    return format;
  }

  private static ParsedRecord bad(String source, RawRecord r, RecordException e, String raw) {
    return ParsedRecord.bad(source, r.record(), r.line(), e, raw);
  }

  /** A .json file: a JSON array when its first character is '[', else JSON Lines. */
  private RecordReader json(InputStream in, ReadCounters counters, java.util.function.LongPredicate parse) {
    try {
      return startsWithBracket(in) ? new JsonArrayReader(in) : new JsonLinesReader(in, maxRecordBytes, counters, parse);
    } catch (IOException e) {   // its first bytes cannot be read (not gzip, truncated): one unreadable row
      return RecordReader.of(RecordReader.unreadable(1, 1, 0, null, e));
    }
  }

  private static boolean startsWithBracket(InputStream in) throws IOException {
    in.mark(4096);
    int c;
    int n = 0;
    do {
      c = in.read();
      n++;
    } while ((c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0xEF || c == 0xBB || c == 0xBF) && n < 4096);
    in.reset();
    return c == '[';
  }

  /** Lazily maps a file's records to rows, fixing the layout at the first record that reveals it. */
  private final class FileRows implements Iterator<ParsedRecord> {
    private final String source;
    private final InputStream in;
    private final ArrayDeque<ParsedRecord> pending = new ArrayDeque<>();
    private final ReadCounters counters;
    private Iterator<RawRecord> records;
    private InputFormat format;

    FileRows(String source, InputStream in, InputFormat format, ReadCounters counters) {
      this.source = source;
      this.in = in;
      this.format = format;
      this.counters = counters;
    }

    @Override
    public boolean hasNext() {
      while (pending.isEmpty() && records.hasNext()) {
        counters.records++;
        RawRecord r = records.next();
        if (r != RawRecord.SKIPPED) format = emit(source, r, format, pending);
      }
      if (pending.isEmpty()) close();
      return !pending.isEmpty();
    }

    private void close() {
      try {
        in.close();
      } catch (IOException e) {
        throw new UncheckedIOException("closing " + source, e);
      }
    }

    @Override
    public ParsedRecord next() {
      if (!hasNext()) throw new NoSuchElementException();
      return pending.poll();
    }
  }
}
