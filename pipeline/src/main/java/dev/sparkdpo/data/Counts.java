package dev.sparkdpo.data;

import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.util.AccumulatorV2;

/**
 * Counts by name, as a Spark accumulator. Updated only inside result tasks (the writes), where Spark applies each
 * successful task's updates exactly once, so the totals are exact even when tasks are retried.
 */
public final class Counts extends AccumulatorV2<String, Map<String, Long>> {
  private final TreeMap<String, Long> counts = new TreeMap<>();

  @Override
  public boolean isZero() {
    return counts.isEmpty();
  }

  @Override
  public Counts copy() {
    Counts c = new Counts();
    c.counts.putAll(counts);
    return c;
  }

  @Override
  public void reset() {
    counts.clear();
  }

  @Override
  public void add(String name) {
    add(name, 1);
  }

  /** Adds {@code n}; names starting with {@code max.} keep the maximum instead of the sum. */
  public void add(String name, long n) {
    counts.merge(name, n, name.startsWith("max.") ? Math::max : Long::sum);
  }

  @Override
  public void merge(AccumulatorV2<String, Map<String, Long>> other) {
    other.value().forEach(this::add);
  }

  @Override
  public Map<String, Long> value() {
    return counts;
  }

  /** The counts whose names start with {@code prefix + "."}, without the prefix. */
  public Map<String, Long> group(String prefix) {
    Map<String, Long> out = new TreeMap<>();
    counts.forEach((k, v) -> {
      if (k.startsWith(prefix + ".")) out.put(k.substring(prefix.length() + 1), v);
    });
    return out;
  }

  public long get(String name) {
    return counts.getOrDefault(name, 0L);
  }
}
