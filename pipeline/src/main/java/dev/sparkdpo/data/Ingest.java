package dev.sparkdpo.data;

import dev.sparkdpo.data.read.InputFile;
import dev.sparkdpo.data.read.InputFiles;
import dev.sparkdpo.data.read.ReadCounters;
import dev.sparkdpo.data.tokenize.PairTokenizer;
import dev.sparkdpo.data.tokenize.TokenizedPair;
import dev.sparkdpo.data.tokenize.TokenizerFiles;
import dev.sparkdpo.data.tokenize.TokenizerSpec;
import dev.sparkdpo.io.StageOutput;
import dev.sparkdpo.io.HadoopConf;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.TreeMap;
import java.util.function.Function;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.spark.HashPartitioner;
import org.apache.spark.Partitioner;
import org.apache.spark.SparkFiles;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.util.CollectionAccumulator;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.unsafe.types.UTF8String;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.Tuple2;

/**
 * The ingest stage: preference files → normalized, validated, deduplicated (exact, conflicting, near), split and
 * optionally tokenized pairs in Parquet, with every dropped record in {@code quarantine/} and the counts in
 * {@code stats.json}. Output follows the stage-output protocol ({@link StageOutput}).
 *
 * <p>Data flow (one task per input file in every scan; the text never crosses the network):
 * <ol>
 *   <li>scan 1 parses every file and shuffles only a small marker per pair (file, record, orientation, id) keyed by
 *       the order-free pair key; groups of two or more become a per-file <em>drop list</em>: exact duplicates after
 *       the first in input order, and every copy of a pair that also appears with chosen/rejected swapped;</li>
 *   <li>(optional) near-duplicates among the survivors by banded MinHash LSH, verified on exact Jaccard: one scan
 *       of the survivors for the signatures, then a scan that parses only the records of the candidate pairs (their
 *       positions, file and record, ride through the band shuffle);</li>
 *   <li>scan 2 parses each file again beside its drop list and writes the surviving pairs (split, tokenized);</li>
 *   <li>scan 3 does the same for what was dropped and writes {@code quarantine/}.</li>
 * </ol>
 * Parsing is cheap next to moving the text through a shuffle, so reading the input three times is the faster plan.
 */
public final class Ingest {
  private static final Logger LOG = LoggerFactory.getLogger(Ingest.class);
  private static final int TOKENIZE_BATCH = 256;

  private Ingest() {}

  /** Drop-list entries that only say "record N is bad" (so scan 3 parses it) start with this. */
  private static final String BAD = "#";
  /** The value of a {@link #BAD} entry where the file stops being readable (see {@link RescanCheck}). */
  private static final String UNREADABLE = "unreadable";

  /** Why a pair that parsed fine is dropped anyway; shuffled as one string (Kryo cannot serialize records). */
  record Drop(QuarantineReason reason, String detail) {
    String encode() {
      return reason.name() + '\u0000' + detail;
    }

    static Drop decode(String s) {
      int cut = s.indexOf('\u0000');
      return new Drop(QuarantineReason.valueOf(s.substring(0, cut)), s.substring(cut + 1));
    }
  }

