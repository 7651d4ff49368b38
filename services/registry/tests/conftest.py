"""Fixtures of the registry's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from credreg_shared.messaging import KafkaPublisher


@pytest.fixture
async def publisher(kafka_bootstrap: str) -> AsyncIterator[KafkaPublisher]:
    """A started publisher on the test broker."""
    async with KafkaPublisher(kafka_bootstrap) as started:
        yield started
