"""The FastAPI app factory every service uses: probes, metrics, problem+json errors, OpenAPI."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import CollectorRegistry
from starlette.types import Lifespan

from credreg_shared.web.body_limit import BodyLimitMiddleware
from credreg_shared.web.content_type import ContentTypeMiddleware
from credreg_shared.web.credentials_first import CredentialsFirstMiddleware
from credreg_shared.web.metrics import (
    HttpMetrics,
    MetricsMiddleware,
    metrics_endpoint,
    new_registry,
)
from credreg_shared.web.problems import (
    PROBLEM_JSON,
    Problem,
    install_problem_handlers,
    problem_response,
)
from credreg_shared.web.readiness import ReadinessCheck, failing_checks

OPERATIONS_TAG = "operations"
BODY_PROBLEMS = {
    "400": "The body could not be read as JSON (not UTF-8, or nested too deeply)",
    "413": "The body is over this route's limit",
    "415": "The body's Content-Type is not one this route takes",
}
"""Refusals of any request body, answered by the chassis before the route."""
UNROUTED = "No route matches the path (for example a parameter with a line break)"
"""The router's 404, which any path with parameters may get."""
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_STATUSES = {*BODY_PROBLEMS, "404", "422"}
"""Answers that are problem+json whatever the route declares for them."""


def create_app(
    *,
    title: str,
    version: str,
    lifespan: Lifespan[FastAPI] | None = None,
    readiness: Sequence[ReadinessCheck] = (),
    registry: CollectorRegistry | None = None,
    description: str = "",
    body_limits: Mapping[str, int] = {},
) -> FastAPI:
    """A FastAPI app with ``/healthz``, ``/readyz``, ``/metrics``, ``/docs``, problem+json, a
    request body limit (`DEFAULT_BODY_LIMIT`, or `body_limits` by path prefix), and 415 for a
    body of a media type its route does not take."""
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.readiness_checks = list(readiness)
    app.state.metrics_registry = registry if registry is not None else new_registry()
    install_problem_handlers(app)
    # Inside the body limit, so a refused body was read whole (the connection stays usable).
    app.add_middleware(ContentTypeMiddleware)
    # Added after, so it runs first: credentials are asked for before a body is looked at.
    app.add_middleware(CredentialsFirstMiddleware)
    app.add_middleware(BodyLimitMiddleware, limits=body_limits)
    # Added last, so outermost: a refused body is counted in the metrics too.
    app.add_middleware(MetricsMiddleware, metrics=HttpMetrics(app.state.metrics_registry))
    app.include_router(operations_router())
    _document_problems_in_openapi(app)
    return app


def add_readiness_check(app: FastAPI, check: ReadinessCheck) -> None:
    """Add a check once its resource exists (for example from the lifespan)."""
    app.state.readiness_checks.append(check)


def metrics_registry(app: FastAPI) -> CollectorRegistry:
    """The registry ``/metrics`` exposes; register the service's own metrics on it."""
    registry: CollectorRegistry = app.state.metrics_registry
    return registry


def operations_router() -> APIRouter:
    """Liveness, readiness and metrics endpoints for the orchestrator and Prometheus."""
    router = APIRouter(tags=[OPERATIONS_TAG])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Readiness: every dependency answers",
        responses={503: {"description": "A dependency is not ready", "model": Problem}},
    )
    async def readyz(request: Request) -> Any:
        failures = await failing_checks(request.app.state.readiness_checks)
        if not failures:
            return {"status": "ok"}
        return problem_response(
            request,
            503,
            detail="Not ready: " + ", ".join(failure.name for failure in failures),
            checks=[{"name": failure.name, "error": failure.error} for failure in failures],
        )

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics(request: Request) -> Response:
        return metrics_endpoint(request.app.state.metrics_registry)

    return router


def _document_problems_in_openapi(app: FastAPI) -> None:
    """Describe error answers as problem+json in the OpenAPI document, as the handlers send them."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                _document_operation_problems(operation)
        for unused in ("HTTPValidationError", "ValidationError"):
            if f'"#/components/schemas/{unused}"' not in json.dumps(schema):
                schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _document_operation_problems(operation: dict[str, Any]) -> None:
    """Add the chassis's own refusals (of a body, of a path) and serve refusals as problems."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if "requestBody" in operation:
        for status, description in BODY_PROBLEMS.items():
            responses.setdefault(status, {"description": description})
    if any(parameter.get("in") == "path" for parameter in operation.get("parameters", [])):
        responses.setdefault("404", {"description": UNROUTED})
    for status, response in responses.items():
        json_schema = response.get("content", {}).get("application/json", {})
        if status in PROBLEM_STATUSES or json_schema.get("schema") == PROBLEM_REF:
            response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