  public static IngestStats run(SparkSession spark, IngestOptions opts) {
    long t0 = System.nanoTime();
    JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    InputFiles.Listing listing = InputFiles.expand(opts.inputs(), spark.sparkContext().hadoopConfiguration());
    listing.skipped().stream().limit(IngestStats.EXAMPLES).forEach(f -> LOG.warn("skipping {}: {}", f.path(), f.why()));
    if (listing.skipped().size() > IngestStats.EXAMPLES) {
      LOG.warn("skipping {} more files and symlinks in the input directories ({} in all: stats.json skipped_files, "
          + "skipped_symlinks)", listing.skipped().size() - IngestStats.EXAMPLES, listing.skipped().size());
    }
    List<InputFile> files = listing.files();
    LOG.info("ingest: {} input files ({} MB) → {}", files.size(),
        files.stream().mapToLong(InputFile::size).sum() >> 20, opts.output());
    if (opts.tokenizer() != null) PairTokenizer.open(opts.tokenizer());   // fail fast on a bad tokenizer, on the driver

    StageOutput out = StageOutput.open("ingest", "--output", opts.output(),
        opts.inputs().stream().map(i -> new StageOutput.Input("--input", i)).toList(),
        spark.sparkContext().hadoopConfiguration());
    try {
      if (out.existing() != null && !opts.overwrite()) {
        throw new IllegalArgumentException("--output " + StageOutput.show(out.target()) + " already holds an ingest output (written "
            + out.existing().created() + "): pass --overwrite to replace it (the old one stays until the new one is"
            + " complete), or choose another --output");
      }
      out.begin(fingerprint(opts, files));
    } catch (RuntimeException e) {
      out.close();
      throw e;
    }
    Counts counts = new Counts();
    spark.sparkContext().register(counts, "ingest");
    Scanner scanner = new Scanner(files, new RecordParser(opts.format(), opts.formatOptions(), opts.maxChars(),
        opts.maxRecordBytes()), new HadoopConf(spark.sparkContext().hadoopConfiguration()));
    JavaRDD<Integer> fileIndexes = jsc.parallelize(IntStream.range(0, files.size()).boxed().toList(), files.size());
    JavaPairRDD<Integer, Iterable<Tuple2<String, String>>> drops = null;
    Broadcast<Map<String, String>> nearDups = null;
    try {
      // 1. scan 1: markers → per-file drop lists (exact duplicates, conflicting pairs)
      jsc.setJobDescription("ingest 1/3: parse " + files.size() + " files, find duplicates and conflicts");
      // computed by the first scan that needs it (the pairs write, or near-duplicates), then reused
      drops = dropLists(fileIndexes, scanner, files.size()).persist(StorageLevel.MEMORY_AND_DISK());

      // 2. near-duplicates among the survivors (optional): losing id → kept id
      Map<String, String> losers = Map.of();
      if (opts.nearDupThreshold() > 0) {
        jsc.setJobDescription("ingest: near-duplicates (banded MinHash LSH, Jaccard >= " + opts.nearDupThreshold() + ")");
        if (opts.nearDupHashTables() != 0) {
          LOG.warn("ingest: --near-dup-hash-tables / ingest.near-dup-hash-tables is deprecated and ignored: the bands "
              + "of the near-duplicate check follow from --near-dup-threshold");
        }
        StructType textSchema = new StructType().add(PairSchema.ID, DataTypes.StringType).add(PairSchema.PROMPT,
            DataTypes.StringType).add(PairSchema.CHOSEN, DataTypes.StringType).add(PairSchema.REJECTED, DataTypes.StringType)
            .add(NearDuplicates.POSITION, DataTypes.LongType);
        JavaPairRDD<Integer, Iterable<Tuple2<String, String>>> dropLists = drops;
        JavaRDD<Row> texts = scanWithDrops(fileIndexes, drops, scanner, Map.of(), null, true, null, null)
            .map(Ingest::textRow);
        // the verification's texts: the survivors of the candidates' records only (the same drop lists, so the same
        // pairs as the full scan has there). Measured at 1M pairs: parsing every record again took 5.0 s
        NearDuplicates.Reread candidatesOnly = positions -> spark.createDataFrame(scanWithDrops(fileIndexes, dropLists,
            scanner, Map.of(), byFile(positions), true, null, null).map(Ingest::textRow), textSchema);
        // losing id → "kept id: Jaccard s", the detail's tail; only the losers reach the driver
        losers = NearDuplicates.find(spark.createDataFrame(texts, textSchema), opts.nearDupThreshold(),
                opts.nearDupShingle(), opts.seed(), candidatesOnly)
            .collectAsList().stream().collect(Collectors.toMap(r -> r.getString(0),
                r -> r.getString(1) + " (Jaccard " + String.format(Locale.ROOT, "%.3f", r.getDouble(2)) + ")"));
        LOG.info("ingest: {} near-duplicate pairs ({} s)", losers.size(), String.format("%.1f", seconds(t0)));
      }
      nearDups = jsc.broadcast(losers);

      // 3. scan 2: surviving pairs → split, tokenize (optional), write
      jsc.setJobDescription("ingest 2/3: write pairs");
      long seed = opts.seed();
      double evalFraction = opts.evalFraction();
      // where the near-duplicate losers are (file, record), noted as scan 2 passes them, so scan 3 parses only them
      CollectionAccumulator<Long> nearSeen = spark.sparkContext().collectionAccumulator("near-duplicate positions");
      JavaRDD<Scanned> kept = scanWithDrops(fileIndexes, drops, scanner, nearDups.value(), null, true, null,
          losers.isEmpty() ? null : nearSeen);
      JavaRDD<InternalRow> pairRows;
      StructType pairSchema;
      if (opts.tokenizer() == null) {
        pairRows = kept.map(k -> {
          UTF8String split = split(k.record().id(), seed, evalFraction);
          counts.add("split." + split);
          counts.add("format." + k.record().format());
          return PairRows.pair(k.record(), k.source(), split);
        });
        pairSchema = PairSchema.PAIRS;
      } else {
        pairRows = tokenize(jsc, kept, opts.tokenizer(), seed, evalFraction, counts);
        pairSchema = PairSchema.TOKENIZED_PAIRS;
      }
      LOG.info("ingest: writing pairs ({} s)", String.format("%.1f", seconds(t0)));
      writePairs(spark, pairRows, pairSchema, out.path("pairs"));
      if (counts.get("split." + PairSchema.TRAIN) + counts.get("split." + PairSchema.EVAL) == 0) {
        writeEmptyPairs(spark, pairSchema, out.path("pairs"));
      }
      LOG.info("ingest: pairs written ({} s)", String.format("%.1f", seconds(t0)));

      // 4. scan 3: bad records, duplicates, conflicts and near-duplicates → quarantine
      jsc.setJobDescription("ingest 3/3: write quarantine");
      double threshold = opts.nearDupThreshold();
      Broadcast<Map<String, String>> near = nearDups;
      Map<Integer, long[]> nearAt = nearPositions(nearSeen.value(), losers.size());
      JavaRDD<Row> quarantineRows = scanWithDrops(fileIndexes, drops, scanner, near.value(), nearAt, false, counts,
              null)
          .map(k -> {
            ParsedRecord r = k.record();
            if (k.drop() != null) r = r.quarantined(k.drop().reason(), k.drop().detail());
            else if (r.isPair()) {
              r = r.quarantined(QuarantineReason.NEAR_DUPLICATE, "near-duplicate (Jaccard >= " + threshold
                  + " of character shingles, banded MinHash LSH) of pair " + near.value().get(r.id()));
            }
            counts.add("quarantined." + r.reason());
            return RowFactory.create(r.source(), r.record(), r.line() > 0 ? r.line() : null, r.reason(), r.detail(),
                r.raw());
          });
      spark.createDataFrame(quarantineRows, PairSchema.QUARANTINE).coalesce(Math.min(files.size(), 8))
          .write().mode(SaveMode.ErrorIfExists).parquet(out.path("quarantine"));

      // 5. stats from what was written
      jsc.setJobDescription("ingest: stats");
      IngestStats stats = stats(listing, counts, opts, t0);
      out.writeText("stats.json", stats.toJson());
      out.commit();
      LOG.info("ingest: {} records → {} pairs ({} train, {} eval), {} quarantined, in {} s ({} records/s) → {}",
          stats.inputRecords(), stats.outputPairs(), stats.trainPairs(), stats.evalPairs(), stats.quarantinedTotal(),
          String.format("%.1f", stats.elapsedSeconds()), String.format("%.0f", stats.recordsPerSecond()), out.target());
      return stats;
    } finally {
      out.close();   // releases the lock; after any failure (checked SparkExceptions included) removes the temp dir
      if (drops != null) drops.unpersist();
      if (nearDups != null) nearDups.destroy();
      jsc.setJobDescription(null);
    }
  }

