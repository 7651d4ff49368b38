"""Webhook targets (https, public addresses only) and the signed sender over a mock transport.

The target rules run against the DNS adapter and the static fake alike, so unit tests over the
fake refuse what production refuses. The sender tests prove that an attempt connects to the
address its check validated: resolvers here are fakes that count their calls and can answer
differently the second time (DNS rebinding), and the mock transport shows where httpx was
told to connect. `test_webhooks_loopback.py` does the same over real sockets and TLS.
"""

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from credreg_notifier.adapters.fakes import (
    InMemoryDeliveries,
    InMemorySubscriptions,
    RecordedOutcomes,
    StaticWebhookTargets,
)
from credreg_notifier.adapters.webhooks import DnsWebhookTargets, HttpxWebhookSender
from credreg_notifier.domain import (
    DELIVERED,
    PENDING,
    RetrySchedule,
    TargetRefused,
    new_delivery,
    new_secret,
)
from credreg_notifier.ports import WebhookTargets
from credreg_notifier.workers import DeliveryWorker
from credreg_shared.events import samples

BODY = '{"type":"org.credreg.credential.revoked.v1","timestamp":"2026-03-01T12:00:00Z","data":{}}'

REFUSED = [
    "http://93.184.215.14/hook",
    "https://127.0.0.1/hook",
    "https://127.1/hook",
    "https://localhost/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.1/hook",
    "https://100.64.0.1/hook",
    "https://0.0.0.0/hook",
    "https://[::1]/hook",
    "https://[fe80::1]/hook",
    "https://[fd00::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://169.254.169.254/latest",
    "https://does-not-exist.invalid/hook",
    "ftp://wallet.example/hook",
    "https:///no-host",
    "wallet.example/hook",
    "https://user:pw@93.184.215.14/hook",
    # IPv6 transition forms of private IPv4 addresses, and other non-public IPv6 ranges
    "https://[::ffff:10.0.0.1]/hook",
    "https://[::ffff:a9fe:a9fe]/latest",
    "https://[::7f00:1]/hook",
    "https://[2002:a00:1::1]/hook",
    "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/hook",
    "https://[64:ff9b::a00:1]/hook",
    "https://[64:ff9b:1::a00:1]/hook",
    "https://[fec0::1]/hook",
    "https://[ff02::1]/hook",
    "https://[::]/hook",
    "https://[2001:db8::1]/hook",
    "https://198.18.0.1/hook",
    "https://255.255.255.255/hook",
    "https://240.0.0.1/hook",
]

# What a name may resolve to that must refuse it: one of each transition form and range.
PRIVATE_ANSWERS = [
    ["10.0.0.1"],
    ["::ffff:10.0.0.1"],
    ["::a00:1"],
    ["2002:a00:1::"],
    ["2001:0:4136:e378:8000:63bf:f5ff:fffe"],
    ["64:ff9b::a00:1"],
    ["64:ff9b:1::a00:1"],
    ["fec0::1"],
    ["fe80::1%eth0"],
    ["fd00::1"],
    ["100.64.0.1"],
    ["93.184.215.14", "127.0.0.1"],  # one private answer among public ones is enough
]
PUBLIC = "93.184.215.14"


