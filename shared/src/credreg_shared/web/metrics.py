"""Prometheus metrics for the HTTP app: per-route request counter and latency histogram."""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credreg_shared.web.content_type import TEMPLATE_KEY

UNMATCHED_ROUTE = "<unmatched>"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
"""The method label of any method not in `METHODS`: clients cannot add label values."""


def new_registry() -> CollectorRegistry:
    """A registry with the process, platform and GC collectors, private to one app."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class HttpMetrics:
    """The HTTP request metrics of one app, registered on that app's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ("method", "route"),
            registry=registry,
        )


def method_label(scope: Scope) -> str:
    """The request's method if it is a standard one, else `OTHER_METHOD`."""
    method = str(scope.get("method", ""))
    return method if method in METHODS else OTHER_METHOD


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/credentials/{id}``), never the raw path: one of
    the app's routes, or `UNMATCHED_ROUTE`."""
    route = scope.get("route")
    if isinstance(route, BaseRoute):
        path = getattr(route, "path", None)
        if isinstance(path, str):
            return path
    # Answered before the router (415, 401 for a body sent without credentials): the template
    # of the OpenAPI operation it was meant for.
    template = scope.get(TEMPLATE_KEY)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class MetricsMiddleware:
    """ASGI middleware recording every HTTP request in ``HttpMetrics``."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            method = method_label(scope)
            route = route_template(scope)
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.duration.labels(method, route).observe(time.perf_counter() - started)


def metrics_endpoint(registry: CollectorRegistry) -> Response:
    """The registry in the Prometheus text exposition format."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
