"""HTTP chassis for services: app factory, problem+json errors, readiness checks, server."""

from credreg_shared.web.app import add_readiness_check, create_app, metrics_registry
from credreg_shared.web.caching import not_modified, public_cache_headers
from credreg_shared.web.problems import (
    PLATFORM_ERROR_STATUSES,
    PROBLEM_JSON,
    Problem,
    ProblemError,
    ProblemResponse,
    install_error_statuses,
    problem_response,
    problem_responses,
)
from credreg_shared.web.readiness import ReadinessCheck, kafka_ready, mongo_ready
from credreg_shared.web.server import request_shutdown, serve, server_for, supervised_worker
from credreg_shared.web.use_cases import attach_use_cases, use_case

__all__ = [
    "PLATFORM_ERROR_STATUSES",
    "PROBLEM_JSON",
    "Problem",
    "ProblemError",
    "ProblemResponse",
    "ReadinessCheck",
    "add_readiness_check",
    "attach_use_cases",
    "create_app",
    "install_error_statuses",
    "kafka_ready",
    "metrics_registry",
    "not_modified",
    "public_cache_headers",
    "mongo_ready",
    "problem_response",
    "problem_responses",
    "request_shutdown",
    "serve",
    "server_for",
    "supervised_worker",
    "use_case",
]
