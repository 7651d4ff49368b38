#!/usr/bin/env bash
# `make up`: Kafka + the Mongo server, the four services and a demo wallet, then demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="scripts/uv.sh"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
RUN="$PWD/.local/run"
mkdir -p "$RUN"

"$UV" run --frozen python deploy/local/infra.py up
"$UV" run --frozen python deploy/local/service_processes.py up
"$UV" run --frozen python deploy/local/seed_demo.py
