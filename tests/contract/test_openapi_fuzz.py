"""No 5xx on any input: generated requests for every route of each service's OpenAPI document,
in-process over the fakes; every answer must be a documented status with a documented body.

Authorised paths are exercised, not only refusals: each route runs once per security scheme it
declares (`institutionApiKey`, `holderToken`, `adminApiKey`: with both the holder's token and the
institution's key where both open it), with a valid credential of that scheme, and the public
routes run anonymously. Each service is seeded, through its API or its projections, with a
resource of each kind its callers own (an institution made through the admin API, its API keys,
a batch and a status list; a credential in the registry's view and in the revocation service's
ownership view, achievements' renewals; subscriptions of the holder and of the institution), and
in about half of the generated cases a path parameter or top-level body field named in
`Seeded.path` / `Seeded.body` is replaced by the owner's value, or the whole body by a valid one
(`Seeded.bodies`); a route that deletes or ends what it is given gets resources of its own
(`Seeded.only`), so that the routes after it still find theirs. So 2xx and the owner's 409s are
reached on every route (but `POST /v1/holders/auth/token`, which needs a signature over a fresh
challenge), as well as 401, 403, 404 and 422; schemathesis' own negative cases still drop the
credentials (401 expected). The apps keep their state from case to case, in a fixed order.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    # negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.projection import CredentialProjection
from credreg_revocation.adapters.fakes import (
    InMemoryCredentialIssuer,
    InMemoryCredentialRepository,
)
from credreg_revocation.projection import OwnershipProjection
from credreg_shared.credentials.dids import did_key_for
from credreg_shared.credentials.keys import Ed25519KeyPair
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.issuance import IssueCredential
from credreg_shared.messaging.handlers import ConsumedEvent

from . import apps
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
says (`valid_until` after `valid_from`), and random ids are unknown (404). Not
`negative_data_rejection` either: the hooks below also turn some negative cases into the
owner's valid request, which it would then count as a schema-violating request accepted."""

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

ANONYMOUS = "anonymous"
"""The pseudo-scheme of the routes that declare no security requirement."""
STREAM_SECONDS = 0.3
"""How long an event stream (endless by design) is read before it is cut and its answer judged."""

HOLDER = apps.HOLDER
CREDENTIAL = "urn:uuid:7a1d1c52-0a57-4d1e-9d1e-6f0c0ffee0f1"
SECOND = "urn:uuid:7a1d1c52-0a57-4d1e-9d1e-6f0c0ffee0f2"
ACHIEVEMENT = "https://uni.example/achievements/fuzzing"
DOOMED_ACHIEVEMENT = "https://uni.example/achievements/fuzzing-deleted"
ENDED = {
    "revocation": "urn:uuid:7a1d1c52-0a57-4d1e-9d1e-6f0c0ffee0f3",
    "supersession": "urn:uuid:7a1d1c52-0a57-4d1e-9d1e-6f0c0ffee0f4",
    "suspension": "urn:uuid:7a1d1c52-0a57-4d1e-9d1e-6f0c0ffee0f5",
    "reinstatement": "urn:uuid:7a1d1c52-0a57-4d1e-9d1e-6f0c0ffee0f5",
}
"""The revocation service's lifecycle route → the credential it is given (suspended, then
reinstated: one; revoked and superseded: one each, so that neither ends the other's)."""
WEBHOOK = "https://wallet.example/hook"
HOLDER_WITH_A_KEY = did_key_for(Ed25519KeyPair.generate().public_key_bytes)
"""A holder DID the registry's challenge route takes (a did:key)."""


ISSUE = {
    "holder_id": HOLDER,
    "achievement": {"name": "Fuzzing", "competencies": [{"name": "Fuzz", "code": "F-1"}]},
}
"""A valid issue request."""


