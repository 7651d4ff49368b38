# credreg: the two commands are `make up` (run the system with demo data) and `make test`.
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS ?= never
UV := scripts/uv.sh
PY := $(UV) run --frozen --all-packages python
PACKAGES := -p credreg_shared -p credreg_cli -p credreg_issuer -p credreg_registry -p credreg_revocation -p credreg_notifier

.PHONY: help deps up down test lint infra-up infra-down infra-status bench bench-registry bench-revocation clean

help:
	@echo "make up        run Kafka, the Mongo server and the services locally with demo data"
	@echo "make down      stop everything 'make up' started"
	@echo "make test      install what is missing, start test infra, lint + unit + integration tests"
	@echo "make bench     run the benchmarks (results in bench/results/)"
	@echo "make bench-registry   the registry at 1M credentials (ARGS='--credentials 20000 --keep ...')"
	@echo "make bench-revocation revocation request → status list served with the bit (ARGS='--rate 50')"
	@echo "make bench-expiry     100,000 credentials falling due in one minute (ARGS='--credentials 5000')"
	@echo "make bench-streams    1,000 open SSE streams: notifier memory and latency"
	@echo "make bench-webhooks   revocation → webhook latency, 1,000 subscriptions (ARGS='--rate 10 --sse')"
	@echo "make faults           fault driver: 100,000 lifecycle events under kills, invariants checked (ARGS='--events 5000 --short')"
	@echo "make infra-up | infra-down | infra-status   the local Kafka + Mongo server alone"

deps:
	@scripts/ensure-deps.sh

infra-up: deps
	@$(PY) deploy/local/infra.py up

infra-down:
	@$(PY) deploy/local/infra.py down

infra-status:
	@$(PY) deploy/local/infra.py status

up: deps
	@scripts/up.sh

down:
	@scripts/down.sh

lint: deps
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy $(PACKAGES)
	$(UV) run --frozen lint-imports

test: deps
	@scripts/test.sh

# docs/asyncapi.json, the AsyncAPI document of the event contract (a test fails while it is stale).
.PHONY: asyncapi
asyncapi: deps
	@$(PY) -m credreg_shared.events.asyncapi > docs/asyncapi.json.tmp
	@mv docs/asyncapi.json.tmp docs/asyncapi.json

bench: deps
	@scripts/bench.sh

bench-registry: deps
	@scripts/bench-registry.sh $(ARGS)

bench-revocation: deps
	@scripts/bench-revocation.sh $(ARGS)

clean: down
	rm -rf .local

# 20,000 credentials by batch and by Kafka until visible in the registry (issue #10; ARGS='--credentials 2000').
.PHONY: bench-issuance
bench-issuance: deps
	@scripts/bench-issuance.sh $(ARGS)

.PHONY: bench-expiry
bench-expiry: deps
	@scripts/bench-expiry.sh $(ARGS)

.PHONY: bench-streams
bench-streams: deps
	@scripts/bench-streams.sh $(ARGS)

.PHONY: bench-webhooks
bench-webhooks: deps
	@scripts/bench-webhooks.sh $(ARGS)

# The fault driver (issue #15, part 1): kills services, the broker and the Mongo server under load
# and checks every invariant (ARGS='--events 5000 --short').
.PHONY: faults
faults: deps
	@scripts/faults.sh $(ARGS)
