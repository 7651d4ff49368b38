#!/usr/bin/env bash
# `make bench-registry`: the registry at 1,000,000 credentials against the local infra (started if
# needed); vegeta reads; a table and bench/results/registry-<timestamp>.json. Flags go to
# bench/registry/bench_registry.py: --credentials N, --read-seconds S, --rate R, --keep,
# --skip-load, --drop-kept (see --help). Example: scripts/bench-registry.sh --credentials 20000
set -euo pipefail
cd "$(dirname "$0")/.."
UV="scripts/uv.sh"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
"$UV" run --frozen python deploy/local/infra.py up
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${CREDREG_KAFKA_PORT:-9092}}"
export MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:${CREDREG_MONGO_PORT:-27017}/}"
export CREDREG_INFRA_DIR="${CREDREG_INFRA_DIR:-$PWD/.local/infra}"
exec "$UV" run --frozen python bench/registry/bench_registry.py "$@"