class Resolver:
    """A resolver that answers from a script and counts its calls.

    Each name's answers are given in order; the last one repeats. A name answering first
    public and then private is a DNS rebinding.
    """

    def __init__(self, answers: Mapping[str, Sequence[Sequence[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        if host not in self.answers:
            raise TargetRefused(f"url host {host!r} does not resolve")
        answers = self.answers[host]
        answer = answers[min(self.calls.count(host), len(answers) - 1)]
        self.calls.append(host)
        return list(answer)


class TargetsContract:
    """What every `WebhookTargets` refuses and accepts; subclasses give `targets`."""

    def targets(self, *, allow_private: bool) -> WebhookTargets:
        raise NotImplementedError

    @pytest.mark.parametrize("url", REFUSED)
    async def test_plain_private_or_odd_targets_are_refused(self, url: str) -> None:
        with pytest.raises(TargetRefused):
            await self.targets(allow_private=False).check(url)

    async def test_public_https_target_is_accepted(self) -> None:
        targets = self.targets(allow_private=False)
        await targets.check("https://93.184.215.14/hook")
        await targets.check("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/h")

    async def test_loopback_over_http_is_accepted_only_when_private_targets_are_allowed(
        self,
    ) -> None:
        await self.targets(allow_private=True).check("http://127.0.0.1:9000/hook")
        with pytest.raises(TargetRefused):
            await self.targets(allow_private=False).check("http://127.0.0.1:9000/hook")
        with pytest.raises(TargetRefused):
            await self.targets(allow_private=True).check("ftp://127.0.0.1/hook")


class TestDnsTargets(TargetsContract):
    def targets(self, *, allow_private: bool) -> WebhookTargets:
        return DnsWebhookTargets(allow_private=allow_private)

    @pytest.mark.parametrize("answer", PRIVATE_ANSWERS)
    async def test_a_name_resolving_to_any_non_public_form_is_refused(
        self, answer: list[str]
    ) -> None:
        resolver = Resolver({"wallet.example": [answer]})
        targets = DnsWebhookTargets(allow_private=False, resolver=resolver)
        with pytest.raises(TargetRefused, match="non-public address"):
            await targets.check("https://wallet.example/hook")
        assert resolver.calls == ["wallet.example"]

    async def test_the_target_keeps_every_checked_address_in_the_resolvers_order(self) -> None:
        answer = ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", PUBLIC]
        targets = DnsWebhookTargets(
            allow_private=False, resolver=Resolver({"wallet.example": [answer]})
        )
        target = await targets.target("https://wallet.example/hook")
        assert target.addresses == tuple(answer)

    async def test_a_name_is_accepted_on_loopback_only_when_private_targets_are_allowed(
        self,
    ) -> None:
        answers = {"wallet.test": [["127.0.0.1"]]}
        allowed = DnsWebhookTargets(allow_private=True, resolver=Resolver(answers))
        assert (await allowed.target("http://wallet.test:9000/h")).addresses == ("127.0.0.1",)
        refused = DnsWebhookTargets(allow_private=False, resolver=Resolver(answers))
        with pytest.raises(TargetRefused, match="loopback"):
            await refused.check("https://wallet.test:9000/h")

    async def test_a_name_with_no_address_is_refused(self) -> None:
        targets = DnsWebhookTargets(allow_private=True, resolver=Resolver({"empty.example": [[]]}))
        with pytest.raises(TargetRefused, match="does not resolve"):
            await targets.check("https://empty.example/hook")


def test_allowing_private_targets_warns_when_the_check_is_made(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="credreg_notifier.adapters.webhooks"):
        DnsWebhookTargets(allow_private=False)
        assert caplog.records == []
        DnsWebhookTargets(allow_private=True)
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING
    assert "CREDREG_ALLOW_PRIVATE_WEBHOOK_TARGETS is on" in warning.getMessage()


class TestStaticTargets(TargetsContract):
    def targets(self, *, allow_private: bool) -> WebhookTargets:
        return StaticWebhookTargets(
            allow_private=allow_private, hosts={"localhost": ["127.0.0.1", "::1"]}
        )

    async def test_a_name_is_judged_by_every_address_in_its_table(self) -> None:
        targets = StaticWebhookTargets(
            allow_private=False,
            hosts={"w.example": ["93.184.215.14"], "split.example": ["93.184.215.14", "10.0.0.1"]},
        )
        await targets.check("https://w.example/hook")
        with pytest.raises(TargetRefused, match="non-public"):
            await targets.check("https://split.example/hook")


def sender_answering(
    status: int,
    seen: list[httpx.Request],
    *,
    allow_private: bool = True,
    resolver: Resolver | None = None,
    headers: dict[str, str] | None = None,
) -> HttpxWebhookSender:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, headers=headers)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    targets = DnsWebhookTargets(allow_private=allow_private, resolver=resolver or Resolver({}))
    return HttpxWebhookSender(client, targets=targets, timeout_seconds=2)


async def test_the_sender_posts_a_body_whose_signature_verifies() -> None:
    seen: list[httpx.Request] = []
    secret = new_secret()
    sender = sender_answering(204, seen)
    error = await sender.send(
        url="http://127.0.0.1:1/hook", secret=secret, message_id="msg_1", body=BODY
    )
    assert error is None
    [request] = seen
    assert request.headers["webhook-id"] == "msg_1"
    assert request.headers["content-type"] == "application/json"
    assert (
        Webhook(secret)
        .verify(request.content, dict(request.headers))["type"]
        .endswith("revoked.v1")
    )
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(request.content, dict(request.headers))


async def test_a_non_2xx_answer_or_a_connection_error_is_reported() -> None:
    assert (
        await sender_answering(500, []).send(
            url="http://127.0.0.1:1/h", secret=new_secret(), message_id="m", body=BODY
        )
        == "HTTP 500"
    )

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    targets = DnsWebhookTargets(allow_private=True)
    sender = HttpxWebhookSender(client, targets=targets, timeout_seconds=2)
    error = await sender.send(
        url="http://127.0.0.1:1/h", secret=new_secret(), message_id="m", body=BODY
    )
    assert error == "ConnectError: connection refused"


async def test_a_target_that_now_resolves_privately_is_not_called() -> None:
    seen: list[httpx.Request] = []
    sender = sender_answering(204, seen, allow_private=False)
    error = await sender.send(
        url="https://127.0.0.1/hook", secret=new_secret(), message_id="m", body=BODY
    )
    assert error is not None and error.startswith("target refused")
    assert seen == []


async def test_the_post_goes_to_the_checked_address_and_names_the_host() -> None:
    seen: list[httpx.Request] = []
    resolver = Resolver({"wallet.example": [[PUBLIC]]})
    sender = sender_answering(204, seen, allow_private=False, resolver=resolver)
    error = await sender.send(
        url="https://Wallet.Example:8443/hooks/in?x=1",
        secret=new_secret(),
        message_id="m",
        body=BODY,
    )
    assert error is None
    [request] = seen
    assert str(request.url) == f"https://{PUBLIC}:8443/hooks/in?x=1"
    assert request.headers["host"] == "wallet.example:8443"
    assert request.extensions["sni_hostname"] == "wallet.example"
    assert request.headers["connection"] == "close"
    assert resolver.calls == ["wallet.example"]


async def test_an_ipv6_address_is_connected_to_in_brackets_and_plain_http_sends_no_sni() -> None:
    seen: list[httpx.Request] = []
    resolver = Resolver({"wallet.test": [["::1"]]})
    sender = sender_answering(204, seen, allow_private=True, resolver=resolver)
    assert (
        await sender.send(
            url="http://wallet.test:9000/h", secret=new_secret(), message_id="m", body=BODY
        )
        is None
    )
    [request] = seen
    assert str(request.url) == "http://[::1]:9000/h"
    assert request.headers["host"] == "wallet.test:9000"
    assert "sni_hostname" not in request.extensions
    # No name verified over plain http: the connection to the checked address is kept alive.
    assert request.headers.get("connection") != "close"


async def test_a_rebinding_name_cannot_make_the_sender_connect_to_its_private_answer() -> None:
    # The first answer is public and is checked; the name then points at loopback. The sender
    # must connect to the address it checked, having asked the resolver once.
    seen: list[httpx.Request] = []
    resolver = Resolver({"rebind.example": [[PUBLIC], ["127.0.0.1"]]})
    sender = sender_answering(204, seen, allow_private=False, resolver=resolver)
    error = await sender.send(
        url="https://rebind.example/hook", secret=new_secret(), message_id="m", body=BODY
    )
    assert error is None
    assert [request.url.host for request in seen] == [PUBLIC]
    assert resolver.calls == ["rebind.example"]


async def test_a_name_accepted_at_subscription_that_now_resolves_privately_fails_unsent() -> None:
    seen: list[httpx.Request] = []
    resolver = Resolver({"rebind.example": [[PUBLIC], ["10.0.0.1"]]})
    sender = sender_answering(204, seen, allow_private=False, resolver=resolver)
    await sender.targets.check("https://rebind.example/hook")  # as when it subscribed
    error = await sender.send(
        url="https://rebind.example/hook", secret=new_secret(), message_id="m", body=BODY
    )
    assert error == (
        "target refused: url resolves to a non-public address (10.0.0.1: private (10.0.0.0/8))"
    )
    assert seen == []


async def test_a_redirect_is_a_failed_attempt_and_its_location_is_never_requested() -> None:
    seen: list[httpx.Request] = []
    sender = sender_answering(
        302,
        seen,
        allow_private=False,
        resolver=Resolver({"wallet.example": [[PUBLIC]]}),
        headers={"location": "http://169.254.169.254/latest/meta-data/"},
    )
    error = await sender.send(
        url="https://wallet.example/hook", secret=new_secret(), message_id="m", body=BODY
    )
    assert error == "HTTP 302 (redirects are not followed)"
    assert [request.url.host for request in seen] == [PUBLIC]


async def test_when_a_checked_address_does_not_connect_the_next_one_is_tried() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "2606:2800:21f:cb07:6820:80da:af6b:8b2c":
            raise httpx.ConnectError("network unreachable", request=request)
        return httpx.Response(204)

    resolver = Resolver({"wallet.example": [["2606:2800:21f:cb07:6820:80da:af6b:8b2c", PUBLIC]]})
    targets = DnsWebhookTargets(allow_private=False, resolver=resolver)
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    sender = HttpxWebhookSender(client, targets=targets, timeout_seconds=2)
    error = await sender.send(
        url="https://wallet.example/h", secret=new_secret(), message_id="m", body=BODY
    )
    assert error is None
    assert seen == ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", PUBLIC]
    assert resolver.calls == ["wallet.example"]


async def test_an_error_after_the_connection_opened_is_not_retried_on_another_address() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        raise httpx.ReadTimeout("no answer", request=request)

    resolver = Resolver({"wallet.example": [[PUBLIC, "93.184.215.15"]]})
    targets = DnsWebhookTargets(allow_private=False, resolver=resolver)
    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    sender = HttpxWebhookSender(client, targets=targets, timeout_seconds=2)
    error = await sender.send(
        url="https://wallet.example/h", secret=new_secret(), message_id="m", body=BODY
    )
    # The notice may have arrived: the attempt fails and is retried later, not sent twice now.
    assert error == "ReadTimeout: no answer"
    assert seen == [PUBLIC]


async def test_a_redirect_leaves_the_delivery_pending_and_it_is_retried_like_any_failure() -> None:
    seen: list[httpx.Request] = []
    sender = sender_answering(
        301,
        seen,
        allow_private=False,
        resolver=Resolver({"wallet.example": [[PUBLIC]]}),
        headers={"location": "https://10.0.0.1/hook"},
    )
    subscriptions, deliveries = InMemorySubscriptions(), InMemoryDeliveries()
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    await subscriptions.add(
        {
            "_id": "sub",
            "holder_id": "did:key:h",
            "credential_id": None,
            "url": "https://wallet.example/hook",
            "secret": new_secret(),
            "created_at": now,
        }
    )
    delivery = new_delivery("sub", samples.sample_envelope(samples.credential_revoked()), now)
    await deliveries.add_once(delivery)
    clock = [now]
    worker = DeliveryWorker(
        deliveries=deliveries,
        subscriptions=subscriptions,
        sender=sender,
        outcomes=RecordedOutcomes(),
        schedule=RetrySchedule(max_attempts=3, base_seconds=1, max_seconds=60),
        lease=timedelta(seconds=30),
        clock=lambda: clock[0],
    )

    assert await worker.deliver_one() is True
    stored = deliveries.documents[delivery["_id"]]
    assert (stored["status"], stored["attempts"], stored["last_error"]) == (
        PENDING,
        1,
        "HTTP 301 (redirects are not followed)",
    )
    clock[0] += timedelta(seconds=1)
    assert await worker.deliver_one() is True
    assert stored["attempts"] == 2
    assert stored["status"] != DELIVERED
    assert [request.url.host for request in seen] == [PUBLIC, PUBLIC]