@dataclass
class Seeded:
    """One service's app, seeded, and the owner's values to put in generated requests."""

    app: FastAPI
    path: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Scheme → path parameter name → values of resources the scheme's caller owns."""
    only: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    """(METHOD, path) → as `path`, for a route that deletes or ends what it is given: resources
    of its own, so that the routes after it still find theirs."""
    body: dict[str, list[Any]] = field(default_factory=dict)
    """Top-level body field → values that make a request the owner's (any scheme)."""
    bodies: dict[tuple[str, str], list[Any]] = field(default_factory=dict)
    """(METHOD, path) → whole valid bodies (the owner's request, as the README shows it)."""


class Seeding:
    """Requests to an app in-process, one at a time, to seed it through its own API."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://seed") as http:
                return await http.request(method, path, **kwargs)

        return asyncio.run(send())

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)


def _made(response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 201, 202), response.text
    found: dict[str, Any] = response.json()
    return found


def _seeded_issuer() -> Seeded:
    app = apps.issuer()
    admin = {"Authorization": f"Bearer {apps.ADMIN_KEY}"}
    institution = {"Authorization": f"Bearer {apps.INSTITUTION_KEY}"}
    http = Seeding(app)
    made = {"slug": "fuzz-uni", "name": "F"}
    did = _made(http.post("/v1/institutions", json=made, headers=admin))["id"]
    keys = [
        _made(http.post(f"/v1/institutions/{did}/api-keys", json={}, headers=admin))
        for _ in range(2)
    ]
    # A hosted institution's credential names its status list (settings' institutions none).
    hosted = {"Authorization": f"Bearer {keys[0]['key']}"}
    issued = _made(http.post("/v1/credentials", json=ISSUE, headers=hosted))["credential"]
    status = issued["credentialStatus"]
    list_url = (status[0] if isinstance(status, list) else status)["statusListCredential"]
    items = {"items": [{"idempotency_key": "fuzz-item", "credential": ISSUE}]}
    batch = _made(http.post("/v1/credential-batches", json=items, headers=institution))["id"]
    return Seeded(
        app,
        path={
            "adminApiKey": {"institution_id": [did, apps.INSTITUTION], "key_id": [keys[0]["id"]]},
            "institutionApiKey": {"batch_id": [batch]},
            ANONYMOUS: {
                "institution_id": [did],
                "slug": ["fuzz-uni"],
                "list_id": [list_url.rsplit("/", 1)[1]],
            },
        },
        only={
            ("DELETE", "/v1/institutions/{institution_id}/api-keys/{key_id}"): {
                "institution_id": [did],
                "key_id": [keys[1]["id"]],
            }
        },
        body={"institution": [apps.INSTITUTION], "holder_id": [HOLDER]},
        bodies={
            ("POST", "/v1/credentials"): [ISSUE],
            ("POST", "/v1/credential-batches"): [
                {"items": [{"idempotency_key": "fuzz-item-2", "credential": ISSUE}]}
            ],
            ("POST", "/v1/institutions"): [{"slug": "fuzz-other", "name": "O"}],
            ("POST", "/v1/institutions/{institution_id}/api-keys"): [{"scopes": ["read"]}],
        },
    )


async def _project_registry(view: InMemoryView) -> None:
    issued = samples.credential_issued(CREDENTIAL, HOLDER).model_copy(
        update={"issuer_id": apps.INSTITUTION}
    )
    envelope = new_envelope(issued, source="urn:contract")
    await CredentialProjection(view).apply([ConsumedEvent(envelope, "credreg.credentials", 0, 0)])


def _seeded_registry() -> Seeded:
    view = InMemoryView()
    asyncio.run(_project_registry(view))
    owned = {"credential_id": [CREDENTIAL], "holder_id": [HOLDER]}
    return Seeded(
        apps.registry(view),
        path={"holderToken": owned, "institutionApiKey": owned, ANONYMOUS: owned},
        body={"holder_id": [HOLDER_WITH_A_KEY]},
        bodies={("POST", "/v1/holders/auth/challenge"): [{"holder_id": HOLDER_WITH_A_KEY}]},
    )


def _seeded_revocation() -> Seeded:
    credentials, issuer = InMemoryCredentialRepository(), InMemoryCredentialIssuer()
    projection = OwnershipProjection(credentials)

    async def record(credential_id: str, holder: str) -> None:
        data = samples.credential_issued(credential_id, holder)
        await projection.on_issued(
            new_envelope(data.model_copy(update={"issuer_id": apps.INSTITUTION}), source="urn:fz")
        )

    async def replacement_issued(credential_id: str, command: IssueCredential) -> None:
        await record(credential_id, command.holder_id)  # as the log would bring it

    async def seed() -> None:
        for credential in (CREDENTIAL, SECOND, *ENDED.values()):
            await record(credential, HOLDER)

    asyncio.run(seed())
    issuer.on_issued = replacement_issued
    app = apps.revocation(credentials, issuer=issuer)
    renewal = {"url": "https://uni.example/renew", "text": "Retake it"}
    owner = {"Authorization": f"Bearer {apps.INSTITUTION_KEY}"}
    http = Seeding(app)
    for achievement in (ACHIEVEMENT, DOOMED_ACHIEVEMENT):
        path = f"/v1/achievements/{achievement}/renewal"
        _made(http.put(path, json=renewal, headers=owner))
    reason = {"reason": "fuzzed"}
    return Seeded(
        app,
        path={
            "institutionApiKey": {
                "credential_id": [CREDENTIAL, SECOND],
                "achievement_id": [ACHIEVEMENT],
            }
        },
        only={
            ("DELETE", "/v1/achievements/{achievement_id}/renewal"): {
                "achievement_id": [DOOMED_ACHIEVEMENT]
            },
            **{
                ("POST", f"/v1/credentials/{{credential_id}}/{change}"): {
                    "credential_id": [credential]
                }
                for change, credential in ENDED.items()
            },
        },
        body={"superseded_by": [SECOND]},
        bodies={
            ("POST", "/v1/credentials/{credential_id}/revocation"): [reason],
            ("POST", "/v1/credentials/{credential_id}/suspension"): [reason],
            ("POST", "/v1/credentials/{credential_id}/reinstatement"): [reason],
            ("POST", "/v1/credentials/{credential_id}/supersession"): [
                {"replacement": ISSUE, **reason}
            ],
            ("PUT", "/v1/expiry-policy"): [{"lead_days": [60, 7]}],
            ("PUT", "/v1/achievements/{achievement_id}/renewal"): [renewal],
        },
    )


def _seeded_notifier() -> Seeded:
    app = apps.notifier()
    holder = {"Authorization": f"Bearer {apps.HOLDER_TOKEN}"}
    institution = {"Authorization": f"Bearer {apps.INSTITUTION_KEY}"}
    holders, institutions = {"holder_id": HOLDER}, {"issuer_id": apps.INSTITUTION}
    http = Seeding(app)

    def subscribe(headers: dict[str, str], target: dict[str, str]) -> str:
        payload = {**target, "url": WEBHOOK}
        found: str = _made(http.post("/v1/subscriptions", json=payload, headers=headers))["id"]
        return found

    kept = {"holderToken": subscribe(holder, holders)}
    kept["institutionApiKey"] = subscribe(institution, institutions)
    doomed = {"holderToken": subscribe(holder, holders)}
    doomed["institutionApiKey"] = subscribe(institution, institutions)
    return Seeded(
        app,
        path={
            scheme: {"subscription_id": [kept[scheme]], "holder_id": [HOLDER]} for scheme in kept
        },
        only={
            ("DELETE", "/v1/subscriptions/{subscription_id}"): {
                "subscription_id": [*doomed.values()]
            }
        },
        body={
            "url": [WEBHOOK],
            "holder_id": [HOLDER],
            "issuer_id": [apps.INSTITUTION],
            "credential_id": [CREDENTIAL],
        },
        bodies={
            # The holder's for its token, the institution's for its key (each 403 for the other).
            ("POST", "/v1/subscriptions"): [
                {**holders, "url": WEBHOOK},
                {**institutions, "url": WEBHOOK},
            ]
        },
    )


SEEDERS: dict[str, Callable[[], Seeded]] = {
    "issuer": _seeded_issuer,
    "registry": _seeded_registry,
    "revocation": _seeded_revocation,
    "notifier": _seeded_notifier,
}


def _schemes(operation: dict[str, Any]) -> set[str]:
    schemes = {scheme for requirement in operation.get("security", []) for scheme in requirement}
    return schemes or {ANONYMOUS}


def _mixed(generated: dict[str, Any], known: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """The generated values, each of those `known` names replaced by one of the owner's about
    half of the time."""
    return st.fixed_dictionaries(
        {
            name: st.one_of(st.just(value), st.sampled_from(known[name]))
            if name in known
            else st.just(value)
            for name, value in generated.items()
        }
    )


class Target:
    """One service's seeded app and its schema, restricted to the routes one scheme opens."""

    def __init__(self, service: Service, seeded: Seeded, scheme: str) -> None:
        self.service, self.seeded, self.scheme = service, seeded, scheme
        document = seeded.app.openapi()
        whole = schemathesis.openapi.from_asgi("/openapi.json", seeded.app)

        def declares(context: Any) -> bool:
            operation = document["paths"][context.operation.path][context.operation.method.lower()]
            return scheme in _schemes(operation)

        self.schema = whole.include(declares)
        token = service.tokens.get(scheme)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.streams = {
            (path, method.upper())
            for path, operations in document["paths"].items()
            for method, operation in operations.items()
            if any(
                "text/event-stream" in answer.get("content", {})
                for answer in operation.get("responses", {}).values()
            )
        }
        """The routes that answer an event stream."""

        @self.schema.hook
        def flatmap_path_parameters(context: Any, parameters: Any) -> st.SearchStrategy[Any]:
            if not isinstance(parameters, dict):
                return st.just(parameters)
            operation = (context.operation.method.upper(), context.operation.path)
            known = {**seeded.path.get(scheme, {}), **seeded.only.get(operation, {})}
            return _mixed(parameters, known)

        @self.schema.hook
        def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
            operation = (context.operation.method.upper(), context.operation.path)
            valid = seeded.bodies.get(operation, [])
            mixed = _mixed(body, seeded.body) if isinstance(body, dict) else st.just(body)
            return st.one_of(mixed, st.sampled_from(valid)) if valid else mixed

    def check(self, case: Case[Any]) -> None:
        """Send the case with the scheme's credentials; fail on any answer the document does not
        allow. An event stream is read for `STREAM_SECONDS`, then judged on what it sent."""
        streams = (case.operation.path, case.method.upper()) in self.streams
        kwargs: dict[str, Any] = {"timeout": STREAM_SECONDS} if streams else {}
        case.call_and_validate(headers=self.headers, checks=CHECKS, **kwargs)


def _targets() -> dict[str, Target]:
    targets = {}
    for service in SERVICES:
        seeded = SEEDERS[service.name]()
        document = seeded.app.openapi()
        schemes = {
            scheme
            for operations in document["paths"].values()
            for operation in operations.values()
            for scheme in _schemes(operation)
        }
        for scheme in sorted(schemes):
            targets[f"{service.name}_{scheme}"] = Target(service, seeded, scheme)
    return targets


TARGETS = _targets()


def test_every_declared_scheme_has_a_credential() -> None:
    """A route whose scheme we hold no token of would only ever be refused."""
    for target in TARGETS.values():
        assert target.scheme == ANONYMOUS or target.scheme in target.service.tokens, target.scheme


def _fuzz(name: str) -> Any:
    target = TARGETS[name]

    @target.schema.parametrize()
    @BOUNDED
    def test(case: Case[Any]) -> None:
        target.check(case)

    test.__name__ = f"test_{name}"
    return test


for _name in TARGETS:
    globals()[f"test_{_name}"] = pytest.mark.timeout(120)(_fuzz(_name))
