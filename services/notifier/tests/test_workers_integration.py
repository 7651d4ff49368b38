"""The delivery worker over the real MongoDB: replicas share the work, and it always stops.

Stopping and cancelling happen while a MongoDB call is in flight, which is where the old loop
turned PyMongo's cancellation-caused ``AutoReconnect`` into an outage and polled forever.
"""

from __future__ import annotations

import asyncio
import gc
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from bson.codec_options import CodecOptions
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import AutoReconnect

from credreg_notifier.adapters.fakes import (
    InMemoryOwnerQuotas,
    RecordedOutcomes,
    StaticWebhookTargets,
)
from credreg_notifier.adapters.mongo import INDEXES, MongoDeliveries, MongoSubscriptions
from credreg_notifier.bootstrap import delivery_worker
from credreg_notifier.domain import DELIVERED, IN_FLIGHT, PENDING, Settlement, new_delivery
from credreg_notifier.ports import Adapters, DeliveryRepository
from credreg_notifier.settings import NotifierSettings
from credreg_notifier.workers import DeliveryWorker
from credreg_shared.events import samples
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.storage import ensure_indexes
from credreg_shared.storage.ports import Document
from credreg_shared.testing import eventually, finishes

pytestmark = pytest.mark.integration
T = TypeVar("T")

BOUND = 10.0  # seconds; a guard against hangs, not a timing assertion
BACKLOG = 300


def revoked(holder_id: str) -> Envelope:
    return samples.sample_envelope(samples.credential_revoked(holder_id=holder_id))


