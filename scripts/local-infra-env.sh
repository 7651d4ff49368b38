# Sourced by the benchmark scripts: from the repo root, start the local Kafka + Mongo-wire server
# if needed (`deploy/local/infra.py up`) and export where they listen (values already set win).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV="scripts/uv.sh"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
"$UV" run --frozen python deploy/local/infra.py up
export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${CREDREG_KAFKA_PORT:-9092}}"
export MONGODB_URI="${MONGODB_URI:-mongodb://127.0.0.1:${CREDREG_MONGO_PORT:-27017}/}"
export CREDREG_INFRA_DIR="${CREDREG_INFRA_DIR:-$PWD/.local/infra}"
