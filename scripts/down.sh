#!/usr/bin/env bash
# `make down`: stop what `make up` started (services first, then Kafka and the Mongo server).
set -uo pipefail
cd "$(dirname "$0")/.."
UV="$(command -v uv 2>/dev/null || echo "$HOME/.local/bin/uv")"
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
"$UV" run --frozen python deploy/local/services.py down
"$UV" run --frozen python deploy/local/infra.py down
