#!/usr/bin/env bash
# Installs the official Apache Spark distribution (spark-$SPARK_VERSION-bin-hadoop3) into DEST, verified first. Run by
# both Dockerfiles' "spark" stage, so the download and its checks are written once.
#   SPARK_VERSION   e.g. 3.5.7 (required)
#   SPARK_GPG_KEY   fingerprint of the key the release is signed with (required; the one apache/spark-docker pins)
#   SPARK_MIRROR    where spark-X/ and KEYS live (default: the Apache archive, which keeps every release; the download
#                   mirrors drop old ones)
# Two checks, both must pass: the published SHA-512 (catches a truncated or corrupted download) and the detached
# signature, made by SPARK_GPG_KEY (the checksum comes from the same server as the tarball, so only the signature
# shows who made the release). Needs curl, gpg, sha512sum, tar.
set -euo pipefail

dest="${1:?usage: install-spark.sh DEST}"
version="${SPARK_VERSION:?set SPARK_VERSION}"
key="${SPARK_GPG_KEY:?set SPARK_GPG_KEY}"
mirror="${SPARK_MIRROR:-https://archive.apache.org/dist/spark}"
tgz="spark-${version}-bin-hadoop3.tgz"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
for f in "$tgz" "$tgz.sha512" "$tgz.asc"; do
  curl -fsSL --retry 5 --retry-connrefused -o "$f" "$mirror/spark-$version/$f"
done
curl -fsSL --retry 5 --retry-connrefused -o KEYS "$mirror/KEYS"

# Spark has published the checksum as "HEX  name" (sha512sum) and as "name: HEX HEX ..." (gpg --print-md, upper case,
# in groups): drop the file name, keep the hex digits.
expected="$(sed "s/$tgz//" "$tgz.sha512" | tr -dc '0-9A-Fa-f' | tr 'A-F' 'a-f')"
actual="$(sha512sum "$tgz" | cut -d' ' -f1)"
if [[ ${#expected} -ne 128 || "$expected" != "$actual" ]]; then
  echo "install-spark: SHA-512 of $tgz does not match $tgz.sha512" >&2
  exit 1
fi

export GNUPGHOME="$work/gnupg"
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --import KEYS 2>/dev/null
# VALIDSIG's first field is the signing (sub)key, its last the primary key: either may be the pinned fingerprint.
if ! gpg --batch --status-fd 1 --verify "$tgz.asc" "$tgz" 2>/dev/null \
    | awk -v k="$key" '$2 == "VALIDSIG" && ($3 == k || $NF == k) { ok = 1 } END { exit !ok }'; then
  echo "install-spark: $tgz is not validly signed by $key" >&2
  exit 1
fi

mkdir -p "$dest"
tar -xzf "$tgz" -C "$dest" --strip-components=1
# Only what runs a standalone master/worker and spark-submit is kept: no Python, R, examples, sample data, or the YARN
# shuffle service (about 150 MB).
rm -rf "$dest/python" "$dest/R" "$dest/examples" "$dest/data" "$dest/yarn" "$dest/kubernetes/tests"
echo "install-spark: Spark $version in $dest (SHA-512 and signature by $key verified)"
