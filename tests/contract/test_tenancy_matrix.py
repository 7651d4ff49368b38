"""Tenancy matrix (#12, #15 part 3): every secured route of the four services, generated from
their OpenAPI documents, called by each kind of caller against resources that exist.

A route is secured when its OpenAPI operation declares a security requirement; the others must be
the explicit `PUBLIC` allow-list, so that a new public route is added there on purpose. Each
secured route is called:

- anonymously, with an unknown key, with an expired holder token (holder routes), and
  anonymously with a body that is not JSON (routes with a body) → 401;
- by another institution (a valid key of an institution that owns nothing here) and another
  holder (a valid token of a holder that owns nothing here) → 403 or 404;
- with a key of the owning institution kept by the issuer without the route's scope → 403;
- with the owner's credential of a scheme the route does not take (the holder's token on an
  institution route, the institution's key on a holder or admin route) → 401 or 403;
- by the rightful owner, with each scheme the route takes → 2xx.

Each case runs against a fresh service over its fakes, seeded (through its projections, or its
own API as the owner) with the owner's resources, whose ids fill the path parameters by name;
routes with a body get a valid one (ownership is decided after validation: a 422 would hide it).
Answers other than the rule's are findings, listed in `FINDINGS` as strict xfails.

Routes that act on the caller's own namespace (`CALLER_SCOPED`: a stranger lists, sets or issues
its own) may answer a stranger 2xx, but never with the owner's data. After every refused call the
owner's resources are checked unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from credreg_registry.adapters.fakes import InMemoryView
from credreg_registry.projection import CredentialProjection
from credreg_revocation.adapters.fakes import (
    InMemoryCredentialIssuer,
    InMemoryCredentialRepository,
)
from credreg_revocation.projection import OwnershipProjection
from credreg_shared.api_keys import InMemoryInstitutionKeys, KeptApiKey
from credreg_shared.auth import key_digest
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import new_envelope
from credreg_shared.holder_tokens import HolderTokenMinter
from credreg_shared.issuance import IssueCredential
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent

from . import apps

SKIPPED = {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/openapi.json"}
"""The chassis' routes, none of a tenant's."""

PUBLIC = {
    ("issuer", "GET", "/institutions/{slug}/did.json"),
    ("issuer", "GET", "/v1/institutions/{institution_id}/did.json"),
    ("issuer", "GET", "/v1/status-lists/{list_id}"),
    ("registry", "GET", "/v1/credentials/{credential_id}/verification"),
    # Employer search: over the credentials whose holders made them searchable only.
    ("registry", "GET", "/v1/search"),
    # A share link: its unguessable secret is the capability (404 once revoked or expired).
    ("registry", "GET", "/v1/shared/{secret}"),
    ("registry", "GET", "/v1/stats"),
    ("registry", "POST", "/v1/verify"),
    ("registry", "POST", "/v1/holders/auth/challenge"),
    ("registry", "POST", "/v1/holders/auth/token"),
    ("registry", "GET", "/contexts/v1"),
}
"""Routes without a security requirement, on purpose (README "HTTP APIs": `—` in the auth
column). A new route without one fails `test_the_public_routes_are_the_allowed_ones`."""

CALLER_SCOPED = {
    # Issues for the calling institution, whatever it names (no institution in the body).
    ("issuer", "POST", "/v1/credentials"),
    # README: "an institution sees only what it issued: its pages may be shorter".
    ("registry", "GET", "/v1/holders/{holder_id}/credentials"),
    ("revocation", "GET", "/v1/expiry-policy"),
    ("revocation", "PUT", "/v1/expiry-policy"),
    ("revocation", "GET", "/v1/achievements/{achievement_id}/renewal"),
    ("revocation", "PUT", "/v1/achievements/{achievement_id}/renewal"),
    ("revocation", "DELETE", "/v1/achievements/{achievement_id}/renewal"),
    ("notifier", "GET", "/v1/subscriptions"),
}
"""Routes on the caller's own namespace: another institution or holder acts on its own (2xx
allowed), never sees the owner's data nor changes it."""

ENDLESS = {("notifier", "GET", "/v1/holders/{holder_id}/events")}
"""Server-sent events never end: the owner's 200 is not awaited here (the holder stream tests of
the notifier show it); every refusal is."""

