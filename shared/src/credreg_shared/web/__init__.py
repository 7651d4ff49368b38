"""HTTP chassis for services: app factory, problem+json errors, readiness checks, server."""

from credreg_shared.web.app import add_readiness_check, create_app, metrics_registry
from credreg_shared.web.problems import (
    PROBLEM_JSON,
    Problem,
    ProblemError,
    ProblemResponse,
    problem_response,
    unavailable,
)
from credreg_shared.web.readiness import ReadinessCheck, kafka_ready, mongo_ready
from credreg_shared.web.server import request_shutdown, serve, server_for, supervised_task

__all__ = [
    "PROBLEM_JSON",
    "Problem",
    "ProblemError",
    "ProblemResponse",
    "ReadinessCheck",
    "add_readiness_check",
    "create_app",
    "kafka_ready",
    "metrics_registry",
    "mongo_ready",
    "problem_response",
    "request_shutdown",
    "serve",
    "server_for",
    "supervised_task",
    "unavailable",
]
