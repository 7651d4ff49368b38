"""HandlerRegistry, RetryPolicy, the in-memory publisher and the stop-signal helper."""

import asyncio
import os
import signal

import pytest

from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.models import CredentialIssued, CredentialRevoked
from credreg_shared.events.samples import every_event_kind, sample_envelope
from credreg_shared.events.topics import CREDENTIAL_ISSUED_V1, CREDENTIALS_TOPIC
from credreg_shared.messaging.fakes import InMemoryPublisher
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.messaging.ports import EventPublisher, RecordPublisher
from credreg_shared.messaging.producer import KafkaPublisher
from credreg_shared.messaging.retry import RetryPolicy
from credreg_shared.messaging.signals import install_stop_signals


async def noop(envelope: Envelope) -> None:
    return None


def test_registry_maps_types_to_handlers_and_refuses_duplicates() -> None:
    registry = HandlerRegistry()
    registry.register(CredentialIssued, noop)

    assert registry.handlers_for(CREDENTIAL_ISSUED_V1) == (noop,)
    assert registry.handlers_for(CredentialRevoked.event_type) == ()
    assert registry.event_types == {CREDENTIAL_ISSUED_V1}
    with pytest.raises(ValueError, match="already registered"):
        registry.register(CredentialIssued, noop)


def test_retry_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, initial_delay=0.5, multiplier=2, max_delay=3)
    assert [policy.delay_after(n) for n in range(1, 6)] == [0.5, 1, 2, 3, 3]


def test_retry_attempts_are_bounded_except_for_infrastructure_errors() -> None:
    policy = RetryPolicy(max_attempts=3, retry_forever_on=(ConnectionError,))
    assert policy.should_retry(RuntimeError(), 2)
    assert not policy.should_retry(RuntimeError(), 3)
    assert policy.should_retry(ConnectionRefusedError(), 300)


@pytest.mark.parametrize(
    "options", [{"max_attempts": 0}, {"initial_delay": -1}, {"multiplier": 0.5}]
)
def test_retry_policy_refuses_nonsense(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)  # type: ignore[arg-type]


async def test_in_memory_publisher_encodes_through_the_codec() -> None:
    publisher = InMemoryPublisher()
    envelopes = [sample_envelope(data) for data in every_event_kind()]

    await publisher.publish_many(envelopes)

    assert publisher.envelopes() == envelopes
    assert len(publisher.on(CREDENTIALS_TOPIC)) == 6
    publisher.fail_with = ConnectionError("broker down")
    with pytest.raises(ConnectionError):
        await publisher.publish(envelopes[0])


async def test_sigterm_calls_every_stop_callback() -> None:
    stopped = asyncio.Event()
    calls: list[str] = []

    def first() -> None:
        calls.append("first")

    def second() -> None:
        calls.append("second")
        stopped.set()

    uninstall = install_stop_signals(first, second)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(stopped.wait(), timeout=30)
    finally:
        uninstall()
    assert calls == ["first", "second"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _adapters_satisfy_the_ports(
    kafka: KafkaPublisher, fake: InMemoryPublisher
) -> tuple[EventPublisher, EventPublisher, RecordPublisher, RecordPublisher]:
    """Checked by mypy, never run: both publishers implement both ports."""
    return kafka, fake, kafka, fake