  /** Reads input files by index; serializable, shipped to every scan's tasks (records never go through Kryo). */
  static final class Scanner implements Serializable {
    private final List<InputFile> files;
    private final RecordParser parser;
    private final HadoopConf conf;

    Scanner(List<InputFile> files, RecordParser parser, HadoopConf conf) {
      this.files = files;
      this.parser = parser;
      this.conf = conf;
    }

    Iterator<ParsedRecord> scan(int file, ReadCounters counters, java.util.function.LongPredicate wanted) {
      return parser.parseFile(files.get(file), conf.get(), counters, wanted);
    }

    String path(int file) {
      return files.get(file).path();
    }
  }

  /** A record of scan 2 or 3 with its file's index and path (as Spark's string type) and its drop decision, if any. */
  record Scanned(ParsedRecord record, int file, UTF8String source, Drop drop) {}

  /** A surviving pair as NearDuplicates reads it: id, prompt, chosen, rejected and its {@link #nearPosition}. */
  private static Row textRow(Scanned k) {
    ParsedRecord r = k.record();
    return RowFactory.create(r.id(), r.prompt(), r.chosen(), r.rejected(), nearPosition(k.file(), r.record()));
  }

  /** Scan 1: the drop list of each file, as one partition per file (partition i = file i). */
  static JavaPairRDD<Integer, Iterable<Tuple2<String, String>>> dropLists(JavaRDD<Integer> fileIndexes, Scanner scanner,
      int files) {
    return fileIndexes
        .flatMapToPair(i -> new Mapped<>(scanner.scan(i, new ReadCounters(), null),
            r -> new Tuple2<>(Markers.shuffleKey(r, i), Markers.of(r, i))))
        .partitionBy(new HashPartitioner(Math.max(1, Math.min(files, jscParallelism(fileIndexes)))))
        .mapPartitionsToPair(markers -> groups(markers, scanner).iterator())
        .groupByKey(new FilePartitioner(files));
  }

