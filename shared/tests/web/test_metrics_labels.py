"""HTTP metrics labels: route templates and a fixed set of methods, whatever clients send."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from credreg_shared.web import create_app, metrics_registry
from credreg_shared.web.metrics import METHODS, OTHER_METHOD, UNMATCHED_ROUTE


def sample_app() -> FastAPI:
    app = create_app(title="t", version="0")

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    return app


def label_values(registry: CollectorRegistry, label: str) -> set[str]:
    """Every value `label` takes in the HTTP metrics."""
    return {
        sample.labels[label]
        for metric in registry.collect()
        if metric.name.startswith("http_request")
        for sample in metric.samples
        if label in sample.labels
    }


async def test_invented_methods_and_unknown_paths_add_no_label_values() -> None:
    app = sample_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for n in range(20):
            await client.request(f"M{n}{uuid.uuid4().hex[:6].upper()}", f"/things/{n}")
            await client.request("get", f"/things/{n}")  # methods are case-sensitive
            await client.get(f"/unknown/{uuid.uuid4()}")
            await client.request("BREW", f"/{uuid.uuid4()}/things")
        await client.get("/things/1")
        await client.delete("/things/1")

    registry = metrics_registry(app)
    assert label_values(registry, "method") == {"GET", "DELETE", OTHER_METHOD}
    assert label_values(registry, "route") == {"/things/{thing_id}", UNMATCHED_ROUTE}


async def test_every_standard_method_keeps_its_name() -> None:
    app = sample_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method in METHODS:
            await client.request(method, "/things/1")

    assert label_values(metrics_registry(app), "method") == set(METHODS)
