package dev.sparkdpo.data.read;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InputFilesTest {
  @TempDir Path tmp;

  private static String hadoop(Path p) {
    return new org.apache.hadoop.fs.Path(p.toUri()).toString();
  }

  private static List<String> paths(InputFiles.Listing l) {
    return l.files().stream().map(InputFile::path).toList();
  }

  private static Map<String, String> skipped(InputFiles.Listing l) {
    Map<String, String> m = new TreeMap<>();
    l.skipped().forEach(s -> m.put(s.path(), (s.symlink() ? "link: " : "file: ") + s.why()));
    return m;
  }

  private static Path write(Path p) throws IOException {
    Files.createDirectories(p.getParent());
    return Files.writeString(p, "{}\n");
  }

  /** in/ with files, a subdirectory, hidden entries, and every kind of symlink; outside/ next to it. */
  private Path tree() throws IOException {
    write(tmp.resolve("outside/secret.jsonl"));
    write(tmp.resolve("outside/more/deep.jsonl"));
    Path in = tmp.resolve("in");
    write(in.resolve("a.jsonl"));
    write(in.resolve("sub/b.csv"));
    write(in.resolve("notes.txt"));
    write(in.resolve("sub/README.md"));
    write(in.resolve(".hidden.jsonl"));
    write(in.resolve("_tmp/c.jsonl"));
    write(in.resolve(".cache/blob"));
    Files.createSymbolicLink(in.resolve("up"), Path.of(".."));                           // loops out of the input
    Files.createSymbolicLink(in.resolve("self"), Path.of("."));                          // loops into itself
    Files.createSymbolicLink(in.resolve("sub/back"), Path.of("../sub"));
    Files.createSymbolicLink(in.resolve("secret.jsonl"), Path.of("../outside/secret.jsonl"));
    Files.createSymbolicLink(in.resolve("again.jsonl"), Path.of("a.jsonl"));              // the same file twice
    Files.createSymbolicLink(in.resolve("cached.jsonl"), Path.of(".cache/blob"));         // inside, not listed itself
    Files.createSymbolicLink(in.resolve("gone.jsonl"), Path.of("no-such-file"));
    return in;
  }

  @Test
  void aDirectoryWalkNeverFollowsASymlinkOutOfTheInputOrToAFileTwice() throws IOException {
    Path in = tree();
    InputFiles.Listing l = InputFiles.expand(List.of(in.toString()), new Configuration());
    assertEquals(List.of(hadoop(in.resolve("a.jsonl")), hadoop(in.resolve("cached.jsonl")),
        hadoop(in.resolve("sub/b.csv"))), paths(l));
    Map<String, String> expected = new TreeMap<>();
    expected.put(hadoop(in.resolve("notes.txt")), "file: not a supported input type");
    expected.put(hadoop(in.resolve("sub/README.md")), "file: not a supported input type");
    expected.put(hadoop(in.resolve("up")), "link: a symlink to a directory (not followed)");
    expected.put(hadoop(in.resolve("self")), "link: a symlink to a directory (not followed)");
    expected.put(hadoop(in.resolve("sub/back")), "link: a symlink to a directory (not followed)");
    expected.put(hadoop(in.resolve("secret.jsonl")), "link: a symlink to " + tmp.toRealPath().resolve(
        "outside/secret.jsonl") + ", outside the input (pass that file or its directory as --input to read it)");
    expected.put(hadoop(in.resolve("again.jsonl")), "link: a symlink to " + hadoop(in.resolve("a.jsonl"))
        + ", which is read already");
    expected.put(hadoop(in.resolve("gone.jsonl")), "link: a broken symlink");
    assertEquals(expected, skipped(l));
    assertEquals(2, l.skippedFiles());
    assertEquals(6, l.skippedSymlinks());
  }

  @Test
  void overlappingInputsAndSymlinkedRootsReadEachFileOnce() throws IOException {
    Path in = tree();
    Path linkToIn = Files.createSymbolicLink(tmp.resolve("link-to-in"), in);
    InputFiles.Listing l = InputFiles.expand(List.of(in.toString(), in.resolve("a.jsonl").toString(),
        in.resolve("sub").toString(), linkToIn.toString()), new Configuration());
    assertEquals(List.of(hadoop(in.resolve("a.jsonl")), hadoop(in.resolve("cached.jsonl")),
        hadoop(in.resolve("sub/b.csv"))), paths(l));
    // a file named directly may be a symlink out of the directories: it is what the user asked for
    InputFiles.Listing direct = InputFiles.expand(List.of(in.resolve("secret.jsonl").toString()), new Configuration());
    assertEquals(List.of(hadoop(in.resolve("secret.jsonl"))), paths(direct));
    // a root that is a symlink is walked, and its files are named under the path given
    InputFiles.Listing viaLink = InputFiles.expand(List.of(linkToIn.resolve("sub").toString()), new Configuration());
    assertEquals(List.of(hadoop(linkToIn.resolve("sub/b.csv"))), paths(viaLink));
  }
}
