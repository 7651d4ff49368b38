#!/usr/bin/env bash
# `make bench-revocation`: revocation request → the issuer's status list served with the bit set,
# beside a raw Kafka produce → consume baseline. Flags go to bench/revocation/bench_revocation.py:
# --credentials N, --revocations N, --rate R, --poll-ms MS.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="scripts/uv.sh"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
"$UV" run --frozen python deploy/local/infra.py up
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${CREDREG_KAFKA_PORT:-9092}}"
export MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:${CREDREG_MONGO_PORT:-27017}/}"
exec "$UV" run --frozen python bench/revocation/bench_revocation.py "$@"