HOLDER = apps.HOLDER
OTHER_HOLDER = "did:example:grace"
OWNER = apps.INSTITUTION
OTHER = "did:web:other-uni.example"
OTHER_KEY = "contract-other-institution-key"
NARROW_KEY = "contract-narrow-key"
UNKNOWN_KEY = "contract-no-such-key"
CREDENTIAL = "urn:uuid:7a1d1c52-0a57-4d1e-9d1e-6f0c0ffee001"
ACHIEVEMENT = "https://uni.example/achievements/data-literacy"
PATHWAY = "cpr-pathway"
RENEWAL_URL = "https://uni.example/renew/data-literacy"
WEBHOOK = "https://wallet.example/hook"

INSTITUTION_SCHEME, HOLDER_SCHEME, ADMIN_SCHEME = "institutionApiKey", "holderToken", "adminApiKey"
MINTER = HolderTokenMinter(apps.HOLDER_TOKEN_KEY, lifetime=timedelta(hours=1))
EXPIRED = HolderTokenMinter(
    apps.HOLDER_TOKEN_KEY,
    lifetime=timedelta(minutes=5),
    clock=lambda: datetime.now(UTC) - timedelta(hours=1),
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue_body(holder: str = HOLDER) -> dict[str, Any]:
    """A valid issue request (as the issuer's tests send)."""
    return {
        "holder_id": holder,
        "achievement": {
            "name": "Data Literacy",
            "competencies": [{"name": "Read charts", "code": "DL-1"}],
        },
    }


Body = Callable[[str], Any]
"""A route's valid body, given the scheme of the caller."""


@dataclass
class World:
    """One service over its fakes with a resource of each kind seeded for its owner."""

    http: httpx.AsyncClient
    owner: dict[str, dict[str, str]]
    """Scheme → the owner's credentials."""
    stranger: dict[str, dict[str, str]]
    """Scheme → credentials of another institution or holder."""
    narrow: dict[str, str] | None
    """A key of the owning institution kept by the issuer without the scope this service wants."""
    params: dict[str, dict[str, str]]
    """Scheme → path parameter → the owner's resource."""
    bodies: dict[tuple[str, str], Body] = field(default_factory=dict)
    """(method, path) → valid body."""
    markers: tuple[str, ...] = ()
    """Strings only an answer about the owner's resources carries."""
    intact: Callable[[], Awaitable[None]] | None = None
    """Asserts the owner's resources are as seeded."""
    prepare: dict[tuple[str, str], Callable[[], Awaitable[None]]] = field(default_factory=dict)
    """What puts the resource in the state the route's owner call is allowed from (done for every
    caller, so that a refusal is the caller's, not the resource's state)."""


async def kept(keys: InMemoryInstitutionKeys, key: str, institution: str, *scopes: str) -> None:
    await keys.issued(key_digest(key).hex(), KeptApiKey(institution, frozenset(scopes)))


@asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield http


def created(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code in (200, 201, 202), answer.text
    found: dict[str, Any] = answer.json()
    return found


# --- seeding, one world per service -------------------------------------------------------


@asynccontextmanager
async def issuer_world() -> AsyncIterator[World]:
    admin = bearer(apps.ADMIN_KEY)
    async with client(apps.issuer()) as http:

        async def institution(slug: str) -> str:
            answer = await http.post(
                "/v1/institutions", json={"slug": slug, "name": slug}, headers=admin
            )
            found: str = created(answer)["id"]
            return found

        async def api_key(institution_id: str, *scopes: str) -> dict[str, Any]:
            path = f"/v1/institutions/{institution_id}/api-keys"
            return created(await http.post(path, json={"scopes": list(scopes)}, headers=admin))

        owner, other = await institution("uni-a"), await institution("uni-b")
        owner_key = (await api_key(owner, "issue"))["key"]
        other_key = (await api_key(other, "issue"))["key"]
        narrow_key = (await api_key(owner, "read", "revoke"))["key"]
        spare = (await api_key(owner, "read"))["id"]
        item = {"idempotency_key": "item-1", "credential": issue_body()}
        batch = {"institution": owner, "items": [item]}
        answer = await http.post("/v1/credential-batches", json=batch, headers=bearer(owner_key))
        batch_id = created(answer)["id"]
        institutions_before = created(await http.get("/v1/institutions", headers=admin))
        keys_before = created(await http.get(f"/v1/institutions/{owner}/api-keys", headers=admin))

        async def intact() -> None:
            path = f"/v1/credential-batches/{batch_id}"
            assert (await http.get(path, headers=bearer(owner_key))).status_code == 200
            listed = await http.get(f"/v1/institutions/{owner}/api-keys", headers=admin)
            assert created(listed) == keys_before
            listed = await http.get("/v1/institutions", headers=admin)
            assert created(listed) == institutions_before

        yield World(
            http,
            owner={INSTITUTION_SCHEME: bearer(owner_key), ADMIN_SCHEME: admin},
            stranger={INSTITUTION_SCHEME: bearer(other_key), ADMIN_SCHEME: bearer(other_key)},
            narrow=bearer(narrow_key),
            params={
                scheme: {"batch_id": batch_id, "institution_id": owner, "key_id": spare}
                for scheme in (INSTITUTION_SCHEME, ADMIN_SCHEME)
            },
            bodies={
                ("POST", "/v1/credentials"): lambda _: issue_body(),
                ("POST", "/v1/credential-batches"): lambda _: {
                    "institution": owner,
                    "items": [{"idempotency_key": "item-2", "credential": issue_body()}],
                },
                ("POST", "/v1/institutions"): lambda _: {"slug": "uni-c", "name": "C"},
                ("POST", "/v1/institutions/{institution_id}/api-keys"): lambda _: {
                    "scopes": ["read"]
                },
            },
            markers=(batch_id, owner),
            intact=intact,
        )


@asynccontextmanager
async def registry_world() -> AsyncIterator[World]:
    view, keys = InMemoryView(), InMemoryInstitutionKeys()
    issued = samples.credential_issued(CREDENTIAL, HOLDER).model_copy(update={"issuer_id": OWNER})
    envelope = new_envelope(issued, source="urn:contract")
    await CredentialProjection(view).apply([ConsumedEvent(envelope, "credreg.credentials", 0, 0)])
    await kept(keys, OTHER_KEY, OTHER, "read")
    await kept(keys, NARROW_KEY, OWNER, "issue", "revoke")
    async with client(apps.registry(view, keys)) as http:
        owner_token = bearer(MINTER.mint(HOLDER, authenticated_by="did")[0])

        link = created(
            await http.post(
                f"/v1/holders/{HOLDER}/share-links",
                json={"credential_ids": [CREDENTIAL]},
                headers=owner_token,
            )
        )

        institution = bearer(apps.INSTITUTION_KEY)
        pathway = {"name": "CPR pathway", "achievement_ids": [issued.achievement_id]}
        defined = created(
            await http.put(f"/v1/pathways/{PATHWAY}", json=pathway, headers=institution)
        )

        async def intact() -> None:
            path = f"/v1/credentials/{CREDENTIAL}"
            assert (await http.get(path, headers=owner_token)).status_code == 200
            kept = await http.get(f"/v1/pathways/{PATHWAY}", headers=institution)
            assert created(kept) == defined, "the owner's pathway changed"
            shared = await http.get(f"/v1/shared/{link['secret']}")
            assert shared.status_code == 200, "the owner's share link was revoked"
            listed = await http.get(f"/v1/holders/{HOLDER}/credentials", headers=owner_token)
            assert created(listed)["credentials"][0]["searchable"] is False

        params = {
            "credential_id": CREDENTIAL,
            "holder_id": HOLDER,
            "link_id": link["id"],
            "pathway_id": PATHWAY,
        }
        yield World(
            http,
            owner={HOLDER_SCHEME: owner_token, INSTITUTION_SCHEME: bearer(apps.INSTITUTION_KEY)},
            stranger={
                HOLDER_SCHEME: bearer(MINTER.mint(OTHER_HOLDER, authenticated_by="did")[0]),
                INSTITUTION_SCHEME: bearer(OTHER_KEY),
            },
            narrow=bearer(NARROW_KEY),
            params={HOLDER_SCHEME: params, INSTITUTION_SCHEME: params},
            bodies={
                ("PUT", "/v1/credentials/{credential_id}/searchable"): lambda _: {
                    "searchable": True
                },
                ("POST", "/v1/holders/{holder_id}/share-links"): lambda _: {
                    "credential_ids": [CREDENTIAL]
                },
                # Another name: a stranger's PUT that got through would show in `intact`.
                ("PUT", "/v1/pathways/{pathway_id}"): lambda _: {**pathway, "name": "Renamed"},
            },
            markers=(CREDENTIAL,),
            intact=intact,
        )


@asynccontextmanager
async def revocation_world() -> AsyncIterator[World]:
    credentials, keys = InMemoryCredentialRepository(), InMemoryInstitutionKeys()
    issuer, publisher = InMemoryCredentialIssuer(), InMemoryPublisher()
    projection = OwnershipProjection(credentials)

    async def record(credential_id: str, holder: str) -> None:
        data = samples.credential_issued(credential_id, holder)
        await projection.on_issued(
            new_envelope(data.model_copy(update={"issuer_id": OWNER}), source="urn:contract")
        )

    async def replacement_issued(credential_id: str, command: IssueCredential) -> None:
        await record(credential_id, command.holder_id)

    issuer.on_issued = replacement_issued
    await record(CREDENTIAL, HOLDER)
    await kept(keys, OTHER_KEY, OTHER, "revoke", "issue")
    await kept(keys, NARROW_KEY, OWNER, "issue", "read")
    owner = bearer(apps.INSTITUTION_KEY)
    async with client(apps.revocation(credentials, keys, issuer, publisher)) as http:
        renewal = {"url": RENEWAL_URL, "text": "Retake the assessment"}
        path = f"/v1/achievements/{ACHIEVEMENT}/renewal"
        created(await http.put(path, json=renewal, headers=owner))
        created(await http.put("/v1/expiry-policy", json={"lead_days": [60, 7]}, headers=owner))

        published = [0]
        """The events the owner's own changes published."""

        async def intact() -> None:
            assert len(publisher.envelopes()) == published[0]
            assert issuer.calls == []
            assert created(await http.get(path, headers=owner)) == renewal
            policy = created(await http.get("/v1/expiry-policy", headers=owner))
            assert policy == {"lead_days": [60, 7]}

        async def suspend() -> None:
            suspension = f"/v1/credentials/{CREDENTIAL}/suspension"
            created(await http.post(suspension, json={"reason": "checking"}, headers=owner))
            published[0] = len(publisher.envelopes())

        yield World(
            http,
            owner={INSTITUTION_SCHEME: owner},
            stranger={INSTITUTION_SCHEME: bearer(OTHER_KEY)},
            narrow=bearer(NARROW_KEY),
            params={
                INSTITUTION_SCHEME: {"credential_id": CREDENTIAL, "achievement_id": ACHIEVEMENT}
            },
            bodies={
                ("POST", "/v1/credentials/{credential_id}/revocation"): lambda _: {
                    "reason": "issued in error"
                },
                ("POST", "/v1/credentials/{credential_id}/suspension"): lambda _: {
                    "reason": "under review"
                },
                ("POST", "/v1/credentials/{credential_id}/reinstatement"): lambda _: {
                    "reason": "cleared"
                },
                ("POST", "/v1/credentials/{credential_id}/supersession"): lambda _: {
                    "replacement": issue_body(),
                    "reason": "corrected",
                },
                ("PUT", "/v1/expiry-policy"): lambda _: {"lead_days": [90]},
                ("PUT", "/v1/achievements/{achievement_id}/renewal"): lambda _: {
                    "url": "https://other-uni.example/renew",
                    "text": "Elsewhere",
                },
            },
            markers=(RENEWAL_URL, "[60,7]"),
            intact=intact,
            prepare={("POST", "/v1/credentials/{credential_id}/reinstatement"): suspend},
        )


@asynccontextmanager
async def notifier_world() -> AsyncIterator[World]:
    keys = InMemoryInstitutionKeys()
    await kept(keys, OTHER_KEY, OTHER, "read")
    await kept(keys, NARROW_KEY, OWNER, "issue", "revoke")
    holder = bearer(MINTER.mint(HOLDER, authenticated_by="did")[0])
    institution = bearer(apps.INSTITUTION_KEY)
    async with client(apps.notifier(keys)) as http:

        async def subscribe(headers: dict[str, str], target: dict[str, str]) -> str:
            payload = {**target, "url": WEBHOOK}
            found: str = created(
                await http.post("/v1/subscriptions", json=payload, headers=headers)
            )["id"]
            return found

        holders = await subscribe(holder, {"holder_id": HOLDER})
        institutions = await subscribe(institution, {"issuer_id": OWNER})

        async def intact() -> None:
            for headers, own in ((holder, holders), (institution, institutions)):
                listed = created(await http.get("/v1/subscriptions", headers=headers))
                assert own in str(listed)

        def body(scheme: str) -> dict[str, str]:
            target = {"holder_id": HOLDER} if scheme == HOLDER_SCHEME else {"issuer_id": OWNER}
            return {**target, "url": WEBHOOK}

        yield World(
            http,
            owner={HOLDER_SCHEME: holder, INSTITUTION_SCHEME: institution},
            stranger={
                HOLDER_SCHEME: bearer(MINTER.mint(OTHER_HOLDER, authenticated_by="did")[0]),
                INSTITUTION_SCHEME: bearer(OTHER_KEY),
            },
            narrow=bearer(NARROW_KEY),
            params={
                HOLDER_SCHEME: {"subscription_id": holders, "holder_id": HOLDER},
                INSTITUTION_SCHEME: {"subscription_id": institutions, "holder_id": HOLDER},
            },
            bodies={("POST", "/v1/subscriptions"): body},
            markers=(holders, institutions),
            intact=intact,
        )


WORLDS: dict[str, Callable[[], Any]] = {
    "issuer": issuer_world,
    "registry": registry_world,
    "revocation": revocation_world,
    "notifier": notifier_world,
}


# --- the route table ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str
    schemes: tuple[str, ...]
    body: bool = False
    """Whether the route takes a request body."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.method, self.path)

    def __str__(self) -> str:
        return f"{self.service} {self.method} {self.path}"


def template(path: str) -> str:
    """A route's path as its OpenAPI document spells it (no `:path` converters)."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def routes_of(service: apps.Service) -> tuple[list[Route], list[Route], set[tuple[str, str]]]:
    """(secured routes, public routes, routes of the app its document leaves out)."""
    app = service.build()
    document = app.openapi()
    secured: list[Route] = []
    public: list[Route] = []
    for path, methods in document["paths"].items():
        if path in SKIPPED:
            continue
        for method, operation in methods.items():
            requirements = operation.get("security", [])
            schemes = tuple(name for requirement in requirements for name in requirement)
            anonymous = not requirements or any(not r for r in requirements)
            route = Route(
                service.name,
                method.upper(),
                path,
                () if anonymous else schemes,
                body="requestBody" in operation,
            )
            (public if anonymous else secured).append(route)
    undocumented = {
        (method, template(route.path))
        for route in app.routes
        if isinstance(route, APIRoute) and template(route.path) not in SKIPPED
        for method in route.methods or ()
        if template(route.path) not in document["paths"]
        or method.lower() not in document["paths"][template(route.path)]
    }
    return secured, public, undocumented


TABLE = {service.name: routes_of(service) for service in apps.SERVICES}
SECURED = [route for secured, _, _ in TABLE.values() for route in secured]


def test_the_public_routes_are_the_allowed_ones() -> None:
    public = {route.key for _, found, _ in TABLE.values() for route in found}
    assert public == PUBLIC


def test_every_route_of_each_app_is_in_its_document() -> None:
    """A route left out of the OpenAPI document would escape the matrix."""
    assert {name: hidden for name, (_, _, hidden) in TABLE.items() if hidden} == {}


def test_the_matrix_covers_routes_of_every_service() -> None:
    assert {route.service for route in SECURED} == set(WORLDS)
    assert {key for key in CALLER_SCOPED | ENDLESS} <= {route.key for route in SECURED}


# --- callers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    name: str
    scheme: str
    """The scheme whose path parameters and body the call uses."""
    headers: Callable[[World], dict[str, str] | None]
    allowed: frozenset[int]
    owner: bool = False


def callers_of(route: Route) -> list[Caller]:
    """Who calls `route`, and what each may be answered."""
    first = route.schemes[0]
    unauthenticated = frozenset({401})
    refused = frozenset({403, 404})
    found = [
        Caller("anonymous", first, lambda _: {}, unauthenticated),
        Caller("unknown-key", first, lambda _: bearer(UNKNOWN_KEY), unauthenticated),
    ]
    if route.body:
        found.append(Caller(MALFORMED, first, lambda _: {}, unauthenticated))
    if INSTITUTION_SCHEME in route.schemes:
        found.append(
            Caller(
                "other-institution",
                INSTITUTION_SCHEME,
                lambda world: world.stranger[INSTITUTION_SCHEME],
                refused,
            )
        )
        found.append(
            Caller("wrong-scope", INSTITUTION_SCHEME, lambda world: world.narrow, frozenset({403}))
        )
    if ADMIN_SCHEME in route.schemes:
        found.append(
            Caller(
                "institution-key-on-admin-route",
                ADMIN_SCHEME,
                lambda world: world.stranger[ADMIN_SCHEME],
                frozenset({401, 403}),
            )
        )
    if INSTITUTION_SCHEME in route.schemes and HOLDER_SCHEME not in route.schemes:
        # The owning holder's own token, where only an institution key opens the route.
        found.append(
            Caller(
                "holder-token-on-institution-route",
                INSTITUTION_SCHEME,
                lambda _: bearer(MINTER.mint(HOLDER, authenticated_by="did")[0]),
                frozenset({401, 403}),
            )
        )
    if HOLDER_SCHEME in route.schemes and INSTITUTION_SCHEME not in route.schemes:
        # The owning institution's key, where only a holder token opens the route.
        found.append(
            Caller(
                "institution-key-on-holder-route",
                HOLDER_SCHEME,
                lambda _: bearer(apps.INSTITUTION_KEY),
                frozenset({401, 403}),
            )
        )
    if HOLDER_SCHEME in route.schemes:
        found.append(
            Caller(
                "other-holder", HOLDER_SCHEME, lambda world: world.stranger[HOLDER_SCHEME], refused
            )
        )
        expired = bearer(EXPIRED.mint(HOLDER, authenticated_by="did")[0])
        found.append(
            Caller("expired-holder-token", HOLDER_SCHEME, lambda _: expired, unauthenticated)
        )
    if route.key not in ENDLESS:
        found.extend(
            Caller(f"owner-{scheme}", scheme, owner_of(scheme), frozenset(range(200, 300)), True)
            for scheme in route.schemes
        )
    return found


def owner_of(scheme: str) -> Callable[[World], dict[str, str]]:
    """The owner's credentials of `scheme`."""
    return lambda world: world.owner[scheme]


MALFORMED = "anonymous-malformed-json"
"""No credentials and a body that is not JSON: the answer must still be the 401."""
STRANGERS = {"other-institution", "other-holder"}

FINDINGS: dict[tuple[str, str, str, str], str] = {}
"""(service, method, path, caller) → why the answer is not the rule's (strict xfail: fixing it
turns the case into a failure until its entry here is removed)."""


def cases() -> list[Any]:
    found = []
    for route in SECURED:
        for caller in callers_of(route):
            reason = FINDINGS.get((*route.key, caller.name))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            found.append(pytest.param(route, caller, id=f"{route}-{caller.name}", marks=marks))
    return found


@pytest.mark.parametrize(("route", "caller"), cases())
async def test_tenancy(route: Route, caller: Caller) -> None:
    async with WORLDS[route.service]() as world:
        headers = caller.headers(world)
        assert headers is not None, f"{route.service} has no narrow key"
        params = world.params.get(caller.scheme, {})
        path = re.sub(r"\{(\w+)\}", lambda match: params[match.group(1)], route.path)
        body = world.bodies.get((route.method, route.path))
        if (route.method, route.path) in world.prepare:
            await world.prepare[(route.method, route.path)]()
        content: bytes | None = None
        if caller.name == MALFORMED:
            content = b"{not json"
            headers = {**headers, "Content-Type": "application/json"}
        elif body is not None:
            content = json.dumps(body(caller.scheme)).encode()
            headers = {**headers, "Content-Type": "application/json"}
        answer = await world.http.request(route.method, path, headers=headers, content=content)
        status = answer.status_code
        detail = f"{route} as {caller.name}: {status} {answer.text[:300]}"
        if caller.owner:
            assert status in caller.allowed, detail
            return
        if caller.name in STRANGERS and route.key in CALLER_SCOPED:
            # Acts on its own namespace: never on, nor with, the owner's.
            assert status in caller.allowed | {200, 201, 204}, detail
            leaked = [marker for marker in world.markers if marker in answer.text.replace(" ", "")]
            assert not leaked, detail
        else:
            assert status in caller.allowed, detail
        assert world.intact is not None
        await world.intact()