  /**
   * The drop-list entries of one partition of markers. Almost every key is unique, so the keys are sorted as a
   * primitive array to find the few repeated ones, and only those are grouped (a Spark sort by boxed keys, or a hash
   * map of every marker, cost more than the parse that made them).
   */
  static List<Tuple2<Integer, Tuple2<String, String>>> groups(Iterator<Tuple2<Long, long[]>> in, Scanner scanner) {
    List<Tuple2<Long, long[]>> all = new ArrayList<>();
    in.forEachRemaining(all::add);
    long[] keys = new long[all.size()];
    for (int i = 0; i < keys.length; i++) keys[i] = all.get(i)._1();
    java.util.Arrays.sort(keys);
    java.util.Set<Long> repeated = new java.util.HashSet<>();
    for (int i = 1; i < keys.length; i++) if (keys[i] == keys[i - 1]) repeated.add(keys[i]);
    Map<Long, List<long[]>> groups = new HashMap<>();
    List<Tuple2<Integer, Tuple2<String, String>>> out = new ArrayList<>();
    for (Tuple2<Long, long[]> t : all) {
      if (repeated.contains(t._1())) groups.computeIfAbsent(t._1(), k -> new ArrayList<>()).add(t._2());
      else if (Markers.isBad(t._2())) out.addAll(decide(List.of(t._2()), scanner));
    }
    for (List<long[]> g : groups.values()) out.addAll(decide(g, scanner));
    return out;
  }

  private static int jscParallelism(JavaRDD<?> rdd) {
    return rdd.context().defaultParallelism() * 2;
  }

  /**
   * The drops of the pairs sharing a 64-bit shuffle key (split by their full pair key): none for a unique pair; all
   * copies when the pair appears in both orientations; otherwise every copy after the first in input order.
   */
  static List<Tuple2<Integer, Tuple2<String, String>>> decide(List<long[]> markers, Scanner scanner) {
    if (markers.size() == 1 && !Markers.isBad(markers.get(0))) return List.of();   // the common case: a unique pair
    List<long[]> all = new ArrayList<>();
    List<Tuple2<Integer, Tuple2<String, String>>> out = new ArrayList<>();
    for (long[] m : markers) {
      if (!Markers.isBad(m)) all.add(m);
      else out.add(new Tuple2<>(Markers.file(m), new Tuple2<>(BAD + Markers.record(m),
          Markers.unreadable(m) ? UNREADABLE : "")));
    }
    all.sort(Markers.ORDER);                               // by full key, then input order (file index, record)
    for (int start = 0, end; start < all.size(); start = end) {
      end = start + 1;
      while (end < all.size() && Markers.sameKey(all.get(end), all.get(start))) end++;
      List<long[]> group = all.subList(start, end);
      if (group.size() < 2) continue;
      long[] first = group.get(0);
      boolean conflicting = group.stream().anyMatch(m -> Markers.swapped(m) != Markers.swapped(first));
      for (int i = conflicting ? 0 : 1; i < group.size(); i++) {
        long[] m = group.get(i);
        Drop d = conflicting
            ? new Drop(QuarantineReason.CONFLICTING_PREFERENCE, "the same prompt and responses also appear with "
                + "chosen and rejected swapped (" + group.size() + " copies); all copies dropped")
            : new Drop(QuarantineReason.EXACT_DUPLICATE, "same prompt, chosen and rejected as record "
                + Markers.record(first) + " of " + scanner.path(Markers.file(first)) + " (kept)");
        out.add(new Tuple2<>(Markers.file(m), new Tuple2<>(Markers.position(m), d.encode())));
      }
    }
    return out;
  }

