"""Create the Kafka topics a service needs (and their dead-letter topics) if they are missing."""

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from credreg_shared.events.topics import dlq_topic

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap_servers: str,
    partitions_by_topic: Mapping[str, int],
    *,
    with_dlq: bool = True,
    replication_factor: int = 1,
    timeout_ms: int = 30_000,
    **client_options: Any,
) -> list[str]:
    """Create every missing topic (and its ``.dlq``, same partition count); return those created.

    Idempotent: existing topics are left as they are, including a concurrent creator's. Returns
    once the topics it tried to create have partition leaders, so they can be used at once.
    `client_options` are the admin client's security options (`kafka_client_options`); a
    service passes its ``CREDREG_TOPIC_REPLICATION_FACTOR`` as `replication_factor`.
    """
    wanted = dict(partitions_by_topic)
    if with_dlq:
        wanted |= {dlq_topic(name): count for name, count in partitions_by_topic.items()}
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms, **client_options
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, count, replication_factor)
            for name, count in wanted.items()
            if name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing, timeout_ms=timeout_ms)
        created: list[str] = []
        for result in response.to_object()["topic_errors"]:
            error = for_code(result["error_code"]) if result["error_code"] else None
            if error is None:
                created.append(result["topic"])
            elif error is not TopicAlreadyExistsError:
                raise error(f"creating topic {result['topic']}: {result.get('error_message')}")
        await _wait_until_led([topic.name for topic in missing], admin, timeout_ms)
    finally:
        await admin.close()
    if created:
        log.info("created Kafka topics", extra={"topics": created})
    return sorted(created)


async def _wait_until_led(names: list[str], admin: AIOKafkaAdminClient, timeout_ms: int) -> None:
    """Wait until the cluster metadata shows every partition of `names` with a leader.

    A topic is usable a moment after CreateTopics answers; callers get it ready to use.
    """
    async with asyncio.timeout(timeout_ms / 1000):
        while not _all_led(await admin.describe_topics(names), names):  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # metadata has no change notification to wait on


def _all_led(described: list[dict[str, Any]], names: list[str]) -> bool:
    ready = {
        topic["topic"]
        for topic in described
        if topic["error_code"] == 0
        and topic["partitions"]
        and all(p["error_code"] == 0 and p["leader"] >= 0 for p in topic["partitions"])
    }
    return ready >= set(names)
