#!/usr/bin/env bash
# `make bench`: every benchmark against the local infra (started if needed); JSON in bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="scripts/uv.sh"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
"$UV" run --frozen python deploy/local/infra.py up
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${CREDREG_KAFKA_PORT:-9092}}"
export MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:${CREDREG_MONGO_PORT:-27017}/}"
"$UV" run --frozen python bench/baseline.py
"$UV" run --frozen python bench/bench_crypto.py
