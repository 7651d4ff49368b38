"""Webhook targets (https, public addresses only) and Standard Webhooks secrets."""

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from credreg_notifier.subscriptions import (
    InvalidSecret,
    SubscriptionRequest,
    check_secret,
    new_secret,
)
from credreg_notifier.targets import TargetRefused, check_target, is_public


@pytest.mark.parametrize(
    "url",
    [
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
    ],
)
async def test_plain_private_or_odd_targets_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        await check_target(url, allow_private=False)


async def test_public_https_target_is_accepted() -> None:
    await check_target("https://93.184.215.14/hook", allow_private=False)
    await check_target("https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/h", allow_private=False)


async def test_loopback_over_http_is_accepted_only_when_private_targets_are_allowed() -> None:
    await check_target("http://127.0.0.1:9000/hook", allow_private=True)
    with pytest.raises(TargetRefused):
        await check_target("http://127.0.0.1:9000/hook", allow_private=False)
    with pytest.raises(TargetRefused):
        await check_target("ftp://127.0.0.1/hook", allow_private=True)


def test_ipv4_mapped_addresses_are_judged_by_their_ipv4_address() -> None:
    assert not is_public("::ffff:10.0.0.1")
    assert is_public("::ffff:93.184.215.14")
    assert not is_public("224.0.0.1")


def test_generated_secrets_are_valid_distinct_and_sign_per_standard_webhooks() -> None:
    secret = new_secret()
    check_secret(secret)
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert new_secret() != secret
    now = datetime.now(UTC)
    signature = Webhook(secret).sign("msg_1", now, '{"a":1}')
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}


def test_given_secret_needs_the_prefix_base64_and_24_bytes() -> None:
    check_secret("whsec_" + base64.b64encode(bytes(24)).decode())
    bad = [
        base64.b64encode(bytes(32)).decode(),
        "whsec_!!!not-base64!!!",
        "whsec_" + base64.b64encode(bytes(23)).decode(),
        "whsec_",
    ]
    for secret in bad:
        with pytest.raises(InvalidSecret):
            check_secret(secret)


def test_a_subscription_names_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SubscriptionRequest.model_validate({"url": "https://w.example/h"})
    with pytest.raises(ValueError, match="exactly one"):
        SubscriptionRequest.model_validate(
            {"url": "https://w.example/h", "holder_id": "h", "credential_id": "c"}
        )
    assert SubscriptionRequest.model_validate({"url": "https://w.example/h", "holder_id": "h"})