class CountingSender:
    """Counts attempts per ``webhook-id``; yields once so concurrent lanes interleave."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()

    async def send(
        self, *, url: str, secret: str, message_id: str, body: str, also: object = ()
    ) -> str | None:
        self.sent[message_id] += 1
        await asyncio.sleep(0.01)
        return None


class InFlight:
    """A `DeliveryRepository` that runs `action` while one of its MongoDB calls is under way.

    Once `ready()` holds, the next call schedules `action` (stop or cancel) for the loop's next
    step, when that call is suspended waiting for the server; `calls_when_acted` says how many
    calls were in flight at that moment.
    """

    def __init__(
        self, inner: DeliveryRepository, *, ready: Callable[[], bool], action: Callable[[], Any]
    ) -> None:
        self.inner = inner
        self.ready = ready
        self.action = action
        self.calls = 0
        self.calls_when_acted = 0
        self.acted = asyncio.Event()

    def _act(self) -> None:
        self.calls_when_acted = self.calls
        self.action()
        self.acted.set()

    async def _counted(self, call: Awaitable[T]) -> T:
        self.calls += 1
        if self.ready() and not self.acted.is_set():
            asyncio.get_running_loop().call_soon(self._act)
        try:
            return await call
        finally:
            self.calls -= 1

    async def add_once(self, delivery: Document) -> bool:
        return await self._counted(self.inner.add_once(delivery))

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        claim = self.inner.claim_due(now=now, lease_until=lease_until, lease_token=lease_token)
        return await self._counted(claim)

    async def settle(self, delivery_id: str, lease_token: str, settlement: Settlement) -> bool:
        return await self._counted(self.inner.settle(delivery_id, lease_token, settlement))

    async def of_subscription(self, subscription_id: str, *, limit: int) -> list[Document]:
        return await self._counted(self.inner.of_subscription(subscription_id, limit=limit))


class ClosedOnCancel:
    """A real collection whose cancelled calls fail as ``AutoReconnect``, as PyMongo's did in CI.

    The driver closes the connection under a cancelled operation and may report that as the
    connection being lost; the hang came from a loop that waited that "outage" out.
    """

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if name not in ("find_one", "find_one_and_update", "update_one"):
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return await attribute(*args, **kwargs)
            except asyncio.CancelledError:
                raise AutoReconnect("connection closed") from None

        return call


async def repositories(
    mongo_db: AsyncDatabase[Document], backlog: int
) -> tuple[MongoSubscriptions, MongoDeliveries, list[Document]]:
    """The service's repositories over the test's database, with `backlog` deliveries due."""
    db: AsyncDatabase[Document] = mongo_db.with_options(codec_options=CodecOptions(tz_aware=True))
    await ensure_indexes(db, INDEXES)
    subscriptions, deliveries = MongoSubscriptions(db), MongoDeliveries(db)
    await subscriptions.add(
        {"_id": "sub", "holder_id": "h", "url": "https://w.example/h", "secret": "whsec_x"}
    )
    now = datetime.now(UTC)
    planned = [new_delivery("sub", revoked("h"), now) for _ in range(backlog)]
    for delivery in planned:
        assert await deliveries.add_once(delivery)
    return subscriptions, deliveries, planned


def worker_over(
    subscriptions: MongoSubscriptions, deliveries: DeliveryRepository, sender: Any
) -> DeliveryWorker:
    settings = NotifierSettings(delivery_concurrency=8, delivery_poll_seconds=0.05)
    adapters = Adapters(
        subscriptions=subscriptions,
        deliveries=deliveries,
        targets=StaticWebhookTargets(allow_private=False),
        sender=sender,
        outcomes=RecordedOutcomes(),
        quotas=InMemoryOwnerQuotas(),
    )
    return delivery_worker(settings, adapters)


async def acted(repository: InFlight) -> None:
    """Wait for the repository to stop or cancel the worker, and check it hit a call."""
    async with asyncio.timeout(BOUND):
        await repository.acted.wait()
    assert repository.calls_when_acted > 0, "no MongoDB call was in flight"


async def statuses(deliveries: MongoDeliveries) -> Counter[str]:
    return Counter(d["status"] for d in await deliveries.of_subscription("sub", limit=1000))


async def test_stop_during_a_mongo_call_finishes_every_attempt_and_returns(
    mongo_db: AsyncDatabase[Document],
) -> None:
    subscriptions, deliveries, _ = await repositories(mongo_db, BACKLOG)
    sender = CountingSender()
    repository = InFlight(deliveries, ready=lambda: bool(sender.sent), action=lambda: worker.stop())
    worker = worker_over(subscriptions, repository, sender)
    task = asyncio.create_task(worker.run())
    try:
        await acted(repository)
        assert await finishes(task, BOUND), "the worker did not return after stop"
        assert task.result() is None
    finally:
        task.cancel()
        await finishes(task, BOUND)
    found = await statuses(deliveries)
    assert found[IN_FLIGHT] == 0, f"an attempt was abandoned mid-way: {found}"
    assert found[PENDING] > 0, f"the worker ran out of work instead of stopping: {found}"
    assert found[DELIVERED] == sum(sender.sent.values())


# PyMongo can drop the connection of a cancelled call without closing its socket; the socket's
# ResourceWarning then surfaces whenever the garbage collector finds it. The test collects it
# itself (below), so the warning belongs to this test, where it is expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore:unclosed <socket.socket:ResourceWarning")
@pytest.mark.parametrize("driver", ["as installed", "reporting cancelled calls as outages"])
async def test_cancel_during_a_mongo_call_ends_the_worker(
    mongo_db: AsyncDatabase[Document], driver: str
) -> None:
    subscriptions, deliveries, _ = await repositories(mongo_db, BACKLOG)
    if driver == "reporting cancelled calls as outages":
        deliveries.collection = ClosedOnCancel(deliveries.collection)  # type: ignore[assignment]
        subscriptions.collection = ClosedOnCancel(subscriptions.collection)  # type: ignore[assignment]
    sender = CountingSender()
    repository = InFlight(deliveries, ready=lambda: bool(sender.sent), action=lambda: task.cancel())
    worker = worker_over(subscriptions, repository, sender)
    task = asyncio.create_task(worker.run())
    try:
        await acted(repository)
        assert await finishes(task, BOUND), "the worker absorbed its cancellation and polls on"
        assert task.cancelled()
        assert repository.calls == 0
    finally:
        worker.stop()
        await finishes(task, BOUND)
        gc.collect()  # the cancelled call's socket, if the driver left it open
    assert (await statuses(deliveries))[PENDING] > 0


async def test_two_replicas_claiming_the_same_deliveries_send_each_exactly_once(
    mongo_db: AsyncDatabase[Document],
) -> None:
    subscriptions, deliveries, planned = await repositories(mongo_db, 30)
    senders = [CountingSender(), CountingSender()]
    replicas = [worker_over(subscriptions, deliveries, s) for s in senders]
    tasks = [asyncio.create_task(replica.run()) for replica in replicas]
    try:

        async def all_delivered() -> bool:
            found = await deliveries.of_subscription("sub", limit=100)
            return len(found) == len(planned) and all(d["status"] == DELIVERED for d in found)

        await eventually(all_delivered, "every planned delivery is delivered")
    finally:
        for replica in replicas:
            replica.stop()
        for task in tasks:
            assert await finishes(task, BOUND)
    sent = senders[0].sent + senders[1].sent
    assert sorted(sent) == sorted(d["_id"] for d in planned)
    assert set(sent.values()) == {1}
