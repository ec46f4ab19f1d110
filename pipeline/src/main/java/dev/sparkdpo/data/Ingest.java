package dev.sparkdpo.data;

import static org.apache.spark.sql.functions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sparkdpo.data.formats.InputFormat;
import dev.sparkdpo.data.read.InputFile;
import dev.sparkdpo.data.read.InputFiles;
import dev.sparkdpo.data.read.Json;
import dev.sparkdpo.data.read.RawRecord;
import dev.sparkdpo.data.read.ReadCounters;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizedPair;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.io.AtomicOutput;
import dev.sparkdpo.io.HadoopConf;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.spark.Partitioner;
import org.apache.spark.SparkFiles;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * The ingest stage: preference files → normalized, validated, deduplicated (exact, conflicting, near), split and
 * optionally tokenized pairs in Parquet, with every dropped record in {@code quarantine/} and the counts in
 * {@code stats.json}. Output is committed atomically ({@link AtomicOutput}).
 *
 * <p>Data flow: one task per text file (Parquet through Spark's reader) parses and normalizes records; one shuffle
 * groups pairs by their order-free key, sorted by file and record, so exact duplicates (keep the first) and swapped
 * twins (drop all) are decided while streaming; the pairs and quarantine writes both read that one shuffle.
 */
public final class Ingest {
  private static final Logger LOG = LoggerFactory.getLogger(Ingest.class);
  private static final int TOKENIZE_BATCH = 256;
  private static final long BYTES_PER_PARTITION = 64L << 20;

  private Ingest() {}

  public static IngestStats run(SparkSession spark, IngestOptions opts) {
    long t0 = System.nanoTime();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    InputFiles.Listing listing = InputFiles.expand(opts.inputs(), spark.sparkContext().hadoopConfiguration());
    listing.skipped().forEach(f -> LOG.warn("skipping {}: not a supported input type", f));
    long inputBytes = listing.files().stream().mapToLong(InputFile::size).sum();
    LOG.info("ingest: {} input files ({} MB) → {}", listing.files().size(), inputBytes >> 20, opts.output());
    if (opts.tokenizer() != null) PairTokenizer.open(opts.tokenizer());   // fail fast on a bad tokenizer, on the driver

    AtomicOutput out = AtomicOutput.begin(opts.output(), opts.overwrite(), spark.sparkContext().hadoopConfiguration());
    Map<String, LongAccumulator> counters = new TreeMap<>();
    for (String name : List.of("records", "blank_lines", "byte_order_marks", "crlf_lines")) {
      counters.put(name, spark.sparkContext().longAccumulator("ingest." + name));
    }
    Broadcast<Map<String, String>> nearDups = null;
    try {
      // 1. parse + normalize + validate, then one shuffle by pair key, sorted by (file, record)
      int partitions = (int) Math.max(jsc.defaultParallelism(), Math.min(10_000, inputBytes / BYTES_PER_PARTITION + 1));
      JavaRDD<ParsedRecord> decided = parse(spark, jsc, listing.files(), opts, counters)
          .mapToPair(r -> new Tuple2<>(r.shuffleKey(), r.encode()))
          .repartitionAndSortWithinPartitions(new GroupPartitioner(partitions))
          .mapPartitions(DedupIterator::new);

      // 2. near-duplicates among the survivors (optional): a small map of losing id → kept id
      Map<String, String> losers = Map.of();
      if (opts.nearDupThreshold() > 0) {
        jsc.setJobDescription("ingest: near-duplicates (MinHash LSH, Jaccard >= " + opts.nearDupThreshold() + ")");
        StructType textSchema = new StructType().add(PairSchema.ID, DataTypes.StringType).add(PairSchema.PROMPT,
            DataTypes.StringType).add(PairSchema.CHOSEN, DataTypes.StringType).add(PairSchema.REJECTED, DataTypes.StringType);
        Dataset<Row> texts = spark.createDataFrame(decided.filter(ParsedRecord::isPair)
            .map(r -> RowFactory.create(r.id(), r.prompt(), r.chosen(), r.rejected())), textSchema);
        losers = NearDuplicates.find(texts, opts.nearDupThreshold(), opts.nearDupShingle(), opts.nearDupHashTables(),
            opts.seed()).collectAsList().stream().collect(Collectors.toMap(r -> r.getString(0), r -> r.getString(1)));
        LOG.info("ingest: {} near-duplicate pairs", losers.size());
      }
      nearDups = jsc.broadcast(losers);
      Broadcast<Map<String, String>> near = nearDups;

      // 3. pairs: split by id hash, tokenize (optional), write
      jsc.setJobDescription("ingest: parse, deduplicate and write pairs");
      long seed = opts.seed();
      double evalFraction = opts.evalFraction();
      JavaRDD<Row> pairRows = decided.filter(r -> r.isPair() && !near.value().containsKey(r.id()))
          .map(r -> RowFactory.create(r.id(), r.prompt(), r.chosen(), r.rejected(), r.format(), r.source(), r.record(),
              isEval(r.id(), seed, evalFraction) ? PairSchema.EVAL : PairSchema.TRAIN));
      StructType pairSchema = PairSchema.PAIRS;
      if (opts.tokenizer() != null) {
        pairRows = tokenize(jsc, pairRows, opts.tokenizer());
        pairSchema = PairSchema.TOKENIZED_PAIRS;
      }
      // one open file per split in each task instead of Spark's default sort by the partition column
      String writers = spark.conf().get("spark.sql.maxConcurrentOutputFileWriters", "0");
      spark.conf().set("spark.sql.maxConcurrentOutputFileWriters", "2");
      try {
        spark.createDataFrame(pairRows, pairSchema).write().mode(SaveMode.ErrorIfExists)
            .partitionBy(PairSchema.SPLIT).parquet(out.path("pairs"));
      } finally {
        spark.conf().set("spark.sql.maxConcurrentOutputFileWriters", writers);
      }
      LOG.info("ingest: pairs written ({} s)", seconds(t0));

      // 4. quarantine: bad records, conflicting pairs, duplicates
      jsc.setJobDescription("ingest: write quarantine");
      JavaRDD<Row> quarantineRows = decided
          .filter(r -> !r.isPair() || near.value().containsKey(r.id()))
          .map(r -> r.isPair() ? r.quarantined(QuarantineReason.NEAR_DUPLICATE, "near-duplicate (Jaccard >= "
              + opts.nearDupThreshold() + " of character shingles) of pair " + near.value().get(r.id())) : r)
          .map(r -> RowFactory.create(r.source(), r.record(), r.line() > 0 ? r.line() : null, r.reason(), r.detail(),
              r.raw()));
      spark.createDataFrame(quarantineRows, PairSchema.QUARANTINE).coalesce(Math.min(partitions, 8))
          .write().mode(SaveMode.ErrorIfExists).parquet(out.path("quarantine"));

      // 5. stats from what was written
      jsc.setJobDescription("ingest: stats");
      IngestStats stats = stats(spark, out, listing, counters, opts, t0);
      out.writeText("stats.json", stats.toJson());
      out.commit();
      LOG.info("ingest: {} records → {} pairs ({} train, {} eval), {} quarantined, in {} s ({} records/s) → {}",
          stats.inputRecords(), stats.outputPairs(), stats.trainPairs(), stats.evalPairs(), stats.quarantinedTotal(),
          String.format("%.1f", stats.elapsedSeconds()), String.format("%.0f", stats.recordsPerSecond()), out.target());
      return stats;
    } catch (RuntimeException e) {
      out.abort();
      throw e;
    } finally {
      if (nearDups != null) nearDups.destroy();
      jsc.setJobDescription(null);
    }
  }

  /** Parsed records of all files: text formats in one task per file, Parquet through Spark's reader. */
  static JavaRDD<ParsedRecord> parse(SparkSession spark, JavaSparkContext jsc, List<InputFile> files, IngestOptions opts,
      Map<String, LongAccumulator> acc) {
    RecordParser parser = new RecordParser(opts.format(), opts.formatOptions(), opts.maxChars(), opts.maxRecordBytes());
    HadoopConf conf = new HadoopConf(spark.sparkContext().hadoopConfiguration());
    List<InputFile> textFiles = files.stream().filter(f -> f.container() != InputFile.Container.PARQUET).toList();
    List<InputFile> parquetFiles = files.stream().filter(f -> f.container() == InputFile.Container.PARQUET).toList();
    LongAccumulator records = acc.get("records");

    JavaRDD<ParsedRecord> parsed = jsc.emptyRDD();
    if (!textFiles.isEmpty()) {
      LongAccumulator blank = acc.get("blank_lines");
      LongAccumulator bom = acc.get("byte_order_marks");
      LongAccumulator crlf = acc.get("crlf_lines");
      // the file list travels in the closure (Java serialization): Kryo, a common spark.serializer, cannot do records
      List<Integer> indexes = java.util.stream.IntStream.range(0, textFiles.size()).boxed().toList();
      parsed = jsc.parallelize(indexes, textFiles.size()).flatMap(i -> {
        ReadCounters counters = new ReadCounters();
        return new AtEnd<>(parser.parseFile(textFiles.get(i), conf.get(), counters), () -> {   // report once per file
          records.add(counters.records);
          blank.add(counters.blankLines);
          bom.add(counters.byteOrderMarks);
          crlf.add(counters.crlfLines);
        });
      });
    }
    // Parquet: one Spark read per distinct schema; the layout is detected from the schema, rows go through JSON
    Map<StructType, List<String>> bySchema = new LinkedHashMap<>();
    for (InputFile f : parquetFiles) {
      bySchema.computeIfAbsent(spark.read().parquet(f.path()).schema(), s -> new ArrayList<>()).add(f.path());
    }
    for (Map.Entry<StructType, List<String>> group : bySchema.entrySet()) {
      InputFormat format = opts.format() != null ? opts.format() : InputFormat.detect(schemaSample(group.getKey()));
      Column json = to_json(struct(col("*")), Map.of("ignoreNullFields", "false"));
      JavaRDD<ParsedRecord> rows = spark.read().parquet(group.getValue().toArray(String[]::new))
          .select(col("_metadata.file_path"), col("_metadata.row_index"), json)
          .toJavaRDD()
          .flatMap(r -> {
            records.add(1);
            JsonNode node = Json.MAPPER.readTree(r.getString(2));
            return parser.parseRecord(r.getString(0), RawRecord.ok(r.getLong(1) + 1, -1, node), format).iterator();
          });
      parsed = parsed.union(rows);
    }
    return parsed;
  }

  /** A record with the schema's field names (arrays as empty lists) for layout detection. */
  private static JsonNode schemaSample(StructType schema) {
    ObjectNode sample = Json.MAPPER.createObjectNode();
    for (StructField f : schema.fields()) {
      if (f.dataType() instanceof ArrayType) sample.putArray(f.name());
      else sample.put(f.name(), "");
    }
    return sample;
  }

  /** Eval membership from the pair id alone, so a pair stays in its split across runs and corpus growth. */
  static boolean isEval(String id, long seed, double fraction) {
    long h = Long.parseUnsignedLong(id.substring(0, 16), 16) ^ (seed * 0x9E3779B97F4A7C15L);
    h = (h ^ (h >>> 30)) * 0xBF58476D1CE4E5B9L;   // splitmix64 finalizer
    h = (h ^ (h >>> 27)) * 0x94D049BB133111EBL;
    h ^= h >>> 31;
    return (h >>> 11) * 0x1.0p-53 < fraction;
  }

  /** Sends every pair with the same pair key (and so its duplicates and swapped twins) to one partition. */
  static final class GroupPartitioner extends Partitioner {
    private final int partitions;

    GroupPartitioner(int partitions) {
      this.partitions = partitions;
    }

    @Override
    public int numPartitions() {
      return partitions;
    }

    @Override
    public int getPartition(Object key) {
      return Math.floorMod(ParsedRecord.groupOf((String) key).hashCode(), partitions);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof GroupPartitioner g && g.partitions == partitions;
    }

    @Override
    public int hashCode() {
      return partitions;
    }
  }

  /**
   * Streams a sorted shuffle partition group by group: a group whose pairs come in both orientations (chosen and
   * rejected swapped) is quarantined whole as conflicting; otherwise its first pair in (file, record) order is kept
   * and the rest are quarantined as exact duplicates. Bad records pass through.
   */
  static final class DedupIterator implements Iterator<ParsedRecord> {
    private final Iterator<Tuple2<String, byte[]>> in;
    private final ArrayList<ParsedRecord> group = new ArrayList<>();
    private final ArrayList<ParsedRecord> out = new ArrayList<>();
    private Tuple2<String, byte[]> lookahead;
    private int pos;

    DedupIterator(Iterator<Tuple2<String, byte[]>> in) {
      this.in = in;
    }

    @Override
    public boolean hasNext() {
      if (pos < out.size()) return true;
      out.clear();
      pos = 0;
      if (lookahead == null && in.hasNext()) lookahead = in.next();
      if (lookahead == null) return false;
      String key = ParsedRecord.groupOf(lookahead._1());
      group.clear();
      while (lookahead != null && ParsedRecord.groupOf(lookahead._1()).equals(key)) {
        group.add(ParsedRecord.decode(lookahead._2()));
        lookahead = in.hasNext() ? in.next() : null;
      }
      decide();
      return true;
    }

    private void decide() {
      ParsedRecord first = group.get(0);
      if (group.size() == 1 || !first.isPair()) {
        out.addAll(group);
        return;
      }
      boolean conflicting = group.stream().anyMatch(r -> r.swapped() != first.swapped());
      for (int i = 0; i < group.size(); i++) {
        ParsedRecord r = group.get(i);
        if (conflicting) {
          out.add(r.quarantined(QuarantineReason.CONFLICTING_PREFERENCE, "the same prompt and responses also appear "
              + "with chosen and rejected swapped (" + group.size() + " copies); all copies dropped"));
        } else if (i == 0) {
          out.add(r);
        } else {
          out.add(r.quarantined(QuarantineReason.EXACT_DUPLICATE, "same prompt, chosen and rejected as record "
              + first.record() + " of " + first.source() + " (kept)"));
        }
      }
    }

    @Override
    public ParsedRecord next() {
      if (!hasNext()) throw new NoSuchElementException();
      return out.get(pos++);
    }
  }

  /** Adds the token columns of {@link PairSchema#TOKENIZED_PAIRS}; the tokenizer loads once per executor JVM. */
  static JavaRDD<Row> tokenize(JavaSparkContext jsc, JavaRDD<Row> pairs, TokenizerSpec spec) {
    Path local = Path.of(spec.path());
    jsc.sc().addFile(spec.path(), Files.isDirectory(local));
    String shippedName = local.getFileName().toString();
    return pairs.mapPartitions(it -> {
      TokenizerSpec s = Files.exists(Path.of(spec.path())) ? spec
          : new TokenizerSpec(SparkFiles.get(shippedName), spec.maxLength(), spec.maxPromptLength(), spec.truncation(),
              spec.appendEos());
      return new TokenizingIterator(it, PairTokenizer.open(s));
    });
  }

  /** Tokenizes rows of {@link PairSchema#PAIRS} in batches into rows of {@link PairSchema#TOKENIZED_PAIRS}. */
  private static final class TokenizingIterator implements Iterator<Row> {
    private final Iterator<Row> in;
    private final PairTokenizer tok;
    private final List<Row> batch = new ArrayList<>(TOKENIZE_BATCH);
    private final List<Row> ready = new ArrayList<>(TOKENIZE_BATCH);
    private int pos;

    TokenizingIterator(Iterator<Row> in, PairTokenizer tok) {
      this.in = in;
      this.tok = tok;
    }

    @Override
    public boolean hasNext() {
      if (pos < ready.size()) return true;
      ready.clear();
      pos = 0;
      batch.clear();
      while (batch.size() < TOKENIZE_BATCH && in.hasNext()) batch.add(in.next());
      if (batch.isEmpty()) return false;
      int n = batch.size();
      String[] p = new String[n];
      String[] c = new String[n];
      String[] r = new String[n];
      for (int i = 0; i < n; i++) {
        Row row = batch.get(i);
        p[i] = row.getString(1);
        c[i] = row.getString(2);
        r[i] = row.getString(3);
      }
      TokenizedPair[] t = tok.encodeBatch(p, c, r);
      for (int i = 0; i < n; i++) {
        Row row = batch.get(i);
        ready.add(RowFactory.create(row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5), row.get(6),
            t[i].promptIds(), t[i].chosenIds(), t[i].rejectedIds(), t[i].promptIds().length, t[i].chosenIds().length,
            t[i].rejectedIds().length, t[i].promptTruncated(), t[i].responseTruncated(), row.get(7)));
      }
      return true;
    }

    @Override
    public Row next() {
      if (!hasNext()) throw new NoSuchElementException();
      return ready.get(pos++);
    }
  }

  /** Runs {@code atEnd} once when the wrapped iterator is exhausted. */
  private static final class AtEnd<T> implements Iterator<T> {
    private final Iterator<T> in;
    private Runnable atEnd;

    AtEnd(Iterator<T> in, Runnable atEnd) {
      this.in = in;
      this.atEnd = atEnd;
    }

    @Override
    public boolean hasNext() {
      boolean more = in.hasNext();
      if (!more && atEnd != null) {
        atEnd.run();
        atEnd = null;
      }
      return more;
    }

    @Override
    public T next() {
      return in.next();
    }
  }

  private static IngestStats stats(SparkSession spark, AtomicOutput out, InputFiles.Listing listing,
      Map<String, LongAccumulator> acc, IngestOptions opts, long t0) {
    Dataset<Row> written = spark.read().parquet(out.path("pairs"));
    Map<String, Long> splits = counts(written.groupBy(PairSchema.SPLIT).count());
    Map<String, Long> formats = counts(written.groupBy(PairSchema.FORMAT).count());
    Map<String, Long> quarantined = counts(spark.read().parquet(out.path("quarantine")).groupBy(PairSchema.REASON).count());
    Map<String, Long> dups = new TreeMap<>();
    dups.put("exact", quarantined.getOrDefault(QuarantineReason.EXACT_DUPLICATE.code(), 0L));
    dups.put("near", quarantined.getOrDefault(QuarantineReason.NEAR_DUPLICATE.code(), 0L));
    dups.put("conflicting", quarantined.getOrDefault(QuarantineReason.CONFLICTING_PREFERENCE.code(), 0L));
    Map<String, Long> repaired = new TreeMap<>();
    acc.forEach((k, v) -> {
      if (!k.equals("records")) repaired.put(k, v.value());
    });

    Map<String, Object> tokenization = null;
    if (opts.tokenizer() != null) {
      Column longer = greatest(col(PairSchema.CHOSEN_LEN), col(PairSchema.REJECTED_LEN));
      Row t = written.agg(
          coalesce(sum(col(PairSchema.PROMPT_TRUNCATED).cast("long")), lit(0L)),
          coalesce(sum(col(PairSchema.RESPONSE_TRUNCATED).cast("long")), lit(0L)),
          coalesce(avg(col(PairSchema.PROMPT_LEN)), lit(0.0)),
          coalesce(avg(longer), lit(0.0)),
          coalesce(max(col(PairSchema.PROMPT_LEN).plus(longer)), lit(0))).first();
      tokenization = new LinkedHashMap<>();
      tokenization.put("tokenizer", opts.tokenizer().path());
      tokenization.put("max_length", opts.tokenizer().maxLength());
      tokenization.put("max_prompt_length", opts.tokenizer().maxPromptLength());
      tokenization.put("truncation", opts.tokenizer().truncation().name().toLowerCase());
      tokenization.put("append_eos", opts.tokenizer().appendEos());
      tokenization.put("prompts_truncated", t.getLong(0));
      tokenization.put("responses_truncated", t.getLong(1));
      tokenization.put("mean_prompt_tokens", t.getDouble(2));
      tokenization.put("mean_longer_response_tokens", t.getDouble(3));
      tokenization.put("max_sequence_tokens", t.getInt(4));
    }
    Map<String, Object> options = new LinkedHashMap<>();
    options.put("inputs", opts.inputs());
    options.put("format", opts.format() == null ? "auto" : opts.format().code());
    options.put("max_chars", opts.maxChars());
    options.put("near_dup_threshold", opts.nearDupThreshold());
    options.put("eval_fraction", opts.evalFraction());
    options.put("seed", opts.seed());
    options.put("ranked_all_pairs", opts.formatOptions().rankedAllPairs());
    options.put("min_score_gap", opts.formatOptions().minScoreGap());
    options.put("min_score_ratio", opts.formatOptions().minScoreRatio());

    long train = splits.getOrDefault(PairSchema.TRAIN, 0L);
    long eval = splits.getOrDefault(PairSchema.EVAL, 0L);
    long records = acc.get("records").value();
    double elapsed = seconds(t0);
    return new IngestStats(listing.files().size(), listing.skipped(), records, train + eval, train, eval,
        quarantined, dups, formats, repaired, tokenization, options, elapsed, records / elapsed);
  }

  private static double seconds(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

  private static Map<String, Long> counts(Dataset<Row> grouped) {
    return grouped.collectAsList().stream()
        .collect(Collectors.toMap(r -> r.getString(0), r -> r.getLong(1), Long::sum, TreeMap::new));
  }
}
