"""Webhook targets, secrets, delivery ids and the retry schedule."""

import pytest

from credreg_notifier.deliveries import backoff, delivery_id
from credreg_notifier.subscriptions import (
    SubscriptionRequest,
    check_secret,
    check_target,
    new_secret,
)
from credreg_shared.web import ProblemError


@pytest.mark.parametrize(
    "url",
    [
        "http://wallet.example/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest",
        "ftp://wallet.example/hook",
        "https:///no-host",
    ],
)
def test_private_plain_or_odd_targets_are_refused(url: str) -> None:
    with pytest.raises(ProblemError) as refused:
        check_target(url, allow_private=False)
    assert refused.value.status == 422


def test_public_https_ip_target_is_accepted_and_loopback_only_when_allowed() -> None:
    check_target("https://93.184.215.14/hook", allow_private=False)
    check_target("http://127.0.0.1:9000/hook", allow_private=True)


def test_generated_secrets_are_valid_and_bad_ones_refused() -> None:
    check_secret(new_secret())
    assert new_secret() != new_secret()
    for bad in ("nope", "whsec_!!!", "whsec_c2hvcnQ="):
        with pytest.raises(ProblemError):
            check_secret(bad)


def test_subscription_names_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SubscriptionRequest.model_validate({"url": "https://w.example/h"})
    with pytest.raises(ValueError, match="exactly one"):
        SubscriptionRequest.model_validate(
            {"url": "https://w.example/h", "holder_id": "h", "credential_id": "c"}
        )


def test_delivery_id_is_stable_per_subscription_and_event() -> None:
    assert delivery_id("s", "e") == delivery_id("s", "e")
    assert len({delivery_id("s", "e"), delivery_id("s", "f"), delivery_id("t", "e")}) == 3
    assert delivery_id("s", "e").startswith("msg_")


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff(n, base=1, cap=10) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
