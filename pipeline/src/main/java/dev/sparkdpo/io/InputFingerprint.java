package dev.sparkdpo.io;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.LocatedFileStatus;
import org.apache.hadoop.fs.RemoteIterator;

/** What a stage's fingerprint says about its input files (any Hadoop file system). */
public final class InputFingerprint {
  private InputFingerprint() {}

  /** SHA-256 over the names, sizes and modification times of the files under {@code path} (a glob works too). */
  public static String files(String path, Configuration conf) {
    try {
      org.apache.hadoop.fs.Path p = new org.apache.hadoop.fs.Path(path);
      FileSystem fs = p.getFileSystem(conf);
      FileStatus[] matched = fs.globStatus(p);
      if (matched == null || matched.length == 0) throw new IllegalArgumentException("--data " + path + " does not exist");
      List<String> entries = new ArrayList<>();
      for (FileStatus m : matched) {
        RemoteIterator<LocatedFileStatus> it = fs.listFiles(m.getPath(), true);
        while (it.hasNext()) {
          LocatedFileStatus f = it.next();
          entries.add(f.getPath() + "\t" + f.getLen() + "\t" + f.getModificationTime());
        }
      }
      entries.sort(null);
      MessageDigest sha = MessageDigest.getInstance("SHA-256");
      for (String e : entries) sha.update((e + "\n").getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(sha.digest());
    } catch (IOException e) {
      throw new UncheckedIOException("listing " + path + ": " + e.getMessage(), e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }}
