"""The notifier's rules: delivery ids, notice bodies, retries, secrets, URL shapes, addresses."""

import base64
import ipaddress
import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from credreg_notifier.domain import (
    DEAD,
    DELIVERED,
    PENDING,
    InvalidSecret,
    RetrySchedule,
    Settlement,
    SubscriptionNotFound,
    SubscriptionRequest,
    TargetRefused,
    address_refusal,
    check_secret,
    delivery_id,
    embedded_ipv4,
    is_public,
    new_delivery,
    new_secret,
    new_subscription,
    notice_body,
    public,
    refuse_private_addresses,
    settle,
    shown,
    webhook_host,
)
from credreg_shared.errors import DomainError
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule(max_attempts=4, base_seconds=2, max_seconds=10)


def revoked_envelope() -> Envelope:
    return samples.sample_envelope(
        models.CredentialRevoked(
            credential_id="urn:uuid:c-1",
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=samples.SAMPLE_HOLDER,
            reason="issued in error",
        )
    )


def test_delivery_id_is_stable_per_subscription_and_event() -> None:
    assert delivery_id("s", "e") == delivery_id("s", "e")
    assert len({delivery_id("s", "e"), delivery_id("s", "f"), delivery_id("t", "e")}) == 3
    assert delivery_id("s", "e").startswith("msg_")


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    delays = [SCHEDULE.delay(n).total_seconds() for n in range(1, 7)]
    assert delays == [2, 4, 8, 10, 10, 10]
    assert SCHEDULE.delay(10_000) == timedelta(seconds=10)


def test_the_notice_body_carries_type_time_and_event_data() -> None:
    envelope = revoked_envelope()
    body = json.loads(notice_body(envelope))
    assert body["type"] == models.CredentialRevoked.event_type
    assert body["timestamp"].endswith("Z")
    assert body["data"]["credential_id"] == "urn:uuid:c-1"
    assert body["data"]["reason"] == "issued in error"


def test_the_notice_of_a_superseded_credential_names_its_replacement() -> None:
    envelope = samples.sample_envelope(
        models.CredentialRevoked(
            credential_id="urn:uuid:c-1",
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=samples.SAMPLE_HOLDER,
            reason=models.REVOCATION_REASON_SUPERSEDED,
            superseded_by="urn:uuid:c-2",
        )
    )
    data = json.loads(notice_body(envelope))["data"]
    assert (data["reason"], data["superseded_by"]) == ("superseded", "urn:uuid:c-2")


RENEWAL_JSON = {"url": samples.RENEWAL.url, "text": samples.RENEWAL.text}
VALID_UNTIL_JSON = "2028-01-15T09:00:00Z"


def test_the_notice_of_an_expiring_credential_says_when_how_early_and_how_to_renew() -> None:
    envelope = samples.sample_envelope(
        models.CredentialExpiring(
            credential_id="urn:uuid:c-1",
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=samples.SAMPLE_HOLDER,
            valid_until=samples.VALID_UNTIL,
            lead_days=30,
            renewal=samples.RENEWAL,
        )
    )
    body = json.loads(notice_body(envelope))
    assert body["type"] == models.CredentialExpiring.event_type
    assert (body["data"]["valid_until"], body["data"]["lead_days"], body["data"]["renewal"]) == (
        VALID_UNTIL_JSON,
        30,
        RENEWAL_JSON,
    )


def test_the_notice_of_an_expired_credential_says_when_and_how_to_renew() -> None:
    envelope = samples.sample_envelope(
        models.CredentialExpired(
            credential_id="urn:uuid:c-1",
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=samples.SAMPLE_HOLDER,
            valid_until=samples.VALID_UNTIL,
            renewal=samples.RENEWAL,
        )
    )
    body = json.loads(notice_body(envelope))
    assert body["type"] == models.CredentialExpired.event_type
    assert (body["data"]["valid_until"], body["data"]["renewal"]) == (
        VALID_UNTIL_JSON,
        RENEWAL_JSON,
    )


