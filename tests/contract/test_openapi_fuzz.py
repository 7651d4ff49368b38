"""No 5xx on any input: generated requests for every route of each service's OpenAPI document,
in-process over the fakes, with the credentials each route declares; every answer must be a
documented status with a documented body."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    # negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .apps import SERVICES, Service

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    # negative_data_rejection,
]
"""Not `positive_data_acceptance`: schema-valid bodies may still break rules no JSON schema
says (`valid_until` after `valid_from`), and random ids are unknown (404)."""

EXAMPLES = int(os.environ.get("CREDREG_FUZZ_EXAMPLES", "0"))
"""Set to explore further: that many cases per route and mode, different on every run."""

BOUNDED = settings(
    max_examples=EXAMPLES or 25,
    deadline=None,
    derandomize=not EXAMPLES,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""By default a few cases per route and mode, the same on every run (a failure reproduces)."""


class Target:
    """One service's app, its schema, and the credentials each of its routes takes."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.app: FastAPI = service.build()
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", self.app)
        self.document: dict[str, Any] = self.app.openapi()

    def headers(self, case: Case[Any]) -> dict[str, str]:
        """Credentials of the first scheme the route declares that we hold a token of."""
        # Cases may use another method than the route's (an unsupported one: 405 expected).
        operation = self.document["paths"][case.operation.path].get(case.method.lower(), {})
        for requirement in operation.get("security", []):
            for scheme in requirement:
                if scheme in self.service.tokens:
                    return {"Authorization": f"Bearer {self.service.tokens[scheme]}"}
        return {}

    def check(self, case: Case[Any]) -> None:
        """Send the case with its credentials; fail on any answer the document does not allow."""
        case.call_and_validate(headers=self.headers(case), checks=CHECKS)


ISSUER, REGISTRY, REVOCATION, NOTIFIER = (Target(service) for service in SERVICES)


@ISSUER.schema.parametrize()
@BOUNDED
def test_issuer(case: Case[Any]) -> None:
    ISSUER.check(case)


@REGISTRY.schema.parametrize()
@BOUNDED
def test_registry(case: Case[Any]) -> None:
    REGISTRY.check(case)


@REVOCATION.schema.parametrize()
@BOUNDED
def test_revocation(case: Case[Any]) -> None:
    REVOCATION.check(case)


@NOTIFIER.schema.parametrize()
@BOUNDED
def test_notifier(case: Case[Any]) -> None:
    NOTIFIER.check(case)
