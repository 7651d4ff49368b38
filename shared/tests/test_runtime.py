"""The chassis with fakes: routes served from the injected adapters, errors as problem+json."""

from dataclasses import dataclass, field
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends

from credreg_shared.errors import DomainError, PublishUnavailable, StorageUnavailable
from credreg_shared.runtime import Platform, ServiceDefinition, build_service_app
from credreg_shared.settings import ServiceSettings
from credreg_shared.web import use_case


class NotHere(DomainError):
    """Nothing by that name."""


@dataclass(frozen=True)
class Adapters:
    """The example service's one port: a dict of names."""

    names: dict[str, str]


class Lookup:
    """The example use case."""

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    async def find(self, key: str) -> str:
        if key == "log-down":
            raise PublishUnavailable("the event log did not acknowledge")
        if key == "db-down":
            raise StorageUnavailable("the database is unavailable")
        if key not in self.names:
            raise NotHere(f"no {key!r} here")
        return self.names[key]


router = APIRouter()


@router.get("/names/{key}")
async def get_name(key: str, lookup: Annotated[Lookup, Depends(use_case(Lookup))]) -> str:
    return await lookup.find(key)


def real_adapters(platform: Platform) -> Adapters:
    raise AssertionError("a fakes app must not build real adapters")


@dataclass(frozen=True)
class ExampleApi:
    """Stands for a service's ``api`` module."""

    TITLE: str = "example"
    DESCRIPTION: str = "the chassis under test"
    router: APIRouter = field(default_factory=lambda: router)
    ERROR_STATUSES: dict[type[Exception], int] = field(default_factory=lambda: {NotHere: 404})


DEFINITION = ServiceDefinition(
    api=ExampleApi(),
    adapters=real_adapters,
    use_cases=lambda adapters: [Lookup(adapters.names)],
)


@pytest.fixture
async def client() -> httpx.AsyncClient:
    app = build_service_app(DEFINITION, ServiceSettings(), fakes=Adapters({"ada": "Ada"}))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://example")


async def test_routes_reach_the_use_case_built_from_the_fakes(client: httpx.AsyncClient) -> None:
    async with client:
        answer = await client.get("/names/ada")
    assert (answer.status_code, answer.json()) == (200, "Ada")


@pytest.mark.parametrize(
    ("key", "status", "detail"),
    [
        ("bob", 404, "no 'bob' here"),
        ("log-down", 503, "the event log did not acknowledge"),
        ("db-down", 503, "the database is unavailable"),
    ],
)
async def test_errors_become_problems_with_the_mapped_status(
    client: httpx.AsyncClient, key: str, status: int, detail: str
) -> None:
    async with client:
        answer = await client.get(f"/names/{key}")
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == detail
    assert answer.json()["instance"] == f"/names/{key}"


async def test_a_fakes_app_has_no_lifespan_to_connect(client: httpx.AsyncClient) -> None:
    async with client:
        ready = await client.get("/readyz")
    assert ready.json() == {"status": "ok"}


def test_settling_the_heap_freezes_start_up_and_spaces_collections_out() -> None:
    import gc

    from credreg_shared.heap import GC_YOUNG_THRESHOLD, settle_heap

    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0, "start-up objects still in the collector's passes"
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
