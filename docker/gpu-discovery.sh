#!/usr/bin/env bash
# Spark's GPU discovery script (spark.worker.resource.gpu.discoveryScript, spark.executor.resource.gpu.discoveryScript):
# prints the GPUs this container sees as Spark's ResourceInformation JSON, {"name":"gpu","addresses":["0","1"]}.
# Addresses are nvidia-smi's indices, which inside a container with some of the host's GPUs are renumbered from 0.
# With --count, prints how many there are (the entrypoint offers that many on a worker).
# Fails, with the reason on stderr, when nvidia-smi is missing or finds none: Spark then refuses to start the worker
# or executor instead of scheduling GPU tasks on a machine without a GPU.
set -euo pipefail
if ! indices="$(nvidia-smi --query-gpu=index --format=csv,noheader 2>&1)"; then
  echo "gpu-discovery: nvidia-smi failed (no GPU or no NVIDIA runtime in this container?): $indices" >&2
  exit 1
fi
mapfile -t gpus < <(tr -d ' \r' <<<"$indices" | grep -E '^[0-9]+$' || true)
if [[ ${#gpus[@]} -eq 0 ]]; then
  echo "gpu-discovery: nvidia-smi lists no GPU" >&2
  exit 1
fi
if [[ "${1:-}" == "--count" ]]; then
  echo "${#gpus[@]}"
  exit 0
fi
addresses="$(printf '"%s",' "${gpus[@]}")"
echo "{\"name\":\"gpu\",\"addresses\":[${addresses%,}]}"
