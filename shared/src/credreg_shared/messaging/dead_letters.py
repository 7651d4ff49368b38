"""Dead-letter records: the original key, value and headers plus why and where it failed."""

from collections.abc import Sequence

ERROR_HEADER = "credreg_error"
ERROR_TYPE_HEADER = "credreg_error_type"
SOURCE_TOPIC_HEADER = "credreg_source_topic"
SOURCE_PARTITION_HEADER = "credreg_source_partition"
SOURCE_OFFSET_HEADER = "credreg_source_offset"
CONSUMER_GROUP_HEADER = "credreg_consumer_group"
ATTEMPTS_HEADER = "credreg_attempts"
DEAD_LETTER_HEADERS = frozenset(
    {
        ERROR_HEADER,
        ERROR_TYPE_HEADER,
        SOURCE_TOPIC_HEADER,
        SOURCE_PARTITION_HEADER,
        SOURCE_OFFSET_HEADER,
        CONSUMER_GROUP_HEADER,
        ATTEMPTS_HEADER,
    }
)
MAX_ERROR_LENGTH = 2000


def dead_letter_headers(
    original: Sequence[tuple[str, bytes]],
    *,
    error: str,
    error_type: str,
    topic: str,
    partition: int,
    offset: int,
    group_id: str,
    attempts: int,
) -> list[tuple[str, bytes]]:
    """The original headers (less earlier dead-letter headers) plus this failure's headers."""
    kept = [(name, value) for name, value in original if name not in DEAD_LETTER_HEADERS]
    return [
        *kept,
        (ERROR_HEADER, error[:MAX_ERROR_LENGTH].encode()),
        (ERROR_TYPE_HEADER, error_type.encode()),
        (SOURCE_TOPIC_HEADER, topic.encode()),
        (SOURCE_PARTITION_HEADER, str(partition).encode()),
        (SOURCE_OFFSET_HEADER, str(offset).encode()),
        (CONSUMER_GROUP_HEADER, group_id.encode()),
        (ATTEMPTS_HEADER, str(attempts).encode()),
    ]