def test_a_notice_without_lead_time_or_renewal_says_so_with_nulls() -> None:
    """Events from before lead times and renewals existed: the keys are there, null."""
    envelope = samples.sample_envelope(
        models.CredentialExpiring(
            credential_id="urn:uuid:c-1",
            issuer_id=samples.SAMPLE_ISSUER,
            holder_id=samples.SAMPLE_HOLDER,
            valid_until=samples.VALID_UNTIL,
        )
    )
    data = json.loads(notice_body(envelope))["data"]
    assert (data["lead_days"], data["renewal"]) == (None, None)


def test_a_new_delivery_is_pending_now_under_its_deterministic_id() -> None:
    envelope = revoked_envelope()
    delivery = new_delivery("sub-1", envelope, NOW)
    assert delivery["_id"] == delivery_id("sub-1", envelope.id)
    assert (delivery["status"], delivery["attempts"], delivery["next_attempt_at"]) == (
        PENDING,
        0,
        NOW,
    )


def test_a_2xx_answer_delivers() -> None:
    assert settle(1, None, SCHEDULE, NOW) == Settlement(DELIVERED)


def test_a_failure_before_the_last_attempt_waits_the_backoff() -> None:
    assert settle(1, "HTTP 500", SCHEDULE, NOW) == Settlement(
        PENDING, "HTTP 500", NOW + timedelta(seconds=2)
    )
    assert settle(3, "HTTP 503", SCHEDULE, NOW).next_attempt_at == NOW + timedelta(seconds=8)


def test_the_last_failed_attempt_is_a_dead_letter_with_a_bounded_error() -> None:
    outcome = settle(4, "x" * 10_000, SCHEDULE, NOW)
    assert outcome.status == DEAD
    assert outcome.next_attempt_at is None
    assert outcome.last_error is not None and len(outcome.last_error) == 500


def test_a_listed_delivery_shows_its_state_but_not_its_body() -> None:
    listed = shown(new_delivery("sub-1", revoked_envelope(), NOW))
    assert set(listed) == {
        "id",
        "event_id",
        "type",
        "status",
        "attempts",
        "last_error",
        "next_attempt_at",
    }


def test_a_shown_subscription_names_its_target_but_never_its_secret() -> None:
    request = SubscriptionRequest(holder_id="did:key:h", url="https://w.example/h")
    shown_subscription = public(new_subscription(request, new_secret(), NOW, owner="holder:h"))
    assert shown_subscription["holder_id"] == "did:key:h"
    assert "credential_id" not in shown_subscription
    assert "secret" not in shown_subscription
    assert (shown_subscription["url"], shown_subscription["created_at"]) == (
        "https://w.example/h",
        NOW,
    )


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


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",
        "ftp://wallet.example/hook",
        "https:///no-host",
        "wallet.example/hook",
        "https://user:pw@93.184.215.14/hook",
        "https://93.184.215.14:99999/hook",
        "https://93.184.215.14:port/hook",
    ],
)
def test_only_absolute_https_urls_without_credentials_have_a_host(url: str) -> None:
    with pytest.raises(TargetRefused):
        webhook_host(url, allow_private=False)


def test_plain_http_is_accepted_only_when_private_targets_are_allowed() -> None:
    assert webhook_host("http://127.0.0.1:9000/hook", allow_private=True) == "127.0.0.1"
    assert webhook_host("https://[::1]:9000/hook", allow_private=False) == "::1"
    with pytest.raises(TargetRefused):
        webhook_host("ftp://127.0.0.1/hook", allow_private=True)
    with pytest.raises(TargetRefused):
        webhook_host("https://u:p@127.0.0.1/hook", allow_private=True)


def test_ipv4_mapped_addresses_are_judged_by_their_ipv4_address() -> None:
    assert not is_public("::ffff:10.0.0.1")
    assert is_public("::ffff:93.184.215.14")
    assert not is_public("224.0.0.1")


