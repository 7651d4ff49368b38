#!/usr/bin/env bash
# `make bench-expiry`: 100,000 credentials falling due in one minute, announced each once, beside
# a raw Kafka and MongoDB baseline. Flags go to bench/expiry/bench_expiry.py: --credentials N,
# --window S, --replicas N, --concurrency N, --page N.
source "$(dirname "$0")/local-infra-env.sh"
exec "$UV" run --frozen python bench/expiry/bench_expiry.py "$@"
