"""Webhook targets (https, public addresses only) and the signed sender over a mock transport.

The target rules run against the DNS adapter and the static fake alike, so unit tests over the
fake refuse what production refuses.
"""

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from credreg_notifier.adapters.fakes import StaticWebhookTargets
from credreg_notifier.adapters.webhooks import DnsWebhookTargets, HttpxWebhookSender
from credreg_notifier.domain import TargetRefused, new_secret
from credreg_notifier.ports import WebhookTargets

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
]


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
    status: int, seen: list[httpx.Request], *, allow_private: bool = True
) -> HttpxWebhookSender:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    targets = DnsWebhookTargets(allow_private=allow_private)
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
