#!/usr/bin/env bash
# Revocation request → wallet webhook received (and, with --sse, the holder's live stream), with
# one subscription per holder on loopback wallets, beside raw Kafka produce → consume and
# loopback POST baselines. Flags go to bench/webhooks/bench_webhooks.py: --holders N, --rate R,
# --seconds S, --concurrency N (CREDREG_DELIVERY_CONCURRENCY), --poll S, --sse.
source "$(dirname "$0")/local-infra-env.sh"
exec "$UV" run --frozen python bench/webhooks/bench_webhooks.py "$@"