  /**
   * Scans 2 and 3: each file beside its drop list. {@code keptPairs}: the pairs that survive (not dropped, not a
   * near-duplicate loser); otherwise: everything else (bad records, dropped pairs, near-duplicate losers).
   * {@code nearAt}: records to parse per file (null: every record, or for scan 3 without near-duplicates the listed
   * ones): for scan 3 the near-duplicate losers', beside the records its drop list names; for a kept-pairs scan only
   * these (the near-duplicate candidates' re-read: a kept pair is never on the drop list). Other containers than
   * JSON Lines parse every record anyway, so the caller still filters what comes back.
   * {@code readCounts} (only from a result stage, where updates count once) receives the per-file read counters.
   */
  static JavaRDD<Scanned> scanWithDrops(JavaRDD<Integer> fileIndexes,
      JavaPairRDD<Integer, Iterable<Tuple2<String, String>>> drops, Scanner scanner, Map<String, String> nearLosers,
      Map<Integer, long[]> nearAt, boolean keptPairs, Counts readCounts, CollectionAccumulator<Long> nearSeen) {
    return fileIndexes.zipPartitions(drops, (fileIt, dropIt) -> {
      if (!fileIt.hasNext()) return Collections.emptyIterator();
      int file = fileIt.next();
      // the near-duplicate candidates' re-read has nothing to take from a file without candidates
      if (keptPairs && nearAt != null && !nearAt.containsKey(file)) return Collections.emptyIterator();
      Map<String, Drop> fileDrops = new HashMap<>();
      List<Long> listed = new ArrayList<>();                  // records scan 3 must parse: bad or dropped
      long[] unreadableAt = {-1};
      dropIt.forEachRemaining(d -> d._2().forEach(t -> {
        if (t._1().startsWith(BAD)) {
          listed.add(Long.parseLong(t._1().substring(BAD.length())));
          if (t._2().equals(UNREADABLE)) unreadableAt[0] = listed.get(listed.size() - 1);
        } else {
          fileDrops.put(t._1(), Drop.decode(t._2()));
          listed.add(Long.parseLong(t._1().substring(0, t._1().indexOf(':'))));
        }
      }));
      UTF8String source = UTF8String.fromString(scanner.path(file));
      ReadCounters counters = new ReadCounters();
      // scan 3 knows every record it will emit when it knows where the near-duplicate losers are (nearAt): the rest
      // is only counted, not parsed. Measured at 1M pairs: 3.9 s parsing every record against 1.4 s without.
      long[] near = nearAt == null ? new long[0] : nearAt.getOrDefault(file, new long[0]);
      long[] wantedRecords = java.util.stream.LongStream.concat(keptPairs ? java.util.stream.LongStream.empty()
          : listed.stream().mapToLong(Long::longValue), java.util.Arrays.stream(near)).sorted().toArray();
      java.util.function.LongPredicate wanted = nearAt == null && (keptPairs || !nearLosers.isEmpty()) ? null
          : record -> java.util.Arrays.binarySearch(wantedRecords, record) >= 0;
      Iterator<ParsedRecord> records = new RescanCheck(scanner.scan(file, counters, wanted), scanner.path(file),
          unreadableAt[0]);
      if (readCounts != null) {
        records = new AtEnd<>(records, () -> {   // once per file
          readCounts.add("read.records", counters.records);
          readCounts.add("repaired.blank_lines", counters.blankLines);
          readCounts.add("repaired.byte_order_marks", counters.byteOrderMarks);
          readCounts.add("repaired.crlf_lines", counters.crlfLines);
        });
      }
      Predicate<ParsedRecord> survives = r -> {
        if (!r.isPair() || !fileDrops.isEmpty() && fileDrops.containsKey(Markers.position(r))) return false;
        if (!nearLosers.containsKey(r.id())) return true;
        if (nearSeen != null) nearSeen.add(nearPosition(file, r.record()));
        return false;
      };
      return new Mapped<>(new Filtered<>(records, keptPairs ? survives : survives.negate()),
          // a kept pair has no drop: look it up only for the (few) pairs scan 3 writes
          r -> new Scanned(r, file, source, keptPairs || !r.isPair() ? null : fileDrops.get(Markers.position(r))));
    });
  }

