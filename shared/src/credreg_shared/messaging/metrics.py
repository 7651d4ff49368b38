"""Prometheus metrics of the messaging layer (exposed by each service's ``/metrics``)."""

from prometheus_client import Counter, Histogram

CONSUMED_RECORDS = Counter(
    "credreg_consumer_records",
    "Records a consumer finished with, by outcome (processed, skipped, dead_lettered).",
    ["group", "topic", "outcome"],
)
HANDLER_FAILURES = Counter(
    "credreg_consumer_handler_failures",
    "Failed handler attempts (each retry counts).",
    ["group", "event_type"],
)
HANDLER_SECONDS = Histogram(
    "credreg_consumer_handler_seconds",
    "Time to run all handlers of one event, successful attempts only.",
    ["group", "event_type"],
)
COMMIT_FAILURES = Counter(
    "credreg_consumer_commit_failures",
    "Offset commits refused by the group coordinator (records will be redelivered).",
    ["group"],
)
