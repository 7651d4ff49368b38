#!/usr/bin/env bash
# The fault driver (issue #15, part 1): the whole system as processes on its own Kafka and
# Mongo-wire server (private ports, .local/faults-infra, wiped at the end), a mixed lifecycle
# load with faults injected, then every invariant checked. Flags go to bench/faults/faults.py:
# --events N (100,000), --short (shortened down-times), --rounds N, --concurrency N,
# --kafka-port/--controller-port/--mongo-port, --infra-dir, --keep-infra.
set -euo pipefail
cd "$(dirname "$0")/.."
export UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
exec scripts/uv.sh run --frozen --all-packages python bench/faults/faults.py "$@"
