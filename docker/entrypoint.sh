#!/usr/bin/env bash
# Entry point of the spark-dpo images (docker/Dockerfile, docker/Dockerfile.gpu): one image is a standalone master, a
# worker, or the machine that submits spark-dpo to them.
#   master                      a standalone master (SPARK_MASTER_HOST, SPARK_MASTER_PORT, SPARK_MASTER_WEBUI_PORT)
#   worker [MASTER_URL]         a worker of MASTER_URL (default $SPARK_MASTER_URL); SPARK_WORKER_CORES,
#                               SPARK_WORKER_MEMORY, SPARK_WORKER_WEBUI_PORT as Spark reads them. In the GPU image
#                               (SPARK_DPO_GPU_DISCOVERY set) the worker offers every GPU the discovery script finds.
#   submit COMMAND [ARGS...]    spark-submit a spark-dpo command (`pipeline --config ...`) to $SPARK_MASTER_URL in
#                               $SPARK_DEPLOY_MODE (client by default)
#   spark-dpo COMMAND [ARGS...] the same command with Spark inside this container (local[*]): --help, one-machine runs
#   anything else               run as given (bash, spark-submit with options of your own, ...)
# Spark's settings for spark-dpo are in $SPARK_HOME/conf/spark-defaults.conf (conf/spark-submit.conf of the repository).
set -euo pipefail

: "${SPARK_HOME:?}"
jar="${SPARK_DPO_JAR:-/opt/spark-dpo/lib/spark-dpo.jar}"

# The spark-submit arguments of every spark-dpo run from these images, before the jar (the master and deploy mode
# come first, from the environment). One place: DockerFilesTest reads this array (one argument per line) and checks
# the compose file's submit service goes through it.
submit_args=(
  --class dev.sparkdpo.jobs.SparkDpo
)

spark_submit() {
  exec "$SPARK_HOME/bin/spark-submit" --master "$1" --deploy-mode "$2" "${submit_args[@]}" "$jar" "${@:3}"
}

mode="${1:-}"
[[ $# -gt 0 ]] && shift
case "$mode" in
  master)
    # in the foreground (sbin/start-master.sh would fork and the container exit); tini, PID 1, forwards signals
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
      --host "${SPARK_MASTER_HOST:-$(hostname)}" "$@"
    ;;
  worker)
    url="${1:-${SPARK_MASTER_URL:?worker needs a master URL: an argument or SPARK_MASTER_URL}}"
    [[ $# -gt 0 ]] && shift
    if [[ -n "${SPARK_DPO_GPU_DISCOVERY:-}" ]]; then
      # Spark asks the script for the GPU addresses; the amount offered must not exceed what it finds
      gpus="$("$SPARK_DPO_GPU_DISCOVERY" --count)"
      export SPARK_WORKER_OPTS="${SPARK_WORKER_OPTS:-} -Dspark.worker.resource.gpu.amount=$gpus"
      export SPARK_WORKER_OPTS="$SPARK_WORKER_OPTS -Dspark.worker.resource.gpu.discoveryScript=$SPARK_DPO_GPU_DISCOVERY"
      echo "entrypoint: worker offers $gpus GPU(s) ($("$SPARK_DPO_GPU_DISCOVERY"))" >&2
    fi
    exec "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker "$url" "$@"
    ;;
  submit)
    [[ $# -gt 0 ]] || { echo "usage: submit COMMAND [ARGS...]  (e.g. submit pipeline --config ...)" >&2; exit 2; }
    spark_submit "${SPARK_MASTER_URL:?submit needs SPARK_MASTER_URL (spark://host:7077)}" \
      "${SPARK_DEPLOY_MODE:-client}" "$@"
    ;;
  spark-dpo)
    spark_submit "local[*]" client "$@"
    ;;
  "")
    echo "usage: master | worker [MASTER_URL] | submit COMMAND [ARGS...] | spark-dpo COMMAND [ARGS...] | CMD..." >&2
    exit 2
    ;;
  *)
    exec "$mode" "$@"
    ;;
esac
