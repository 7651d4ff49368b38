#!/usr/bin/env bash
# `make test`: lint, then unit and integration tests against a real Kafka and Mongo server.
# Uses KAFKA_BOOTSTRAP_SERVERS / MONGODB_URI when both are set; otherwise starts the local
# launcher on private ports (so a running `make up` is left alone) and stops it afterwards.
set -uo pipefail
cd "$(dirname "$0")/.."
UV="scripts/uv.sh"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
started=$(date +%s)

make --no-print-directory lint || { echo "[test] lint failed" >&2; exit 1; }

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ] || [ -z "${MONGODB_URI:-}" ]; then
  export CREDREG_INFRA_DIR="$PWD/.local/test-infra"
  export CREDREG_KAFKA_PORT="${CREDREG_TEST_KAFKA_PORT:-19092}"
  export CREDREG_KAFKA_CONTROLLER_PORT="${CREDREG_TEST_KAFKA_CONTROLLER_PORT:-19093}"
  export CREDREG_MONGO_PORT="${CREDREG_TEST_MONGO_PORT:-19017}"
  trap '"$UV" run --frozen python deploy/local/infra.py down --wipe' EXIT
  "$UV" run --frozen python deploy/local/infra.py up || { echo "[test] infra failed" >&2; exit 2; }
  export KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$CREDREG_KAFKA_PORT"
  export MONGODB_URI="mongodb://127.0.0.1:$CREDREG_MONGO_PORT/"
fi

"$UV" run --frozen pytest "$@"
status=$?
echo "[test] pytest exit status $status after $(( $(date +%s) - started ))s"
exit $status
