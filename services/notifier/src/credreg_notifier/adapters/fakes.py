"""In-memory fakes of the notifier's ports with the real adapters' semantics, for unit tests."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Mapping, Sequence
from datetime import datetime

from credreg_notifier.domain import (
    IN_FLIGHT,
    PENDING,
    HolderEvent,
    Settlement,
    TargetRefused,
    refuse_private_addresses,
    webhook_host,
)
from credreg_notifier.ports import StreamItem, Target
from credreg_shared.storage.ports import Document


class InMemorySubscriptions:
    """``SubscriptionRepository`` in a dict."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}

    async def add(self, subscription: Document) -> None:
        """Store a copy; a taken id fails like a unique ``_id``."""
        if subscription["_id"] in self.documents:
            raise KeyError(f"duplicate subscription id {subscription['_id']!r}")
        self.documents[subscription["_id"]] = copy.deepcopy(subscription)

    async def get(self, subscription_id: str) -> Document | None:
        """A copy of one subscription, or None."""
        found = self.documents.get(subscription_id)
        return copy.deepcopy(found) if found is not None else None

    async def remove(self, subscription_id: str) -> bool:
        """Delete; False when there was none."""
        return self.documents.pop(subscription_id, None) is not None

    async def matching(
        self, *, credential_id: str, holder_id: str, issuer_id: str
    ) -> list[Document]:
        """Subscriptions to this credential, to its holder or to its issuer."""
        return [
            copy.deepcopy(s)
            for s in self.documents.values()
            if s.get("credential_id") == credential_id
            or s.get("holder_id") == holder_id
            or s.get("issuer_id") == issuer_id
        ]

    async def matching_many(self, targets: Sequence[Target]) -> list[list[Document]]:
        """`matching` of each target."""
        return [
            await self.matching(credential_id=c, holder_id=h, issuer_id=i) for c, h, i in targets
        ]

    async def owned_by(self, owner: str, *, limit: int) -> list[Document]:
        """An owner's subscriptions (at most `limit`), oldest first."""
        mine = [s for s in self.documents.values() if s.get("owner") == owner]
        return [copy.deepcopy(s) for s in sorted(mine, key=lambda s: s["created_at"])][:limit]

    async def replace_secret(
        self, subscription_id: str, *, secret: str, previous: str, previous_until: datetime
    ) -> bool:
        """Put a new secret in, keeping the previous one for a while."""
        found = self.documents.get(subscription_id)
        if found is None:
            return False
        found.update(secret=secret, previous_secret=previous, previous_until=previous_until)
        return True


class InMemoryOwnerQuotas:
    """``OwnerQuotas`` in a dict."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def reserve(self, owner: str, *, limit: int) -> bool:
        """Take one of the owner's places."""
        return self._increment(owner, limit)

    async def release(self, owner: str) -> None:
        """Give a place back."""
        if self.counts.get(owner, 0) > 0:
            self.counts[owner] -= 1

    async def count_creation(self, owner: str, *, minute: str, limit: int) -> bool:
        """Count a creation in `minute`; False past `limit`."""
        return self._increment(f"{owner}|{minute}", limit)

    def _increment(self, counter: str, limit: int) -> bool:
        if self.counts.get(counter, 0) >= limit:
            return False
        self.counts[counter] = self.counts.get(counter, 0) + 1
        return True


