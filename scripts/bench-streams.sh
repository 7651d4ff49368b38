#!/usr/bin/env bash
# `make bench-streams`: 1,000 open Server-Sent Event streams on the notifier, its memory and the
# latency from a published event to each stream. Flags go to bench/streams/bench_streams.py.
source "$(dirname "$0")/local-infra-env.sh"
exec "$UV" run --frozen python bench/streams/bench_streams.py "$@"
