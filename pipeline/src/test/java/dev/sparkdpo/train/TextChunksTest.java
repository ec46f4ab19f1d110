package dev.sparkdpo.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** SFT text chunks are named by the file's place in the corpus, not by where the corpus lives. */
class TextChunksTest {
  @Test
  void aChunkIsNamedByItsFilesPathBelowTheDataDirectory() {
    assertEquals("a.txt", TrainData.chunkName("file:/runs/one/corpus/a.txt", "/runs/one/corpus"));
    assertEquals("a.txt", TrainData.chunkName("file:/runs/two/corpus/a.txt", "/runs/two/corpus/"));
    assertEquals("sub/b.txt", TrainData.chunkName("hdfs://nn:8020/data/corpus/sub/b.txt", "/data/corpus"));
    // a glob or a single file: the file name
    assertEquals("c.txt", TrainData.chunkName("file:/data/corpus/c.txt", "/data/*/c.txt"));
    assertEquals("c d.txt", TrainData.chunkName("file:/data/x y/c d.txt", "/data/x y/c d.txt"));
  }

  @Test
  void theHeldOutSplitIsTheSameUnderAnyRunRoot() {
    int differ = 0;
    int heldOut = 0;
    for (int i = 0; i < 2000; i++) {
      String one = TrainData.chunkName("file:/runs/one/corpus/part-" + (i % 7) + ".txt", "/runs/one/corpus");
      String two = TrainData.chunkName("file:/elsewhere/two/corpus/part-" + (i % 7) + ".txt", "/elsewhere/two/corpus");
      boolean a = TrainData.heldOut(one + "#" + i, 0.1);
      if (a != TrainData.heldOut(two + "#" + i, 0.1)) differ++;
      if (a) heldOut++;
    }
    assertEquals(0, differ);
    assertEquals(0.1, heldOut / 2000.0, 0.02, "about a tenth held out");
  }
}