  /**
   * A record's place as one long (a near-duplicate candidate's or loser's): the file index in the top 24 bits, the
   * record below.
   */
  static long nearPosition(int file, long record) {
    return (long) file << 40 | record;
  }

  /**
   * The near-duplicate losers' records per file, from the positions scan 2 noted; null (scan 3 then parses every
   * record and matches ids) unless there is one position per loser, e.g. after a task's updates were lost.
   */
  static Map<Integer, long[]> nearPositions(List<Long> seen, int losers) {
    long[] distinct = seen.stream().mapToLong(Long::longValue).sorted().distinct().toArray();
    if (losers == 0 || distinct.length < losers) return null;
    return byFile(distinct);
  }

  /** Sorted distinct {@link #nearPosition}s as the records they name, per file. */
  static Map<Integer, long[]> byFile(long[] distinct) {
    Map<Integer, long[]> byFile = new HashMap<>();
    for (int start = 0, end; start < distinct.length; start = end) {
      int file = (int) (distinct[start] >>> 40);
      end = start;
      while (end < distinct.length && (int) (distinct[end] >>> 40) == file) end++;
      byFile.put(file, java.util.Arrays.stream(distinct, start, end).map(p -> p & ((1L << 40) - 1)).toArray());
    }
    return byFile;
  }

  /** Partition i holds the drop list of file i, so it zips with the scan of file i. */
  static final class FilePartitioner extends Partitioner {
    private final int files;

    FilePartitioner(int files) {
      this.files = files;
    }

    @Override
    public int numPartitions() {
      return files;
    }

    @Override
    public int getPartition(Object key) {
      return (Integer) key;
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof FilePartitioner p && p.files == files;
    }

    @Override
    public int hashCode() {
      return files;
    }
  }

  private static void writePairs(SparkSession spark, JavaRDD<InternalRow> rows, StructType schema, String path) {
    // one open file per split in each task instead of a sort by the partition column: the sort (planned by default
    // since Spark 3.4) copied every row into an UnsafeRow and took half of the write stage
    String writers = spark.conf().get("spark.sql.maxConcurrentOutputFileWriters", "0");
    String planned = spark.conf().get("spark.sql.optimizer.plannedWrite.enabled", "true");
    // (more than the two splits: at the limit Spark's concurrent writer falls back to sorting the rest)
    spark.conf().set("spark.sql.maxConcurrentOutputFileWriters", "4");
    spark.conf().set("spark.sql.optimizer.plannedWrite.enabled", "false");
    try {
      // internalCreateDataFrame: Spark's own entry for rows already in its format (private[sql], public in bytecode)
      spark.internalCreateDataFrame(rows.rdd(), schema, false).write().mode(SaveMode.ErrorIfExists)
          // free text never repeats enough for a dictionary: skip the attempt (a measurable cost)
          .option("parquet.enable.dictionary#" + PairSchema.PROMPT, "false")
          .option("parquet.enable.dictionary#" + PairSchema.CHOSEN, "false")
          .option("parquet.enable.dictionary#" + PairSchema.REJECTED, "false")
          .option("parquet.enable.dictionary#" + PairSchema.ID, "false")
          .partitionBy(PairSchema.SPLIT).parquet(path);
    } finally {
      spark.conf().set("spark.sql.maxConcurrentOutputFileWriters", writers);
      spark.conf().set("spark.sql.optimizer.plannedWrite.enabled", planned);
    }
  }

  /**
   * Spark writes no file for an empty partitioned output: leaves one empty file under split=train in {@code pairs} so
   * that readers see the schema.
   */
  public static void writeEmptyPairs(SparkSession spark, StructType pairSchema, String pairs) {
    StructType withoutSplit = new StructType(java.util.Arrays.stream(pairSchema.fields())
        .filter(f -> !f.name().equals(PairSchema.SPLIT)).toArray(org.apache.spark.sql.types.StructField[]::new));
    spark.createDataFrame(List.of(), withoutSplit).coalesce(1).write()
        .parquet(pairs + "/" + PairSchema.SPLIT + "=" + PairSchema.TRAIN);
  }

  static UTF8String split(String id, long seed, double evalFraction) {
    return isEval(id, seed, evalFraction) ? PairRows.EVAL : PairRows.TRAIN;
  }

