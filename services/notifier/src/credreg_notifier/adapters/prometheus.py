"""Prometheus metrics of webhook deliveries, on the app's ``/metrics`` registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class PrometheusDeliveryOutcomes:
    """``DeliveryOutcomes``: counts recorded attempts by the status they left the delivery in."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "credreg_webhook_attempts",
            "Webhook attempts by the state they left the delivery in.",
            ["outcome"],
            registry=registry,
        )

    def record(self, status: str) -> None:
        """Count one attempt that left its delivery in `status`."""
        self.outcomes.labels(outcome=status).inc()
