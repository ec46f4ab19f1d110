#!/usr/bin/env bash
# Checks the Docker files as far as a machine without a Docker engine can (DockerFilesTest runs it in `mvn verify`):
#   - every script here parses (bash -n) and passes shellcheck
#   - the compose file is valid (docker-compose config, or docker compose config)
#   - the entrypoint's modes run the commands they should (Spark's bin/ replaced by stubs that record their arguments),
#     the submit mode with the spark-submit argument list declared in the entrypoint
#   - gpu-discovery.sh's output for a stubbed nvidia-smi with GPUs, without any, and without nvidia-smi
#   - install-spark.sh accepts a release whose checksum and signature are right and refuses one with either wrong,
#     from a local mirror (file://) with a throwaway key
# A check whose tool is missing is skipped with the reason; --require-tools makes that a failure. Exit 0 = no failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
require_tools=false
[[ "${1:-}" == "--require-tools" ]] && require_tools=true

failures=0
pass() { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
skip() {
  if $require_tools; then fail "$* (--require-tools)"; else echo "skip  $*"; fi
}
have() { command -v "$1" >/dev/null 2>&1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

scripts=("$here"/*.sh)

# --- scripts parse and pass shellcheck ------------------------------------------------------------------------------
for s in "${scripts[@]}"; do
  if out="$(bash -n "$s" 2>&1)"; then pass "bash -n ${s#"$root"/}"; else fail "bash -n ${s#"$root"/}: $out"; fi
done
if have shellcheck; then
  if out="$(shellcheck "${scripts[@]}" 2>&1)"; then
    pass "shellcheck $(shellcheck --version | sed -n 's/^version: //p'): ${#scripts[@]} scripts"
  else
    fail "shellcheck:"; echo "$out"
  fi
else
  skip "shellcheck: not installed (apt-get install shellcheck)"
fi

# --- compose file ---------------------------------------------------------------------------------------------------
compose=()
if have docker-compose; then compose=(docker-compose)
elif have docker && docker compose version >/dev/null 2>&1; then compose=(docker compose)
fi
if [[ ${#compose[@]} -gt 0 ]]; then
  for profile in "" gpu; do
    args=(-f "$here/compose.yaml")
    [[ -n "$profile" ]] && args+=(--profile "$profile")
    if out="$("${compose[@]}" "${args[@]}" config -q 2>&1)"; then
      pass "${compose[*]} config${profile:+ --profile $profile}"
    else
      fail "${compose[*]} config${profile:+ --profile $profile}: $out"
    fi
  done
else
  skip "compose config: neither docker-compose nor the docker compose plugin is installed (apt-get install docker-compose)"
fi

# --- entrypoint modes, with stubs for Spark's launchers ---------------------------------------------------------------
# each stub writes its name and arguments one per line, and SPARK_WORKER_OPTS, to $tmp/called
spark_home="$tmp/spark"
mkdir -p "$spark_home/bin"
for launcher in spark-submit spark-class; do
  cat > "$spark_home/bin/$launcher" <<EOF
#!/usr/bin/env bash
{ echo "$launcher"; printf '%s\n' "\$@"; echo "SPARK_WORKER_OPTS=\${SPARK_WORKER_OPTS:-}"; } > "$tmp/called"
EOF
  chmod +x "$spark_home/bin/$launcher"
done
# the argument list as the entrypoint declares it (the one place it is written)
eval "$(sed -n '/^submit_args=(/,/^)/p' "$here/entrypoint.sh")"
if [[ -z "${submit_args+x}" || ${#submit_args[@]} -eq 0 ]]; then
  fail "entrypoint.sh declares no submit_args=( ... ) array"
  submit_args=()
fi
jar=/opt/spark-dpo/lib/spark-dpo.jar

# expect NAME EXPECTED_LINE... -- ENTRYPOINT_ARGS...: runs the entrypoint with the stubs, compares what they recorded
expect() {
  local name="$1"; shift
  local expected=()
  while [[ "$1" != "--" ]]; do expected+=("$1"); shift; done
  shift
  rm -f "$tmp/called"
  if ! out="$(env SPARK_HOME="$spark_home" "$here/entrypoint.sh" "$@" 2>&1)"; then
    fail "entrypoint $name: exit status $?: $out"; return
  fi
  local got
  got="$(cat "$tmp/called" 2>/dev/null || echo "(no launcher called)")"
  if [[ "$got" == "$(printf '%s\n' "${expected[@]}")" ]]; then
    pass "entrypoint $name"
  else
    fail "entrypoint $name:"; diff <(printf '%s\n' "${expected[@]}") <(echo "$got") | sed 's/^/      /' || true
  fi
}
if env -u SPARK_MASTER_URL SPARK_HOME="$spark_home" "$here/entrypoint.sh" submit pipeline >/dev/null 2>&1; then
  fail "entrypoint submit without SPARK_MASTER_URL must fail"
else
  pass "entrypoint submit without SPARK_MASTER_URL fails"
fi
# the master URL comes from the environment, as in compose.yaml
export SPARK_MASTER_URL=spark://spark-master:7077
expect "submit (the compose demo line)" \
  spark-submit --master spark://spark-master:7077 --deploy-mode client "${submit_args[@]}" "$jar" \
  pipeline --config /opt/spark-dpo/conf/demo.conf --output /data/demo SPARK_WORKER_OPTS= \
  -- submit pipeline --config /opt/spark-dpo/conf/demo.conf --output /data/demo
SPARK_DEPLOY_MODE=cluster expect "submit, cluster deploy mode" \
  spark-submit --master spark://spark-master:7077 --deploy-mode cluster "${submit_args[@]}" "$jar" \
  ingest --help SPARK_WORKER_OPTS= \
  -- submit ingest --help
expect "spark-dpo (local)" \
  spark-submit --master "local[*]" --deploy-mode client "${submit_args[@]}" "$jar" --help SPARK_WORKER_OPTS= \
  -- spark-dpo --help
SPARK_MASTER_HOST=spark-master expect master \
  spark-class org.apache.spark.deploy.master.Master --host spark-master SPARK_WORKER_OPTS= \
  -- master
expect worker \
  spark-class org.apache.spark.deploy.worker.Worker spark://spark-master:7077 SPARK_WORKER_OPTS= \
  -- worker

# --- GPU discovery, with a stubbed nvidia-smi -------------------------------------------------------------------------
mkdir -p "$tmp/gpus2" "$tmp/gpus0" "$tmp/broken" "$tmp/nogpu"
printf '#!/usr/bin/env bash\nprintf "0\\n1\\n"\n' > "$tmp/gpus2/nvidia-smi"
printf '#!/usr/bin/env bash\nexit 0\n' > "$tmp/gpus0/nvidia-smi"
printf '#!/usr/bin/env bash\necho "NVIDIA-SMI has failed" >&2; exit 9\n' > "$tmp/broken/nvidia-smi"
chmod +x "$tmp"/*/nvidia-smi
discovery="$here/gpu-discovery.sh"
base_path="/usr/bin:/bin"
if [[ "$(PATH="$tmp/gpus2:$base_path" "$discovery")" == '{"name":"gpu","addresses":["0","1"]}' ]] \
    && [[ "$(PATH="$tmp/gpus2:$base_path" "$discovery" --count)" == 2 ]]; then
  pass "gpu-discovery: two GPUs"
else
  fail "gpu-discovery: two GPUs: $(PATH="$tmp/gpus2:$base_path" "$discovery" 2>&1)"
fi
for case in gpus0 broken nogpu; do
  if PATH="$tmp/$case:$base_path" "$discovery" >/dev/null 2>&1; then
    fail "gpu-discovery must fail ($case)"
  else
    pass "gpu-discovery fails ($case)"
  fi
done
PATH="$tmp/gpus2:$PATH" SPARK_DPO_GPU_DISCOVERY="$discovery" expect "worker (GPU image)" \
  spark-class org.apache.spark.deploy.worker.Worker spark://spark-master:7077 \
  "SPARK_WORKER_OPTS= -Dspark.worker.resource.gpu.amount=2 -Dspark.worker.resource.gpu.discoveryScript=$discovery" \
  -- worker

# --- install-spark.sh against a local mirror --------------------------------------------------------------------------
if have gpg && have curl && have sha512sum; then
  mirror="$tmp/mirror"
  version=9.9.9
  tgz="spark-$version-bin-hadoop3.tgz"
  mkdir -p "$mirror/spark-$version" "$tmp/dist/spark-$version-bin-hadoop3/bin" \
    "$tmp/dist/spark-$version-bin-hadoop3/python"
  echo stub > "$tmp/dist/spark-$version-bin-hadoop3/bin/spark-submit"
  echo stub > "$tmp/dist/spark-$version-bin-hadoop3/python/pyspark"
  tar -czf "$mirror/spark-$version/$tgz" -C "$tmp/dist" "spark-$version-bin-hadoop3"
  export GNUPGHOME="$tmp/gnupg"
  mkdir -m 700 "$GNUPGHOME"
  gpg --batch --quiet --passphrase '' --quick-gen-key 'release <release@example.invalid>' ed25519 sign never 2>/dev/null
  gpg --batch --quiet --passphrase '' --quick-gen-key 'other <other@example.invalid>' ed25519 sign never 2>/dev/null
  fpr="$(gpg --batch --with-colons --list-keys release@example.invalid 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')"
  other="$(gpg --batch --with-colons --list-keys other@example.invalid 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')"
  gpg --batch --armor --export > "$mirror/KEYS"
  gpg --batch --quiet --local-user "$fpr" --armor --detach-sign -o "$mirror/spark-$version/$tgz.asc" \
    "$mirror/spark-$version/$tgz"
  (cd "$mirror/spark-$version" && sha512sum "$tgz" > "$tgz.sha512")
  unset GNUPGHOME
  install() { # KEY DEST: runs install-spark.sh against the mirror
    SPARK_VERSION=$version SPARK_GPG_KEY="$1" SPARK_MIRROR="file://$mirror" bash "$here/install-spark.sh" "$2"
  }
  if out="$(install "$fpr" "$tmp/ok" 2>&1)" && [[ -f "$tmp/ok/bin/spark-submit" && ! -e "$tmp/ok/python" ]]; then
    pass "install-spark: a release signed by the pinned key installs (sha512sum-style checksum)"
  else
    fail "install-spark: good release refused: $out"
  fi
  # the older "name: HEX HEX ..." checksum layout, upper case in groups of 8
  (cd "$mirror/spark-$version" && sha512sum "$tgz" | cut -d' ' -f1 | tr 'a-f' 'A-F' | fold -w 8 | paste -sd' ' \
    | sed "s/^/$tgz: /" > "$tgz.sha512")
  if out="$(install "$fpr" "$tmp/ok2" 2>&1)"; then
    pass "install-spark: gpg --print-md style checksum"
  else
    fail "install-spark: gpg --print-md style checksum refused: $out"
  fi
  if out="$(install "$other" "$tmp/wrongkey" 2>&1)"; then
    fail "install-spark: accepted a release not signed by the pinned key"
  else
    pass "install-spark: refuses a release not signed by the pinned key ($(tail -1 <<<"$out"))"
  fi
  printf 'x' >> "$mirror/spark-$version/$tgz"
  if out="$(install "$fpr" "$tmp/tampered" 2>&1)"; then
    fail "install-spark: accepted a tarball that does not match its checksum"
  else
    pass "install-spark: refuses a tarball that does not match its checksum ($(tail -1 <<<"$out"))"
  fi
else
  skip "install-spark: needs gpg, curl and sha512sum"
fi

if [[ $failures -gt 0 ]]; then
  echo "docker/check.sh: $failures check(s) failed"
  exit 1
fi
echo "docker/check.sh: all checks passed"