  /**
   * Eval membership from the pair id alone (32 hex digits; the first 16 are used), so a pair stays in its split across
   * runs and corpus growth.
   */
  public static boolean isEval(String id, long seed, double fraction) {
    long h = Long.parseUnsignedLong(id.substring(0, 16), 16) ^ (seed * 0x9E3779B97F4A7C15L);
    h = (h ^ (h >>> 30)) * 0xBF58476D1CE4E5B9L;   // splitmix64 finalizer
    h = (h ^ (h >>> 27)) * 0x94D049BB133111EBL;
    h ^= h >>> 31;
    return (h >>> 11) * 0x1.0p-53 < fraction;
  }

  /** Rows of {@link PairSchema#TOKENIZED_PAIRS}; the tokenizer loads once per executor JVM. */
  static JavaRDD<InternalRow> tokenize(JavaSparkContext jsc, JavaRDD<Scanned> kept, TokenizerSpec spec, long seed,
      double evalFraction, Counts counts) {
    // the tokenizer's bytes travel with the job, so that executors need not see the driver's path and every one
    // tokenizes with the same files (tokenizer.json and the files beside it that name the EOS)
    Broadcast<TokenizerFiles.Bundle> bundle = jsc.broadcast(TokenizerFiles.bundle(spec.path()));
    return kept.mapPartitions(it -> {
      Path dir = bundle.value().materialize(Path.of(SparkFiles.getRootDirectory()));
      TokenizerSpec s = new TokenizerSpec(dir.toString(), spec.maxLength(), spec.maxPromptLength(), spec.truncation(),
          spec.appendEos());
      return new TokenizingIterator(it, PairTokenizer.open(s), seed, evalFraction, counts);
    });
  }

  /** Tokenizes pairs in batches (DJL batch encode) into rows of {@link PairSchema#TOKENIZED_PAIRS}. */
  private static final class TokenizingIterator implements Iterator<InternalRow> {
    private final Iterator<Scanned> in;
    private final PairTokenizer tok;
    private final long seed;
    private final double evalFraction;
    private final Counts counts;
    private final List<InternalRow> ready = new ArrayList<>(TOKENIZE_BATCH);
    private int pos;

    TokenizingIterator(Iterator<Scanned> in, PairTokenizer tok, long seed, double evalFraction, Counts counts) {
      this.in = in;
      this.tok = tok;
      this.seed = seed;
      this.evalFraction = evalFraction;
      this.counts = counts;
    }

    @Override
    public boolean hasNext() {
      if (pos < ready.size()) return true;
      ready.clear();
      pos = 0;
      List<Scanned> batch = new ArrayList<>(TOKENIZE_BATCH);
      while (batch.size() < TOKENIZE_BATCH && in.hasNext()) batch.add(in.next());
      if (batch.isEmpty()) return false;
      int n = batch.size();
      String[] p = new String[n];
      String[] c = new String[n];
      String[] r = new String[n];
      for (int i = 0; i < n; i++) {
        ParsedRecord rec = batch.get(i).record();
        p[i] = rec.prompt();
        c[i] = rec.chosen();
        r[i] = rec.rejected();
      }
      TokenizedPair[] t = tok.encodeBatch(p, c, r);
      for (int i = 0; i < n; i++) {
        Scanned s = batch.get(i);
        UTF8String split = split(s.record().id(), seed, evalFraction);
        TokenizedPair tp = t[i];
        int longer = Math.max(tp.chosenIds().length, tp.rejectedIds().length);
        counts.add("split." + split);
        counts.add("format." + s.record().format());
        counts.add("tokens.prompt", tp.promptIds().length);
        counts.add("tokens.longer_response", longer);
        counts.add("max.sequence_tokens", tp.promptIds().length + longer);
        if (tp.promptTruncated()) counts.add("tokens.prompts_truncated");
        if (tp.responseTruncated()) counts.add("tokens.responses_truncated");
        ready.add(PairRows.tokenizedPair(s.record(), s.source(), split, tp));
      }
      return true;
    }

