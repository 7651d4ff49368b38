#!/usr/bin/env bash
# `make bench-issuance`: a convocation issued end to end (issue #10): 20,000 credentials through
# the batch API and through Kafka ingress, rdfc and jcs, until visible in the registry, beside the
# raw Kafka produce and Mongo bulk-upsert rates of the same run. Flags go to
# bench/issuance/bench_issuance.py: --credentials N, --suites rdfc,jcs, --paths batch,kafka,
# --signing-processes 0,1,2, --replicas N, --rate R (single POSTs/s during a batch), --poll S.
source "$(dirname "$0")/local-infra-env.sh"
exec "$UV" run --frozen python bench/issuance/bench_issuance.py "$@"
