#!/usr/bin/env bash
# `make bench-revocation`: revocation request → the issuer's status list served with the bit set,
# beside a raw Kafka produce → consume baseline. Flags go to bench/revocation/bench_revocation.py:
# --credentials N, --revocations N, --rate R, --poll-ms MS.
source "$(dirname "$0")/local-infra-env.sh"
exec "$UV" run --frozen python bench/revocation/bench_revocation.py "$@"