    @Override
    public InternalRow next() {
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

  /** Lazily keeps the elements that match. */
  private static final class Filtered<T> implements Iterator<T> {
    private final Iterator<T> in;
    private final Predicate<T> keep;
    private T next;

    Filtered(Iterator<T> in, Predicate<T> keep) {
      this.in = in;
      this.keep = keep;
    }

    @Override
    public boolean hasNext() {
      while (next == null && in.hasNext()) {
        T t = in.next();
        if (keep.test(t)) next = t;
      }
      return next != null;
    }

    @Override
    public T next() {
      if (!hasNext()) throw new NoSuchElementException();
      T t = next;
      next = null;
      return t;
    }
  }

  /** Lazily applies a function to each element. */
  private static final class Mapped<A, B> implements Iterator<B> {
    private final Iterator<A> in;
    private final Function<A, B> f;

    Mapped(Iterator<A> in, Function<A, B> f) {
      this.in = in;
      this.f = f;
    }

    @Override
    public boolean hasNext() {
      return in.hasNext();
    }

    @Override
    public B next() {
      return f.apply(in.next());
    }
  }

  private static IngestStats stats(InputFiles.Listing listing, Counts counts, IngestOptions opts, long t0) {
    Map<String, Long> quarantined = counts.group("quarantined");
    Map<String, Long> dups = new TreeMap<>();
    dups.put("exact", quarantined.getOrDefault(QuarantineReason.EXACT_DUPLICATE.code(), 0L));
    dups.put("near", quarantined.getOrDefault(QuarantineReason.NEAR_DUPLICATE.code(), 0L));
    dups.put("conflicting", quarantined.getOrDefault(QuarantineReason.CONFLICTING_PREFERENCE.code(), 0L));
    long train = counts.get("split." + PairSchema.TRAIN);
    long eval = counts.get("split." + PairSchema.EVAL);

    Map<String, Object> tokenization = null;
    if (opts.tokenizer() != null) {
      tokenization = new LinkedHashMap<>();
      tokenization.put("tokenizer", opts.tokenizer().path());
      tokenization.put("max_length", opts.tokenizer().maxLength());
      tokenization.put("max_prompt_length", opts.tokenizer().maxPromptLength());
      tokenization.put("truncation", opts.tokenizer().truncation().name().toLowerCase());
      tokenization.put("append_eos", opts.tokenizer().appendEos());
      tokenization.put("prompts_truncated", counts.get("tokens.prompts_truncated"));
      tokenization.put("responses_truncated", counts.get("tokens.responses_truncated"));
      tokenization.put("mean_prompt_tokens", counts.get("tokens.prompt") / (double) Math.max(1, train + eval));
      tokenization.put("mean_longer_response_tokens",
          counts.get("tokens.longer_response") / (double) Math.max(1, train + eval));
      tokenization.put("max_sequence_tokens", counts.get("max.sequence_tokens"));
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

    long records = counts.get("read.records");
    double elapsed = seconds(t0);
    List<String> skippedExamples = listing.skipped().stream().limit(IngestStats.EXAMPLES)
        .map(f -> f.path() + ": " + f.why()).toList();
    return new IngestStats(listing.files().size(), listing.skippedFiles(), listing.skippedSymlinks(), skippedExamples,
        records, train + eval, train, eval,
        quarantined, dups, counts.group("format"), counts.group("repaired"), tokenization, options, elapsed,
        records / elapsed);
  }

  /**
   * The fingerprint a run with {@code opts} would record in its manifest (settings and the input files' paths and
   * sizes): equal to a complete output's, that output is up to date (the pipeline then skips ingest). Lists the inputs.
   */
  public static String fingerprint(SparkSession spark, IngestOptions opts) {
    return fingerprint(opts, InputFiles.expand(opts.inputs(), spark.sparkContext().hadoopConfiguration()).files());
  }

  /**
   * What an ingest output was made from: the settings (but not the output path or --overwrite) and the input files'
   * paths and sizes. Recorded in the output's manifest, so a scheduler can tell an up-to-date output from a stale one.
   */
  static String fingerprint(IngestOptions opts, List<InputFile> files) {
    StringBuilder b = new StringBuilder("ingest/1\n");
    b.append(new IngestOptions(opts.inputs(), "-", opts.format(), opts.formatOptions(), opts.maxChars(),
        opts.maxRecordBytes(), opts.nearDupThreshold(), opts.nearDupShingle(), opts.nearDupHashTables(),
        opts.evalFraction(), opts.seed(), opts.tokenizer(), false)).append('\n');
    for (InputFile f : files) b.append(f.path()).append('\t').append(f.size()).append('\n');
    return StageOutput.sha256(b.toString());
  }

  private static double seconds(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

}