class InMemoryDeliveries:
    """``DeliveryRepository`` in a dict; each call is atomic, as one MongoDB operation is."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}

    async def add_once(self, delivery: Document) -> bool:
        """Insert a copy; False when the id is taken."""
        if delivery["_id"] in self.documents:
            return False
        self.documents[delivery["_id"]] = copy.deepcopy(delivery)
        return True

    async def add_many_once(self, deliveries: Sequence[Document]) -> set[str]:
        """`add_once` of each; the ids added."""
        return {d["_id"] for d in deliveries if await self.add_once(d)}

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take the earliest due delivery, or one whose lease ran out."""
        due = [
            d
            for d in self.documents.values()
            if (d["status"] == PENDING and d["next_attempt_at"] <= now)
            or (d["status"] == IN_FLIGHT and d["lease_until"] <= now)
        ]
        if not due:
            return None
        claimed = min(due, key=lambda d: (d["status"] != PENDING, d["next_attempt_at"]))
        claimed.update(
            status=IN_FLIGHT,
            lease_until=lease_until,
            lease_token=lease_token,
            attempts=claimed["attempts"] + 1,
        )
        return copy.deepcopy(claimed)

    async def claim(
        self, delivery_id: str, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take this delivery if it is due, or its lease ran out."""
        found = self.documents.get(delivery_id)
        if found is None or not (
            (found["status"] == PENDING and found["next_attempt_at"] <= now)
            or (found["status"] == IN_FLIGHT and found["lease_until"] <= now)
        ):
            return None
        found.update(
            status=IN_FLIGHT,
            lease_until=lease_until,
            lease_token=lease_token,
            attempts=found["attempts"] + 1,
        )
        return copy.deepcopy(found)

    async def settle(self, delivery_id: str, lease_token: str, settlement: Settlement) -> bool:
        """Record the outcome if the lease is still `lease_token`'s."""
        delivery = self.documents.get(delivery_id)
        if delivery is None or delivery.get("lease_token") != lease_token:
            return False
        if delivery["status"] != IN_FLIGHT:
            return False
        delivery.update(
            status=settlement.status,
            last_error=settlement.last_error,
            next_attempt_at=settlement.next_attempt_at,
        )
        delivery.pop("lease_until", None)
        delivery.pop("lease_token", None)
        return True

    async def of_subscription(self, subscription_id: str, *, limit: int) -> list[Document]:
        """A subscription's deliveries without their bodies, oldest first."""
        found = [d for d in self.documents.values() if d["subscription_id"] == subscription_id]
        oldest_first = sorted(found, key=lambda d: d["created_at"])[:limit]
        return [{k: copy.deepcopy(v) for k, v in d.items() if k != "body"} for d in oldest_first]


class StaticWebhookTargets:
    """``WebhookTargets`` with the DNS adapter's rules over a fixed table of host addresses.

    IP literals stand for themselves; a name missing from `hosts` does not resolve.
    """

    def __init__(
        self, *, allow_private: bool, hosts: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.allow_private = allow_private
        self.hosts = {name.lower(): list(addresses) for name, addresses in (hosts or {}).items()}

    async def check(self, url: str) -> None:
        """Raise `TargetRefused` unless `url` is https to public addresses (or private allowed)."""
        host = webhook_host(url, allow_private=self.allow_private)
        if not self.allow_private:
            refuse_private_addresses(self.resolve(host))

    def resolve(self, host: str) -> list[str]:
        """The table's addresses of `host`."""
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if host.lower() not in self.hosts:
            raise TargetRefused(f"url host {host!r} does not resolve")
        return self.hosts[host.lower()]


class ScriptedSender:
    """``WebhookSender`` answering the scripted errors first (None = 2xx), then success."""

    def __init__(self, *outcomes: str | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[dict[str, str]] = []

    async def send(
        self, *, url: str, secret: str, message_id: str, body: str, also: Sequence[str] = ()
    ) -> str | None:
        """Record the call and answer the next scripted outcome."""
        call = {"url": url, "secret": secret, "message_id": message_id, "body": body}
        self.calls.append(call | ({"also": " ".join(also)} if also else {}))
        return self.outcomes.pop(0) if self.outcomes else None


class RecordedOutcomes:
    """``DeliveryOutcomes`` as a list of the statuses recorded, in order."""

    def __init__(self) -> None:
        self.statuses: list[str] = []

    def record(self, status: str) -> None:
        """Remember one recorded attempt's status."""
        self.statuses.append(status)


class InMemoryHolderEvents:
    """``HolderEventStore`` in dicts, numbering like the Mongo adapter (count, then write)."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}
        self.numbers: dict[tuple[str, str], int] = {}
        self.slots: dict[tuple[str, int], HolderEvent | None] = {}

    async def append_once(self, holder_id: str, *, event_id: str, kind: str, body: str) -> bool:
        """Write the event under its number (a new one when its number was skipped)."""
        key = (holder_id, event_id)
        if key not in self.numbers:
            self.numbers[key] = self.count(holder_id)
        while (holder_id, self.numbers[key]) in self.slots:
            written = self.slots[(holder_id, self.numbers[key])]
            if written is not None:
                return False  # written already: a redelivery
            self.numbers[key] = self.count(holder_id)
        seq = self.numbers[key]
        self.slots[(holder_id, seq)] = HolderEvent(seq, event_id, kind, body)
        return True

    async def append_many_once(self, items: Sequence[StreamItem]) -> list[bool]:
        """`append_once` of each, in order."""
        return [
            await self.append_once(holder, event_id=event_id, kind=kind, body=body)
            for holder, event_id, kind, body in items
        ]

    async def last_seq(self, holder_id: str) -> int:
        """The holder's counter."""
        return self.counters.get(holder_id, 0)

    async def last_seqs(self, holder_ids: Sequence[str]) -> dict[str, int]:
        """The counters of several holders."""
        return {h: self.counters[h] for h in holder_ids if h in self.counters}

    async def read(self, holder_id: str, seqs: Sequence[int]) -> dict[int, HolderEvent | None]:
        """The written numbers among `seqs`."""
        return {seq: self.slots[(holder_id, seq)] for seq in seqs if (holder_id, seq) in self.slots}

    async def skip(self, holder_id: str, seq: int) -> None:
        """Mark the number empty unless written."""
        self.slots.setdefault((holder_id, seq), None)

    def count(self, holder_id: str) -> int:
        """Count a number (as a writer that dies next would leave it: counted, never written)."""
        self.counters[holder_id] = self.counters.get(holder_id, 0) + 1
        return self.counters[holder_id]
