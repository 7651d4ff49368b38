#!/usr/bin/env bash
# `make down`: stop what `make up` started (services first, then Kafka and the Mongo server).
set -uo pipefail
cd "$(dirname "$0")/.."
UV="scripts/uv.sh"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
"$UV" run --frozen python deploy/local/service_processes.py down
"$UV" run --frozen python deploy/local/infra.py down