# Every non-public range, each with the reason it is refused for. The IPv6 transition forms
# carry a private IPv4 address (10.0.0.1 = 0a00:0001, 127.0.0.1 = 7f00:0001).
NON_PUBLIC = [
    ("0.0.0.0", "'this network'"),  # noqa: S104 - an address to refuse, not a bind
    ("0.1.2.3", "'this network'"),
    ("10.1.2.3", "private (10.0.0.0/8)"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("169.254.169.254", "link-local"),
    ("172.16.0.1", "private (172.16.0.0/12)"),
    ("172.31.255.1", "private (172.16.0.0/12)"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.2.1", "documentation"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("192.168.1.1", "private (192.168.0.0/16)"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.1", "benchmarking"),
    ("198.51.100.1", "documentation"),
    ("203.0.113.1", "documentation"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped form of 10.0.0.1, which is private"),
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, which is loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254, which is link-local"),
    ("::10.0.0.1", "IPv4-compatible"),
    ("::7f00:1", "IPv4-compatible"),
    ("::93.184.215.14", "IPv4-compatible"),  # deprecated: refused whatever it carries
    ("2002:a00:1::", "6to4 form of 10.0.0.1, which is private"),
    ("2002:7f00:1:ab::1", "6to4 form of 127.0.0.1, which is loopback"),
    ("2002:a9fe:a9fe::1", "6to4 form of 169.254.169.254, which is link-local"),
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "Teredo"),  # client 10.0.0.1, obfuscated
    ("2001::1", "Teredo"),
    ("64:ff9b::a00:1", "NAT64 form of 10.0.0.1, which is private"),
    ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1, which is loopback"),
    ("64:ff9b::6440:1", "NAT64 form of 100.64.0.1, which is carrier-grade NAT"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("64:ff9b:1:ffff::5db8:d70e", "local-use NAT64"),
    ("fec0::1", "site-local"),
    ("fe80::1", "link-local"),
    ("fe80::1%eth0", "scoped"),
    ("fc00::1", "unique-local"),
    ("fd12:3456:789a::1", "unique-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("2001:2::1", "benchmarking"),
    ("2001:10::1", "IETF protocol assignments"),
    ("100::1", "discard-only"),
    ("5f00::1", "reserved"),
    ("4000::1", "reserved"),
    ("::ffff:0:a00:1", "reserved"),  # IPv4-translated (SIIT), outside 2000::/3
    ("not-an-ip", "not an IP address"),
]


@pytest.mark.parametrize(("address", "reason"), NON_PUBLIC)
def test_every_non_public_range_is_refused_with_its_reason(address: str, reason: str) -> None:
    refusal = address_refusal(address)
    assert refusal is not None and reason in refusal
    with pytest.raises(TargetRefused, match="non-public address"):
        refuse_private_addresses([address])


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "1.1.1.1",
        "100.128.0.1",  # just past carrier-grade NAT
        "172.32.0.1",  # just past 172.16.0.0/12
        "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
        "::ffff:93.184.215.14",  # IPv4-mapped, IPv6-only stacks and DNS64 give these
        "64:ff9b::5db8:d70e",  # NAT64 of 93.184.215.14
        "2002:5db8:d70e::1",  # 6to4 of 93.184.215.14
    ],
)
def test_public_addresses_and_transition_forms_of_public_ipv4_addresses_pass(
    address: str,
) -> None:
    assert address_refusal(address) is None
    refuse_private_addresses([address])


@pytest.mark.parametrize(
    ("address", "form", "ipv4"),
    [
        ("::ffff:10.0.0.1", "IPv4-mapped", "10.0.0.1"),
        ("64:ff9b::c0a8:101", "NAT64", "192.168.1.1"),
        ("2002:c0a8:101:5::9", "6to4", "192.168.1.1"),
    ],
)
def test_the_embedded_ipv4_address_is_the_one_python_reads_from_the_form(
    address: str, form: str, ipv4: str
) -> None:
    ip = ipaddress.IPv6Address(address)
    assert embedded_ipv4(ip) == (form, ipaddress.IPv4Address(ipv4))
    if form == "IPv4-mapped":
        assert ip.ipv4_mapped == ipaddress.IPv4Address(ipv4)
    if form == "6to4":
        assert ip.sixtofour == ipaddress.IPv4Address(ipv4)


def test_one_private_address_among_public_ones_refuses_the_host() -> None:
    refuse_private_addresses(["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"])
    with pytest.raises(TargetRefused, match="non-public address"):
        refuse_private_addresses(["93.184.215.14", "10.0.0.1"])


def test_refusals_are_domain_errors_without_an_http_status() -> None:
    for error in (SubscriptionNotFound("s-1"), TargetRefused("no"), InvalidSecret("no")):
        assert isinstance(error, DomainError)
        assert not hasattr(error, "status")
    assert str(SubscriptionNotFound("s-1")) == "no subscription 's-1'"
