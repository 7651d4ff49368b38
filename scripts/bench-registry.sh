#!/usr/bin/env bash
# `make bench-registry`: the registry at 1,000,000 credentials against the local infra (started if
# needed); vegeta reads; a table and bench/results/registry-<timestamp>.json. Flags go to
# bench/registry/bench_registry.py: --credentials N, --read-seconds S, --rate R, --keep,
# --skip-load, --drop-kept (see --help). Example: scripts/bench-registry.sh --credentials 20000
source "$(dirname "$0")/local-infra-env.sh"
exec "$UV" run --frozen python bench/registry/bench_registry.py "$@"
