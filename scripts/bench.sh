#!/usr/bin/env bash
# `make bench`: every benchmark against the local infra (started if needed); JSON in bench/results/.
source "$(dirname "$0")/local-infra-env.sh"
"$UV" run --frozen python bench/baseline.py
"$UV" run --frozen python bench/bench_crypto.py
