"""Create the Kafka topics a service needs (and their dead-letter topics) if they are missing."""

import logging
from collections.abc import Mapping

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
) -> list[str]:
    """Create every missing topic (and its ``.dlq``, same partition count); return those created.

    Idempotent: existing topics are left as they are, including a concurrent creator's.
    """
    wanted = dict(partitions_by_topic)
    if with_dlq:
        wanted |= {dlq_topic(name): count for name, count in partitions_by_topic.items()}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms)
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
    finally:
        await admin.close()
    created: list[str] = []
    for result in response.to_object()["topic_errors"]:
        error = for_code(result["error_code"]) if result["error_code"] else None
        if error is None:
            created.append(result["topic"])
        elif error is not TopicAlreadyExistsError:
            raise error(f"creating topic {result['topic']}: {result.get('error_message')}")
    if created:
        log.info("created Kafka topics", extra={"topics": created})
    return sorted(created)
