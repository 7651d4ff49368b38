"""`credreg dlq list|redrive`: the dead-letter topics, read and replayed into their topics.

A consumer that cannot process a record copies it to its topic's dead-letter topic
(`<topic>.dlq`) with why and where in headers (`credreg_shared.messaging.dead_letters`), and
moves on. Once the cause is fixed (a deployed fix, a repaired reference), `redrive` writes each
waiting record back to the partition it came from, unchanged (its key, value and CloudEvents
headers; the dead-letter headers dropped), then commits its progress in the consumer group
`credreg-dlq-redrive`: a record is redriven once, and an interrupted redrive resumes where it
stopped. Consumers are idempotent per event id, so a record that some of them had processed
does no harm to them. A record that fails again goes back to the dead-letter topic, after the
records this redrive reads (it stops at the end it saw when it started).

It connects as the services do: `--bootstrap-servers`, and the variables
CREDREG_KAFKA_SECURITY_PROTOCOL, CREDREG_KAFKA_SASL_* and CREDREG_KAFKA_SSL_CAFILE
(`credreg_shared.settings.KafkaSettings`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from credreg_shared.events.topics import DLQ_SUFFIX, dlq_topic
from credreg_shared.messaging.connection import kafka_client_options
from credreg_shared.messaging.dead_letters import (
    CONSUMER_GROUP_HEADER,
    DEAD_LETTER_HEADERS,
    ERROR_HEADER,
    ERROR_TYPE_HEADER,
    SOURCE_OFFSET_HEADER,
    SOURCE_PARTITION_HEADER,
    SOURCE_TOPIC_HEADER,
)
from credreg_shared.settings import KafkaSettings

REDRIVE_GROUP = "credreg-dlq-redrive"
"""The consumer group whose committed offsets say how far each dead-letter topic was redriven."""

dlq = typer.Typer(
    help="List the dead-letter topics and their records; redrive them into their topics.",
    no_args_is_help=True,
)

Bootstrap = Annotated[
    str,
    typer.Option(
        "--bootstrap-servers",
        envvar="CREDREG_KAFKA_BOOTSTRAP_SERVERS",
        help="Kafka bootstrap servers (or CREDREG_KAFKA_BOOTSTRAP_SERVERS); security settings "
        "from CREDREG_KAFKA_SECURITY_PROTOCOL, CREDREG_KAFKA_SASL_* and CREDREG_KAFKA_SSL_CAFILE.",
    ),
]
Namespace = Annotated[
    str,
    typer.Option(
        "--namespace",
        envvar="CREDREG_TOPIC_NAMESPACE",
        help="Only topics with this prefix (the services' CREDREG_TOPIC_NAMESPACE).",
    ),
]
Limit = Annotated[int, typer.Option("--limit", min=1, help="At most this many records.")]
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

KafkaOptions = Mapping[str, Any]
"""aiokafka client options: ``kafka_client_options`` of the CLI's Kafka settings."""


def kafka_options(bootstrap: str) -> dict[str, Any]:
    """The client options for `bootstrap`, with the CREDREG_KAFKA_* security settings of the
    environment; exits 2 with the settings' own message when they do not fit together."""
    try:
        return kafka_client_options(KafkaSettings(kafka_bootstrap_servers=bootstrap))
    except (ValidationError, ValueError) as invalid:
        errors = invalid.errors() if isinstance(invalid, ValidationError) else None
        reasons = "; ".join(e["msg"] for e in errors) if errors else str(invalid)
        typer.echo(f"credreg: Kafka settings: {reasons}", err=True)
        raise typer.Exit(code=2) from None


@dataclass(frozen=True)
class DeadLetterTopic:
    """A dead-letter topic: how many records it keeps and how many wait for a redrive."""

    name: str
    records: int
    waiting: int


@dataclass(frozen=True)
class DeadLetter:
    """One record of a dead-letter topic and what its headers say about it."""

    partition: int
    offset: int
    key: str
    source_topic: str
    source_partition: int | None
    source_offset: str
    group: str
    error_type: str
    error: str
    event_type: str


def dead_letter_topic(topic: str) -> str:
    """`topic` if it names a dead-letter topic, else its dead-letter topic."""
    return topic if topic.endswith(DLQ_SUFFIX) else dlq_topic(topic)


def _header(headers: Sequence[tuple[str, bytes]], name: str, default: str = "") -> str:
    for key, value in headers:
        if key == name:
            return value.decode("utf-8", "replace")
    return default


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = list(record.headers)
    partition = _header(headers, SOURCE_PARTITION_HEADER)
    return DeadLetter(
        partition=record.partition,
        offset=record.offset,
        key=(record.key or b"").decode("utf-8", "replace"),
        source_topic=_header(headers, SOURCE_TOPIC_HEADER, record.topic.removesuffix(DLQ_SUFFIX)),
        source_partition=int(partition) if partition.isdigit() else None,
        source_offset=_header(headers, SOURCE_OFFSET_HEADER),
        group=_header(headers, CONSUMER_GROUP_HEADER),
        error_type=_header(headers, ERROR_TYPE_HEADER),
        error=_header(headers, ERROR_HEADER),
        event_type=_header(headers, "ce_type"),
    )


async def _partitions(kafka: KafkaOptions, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of `topics`; LookupError when one of them does not exist."""
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = []
    for topic in described:
        if topic["error_code"] or not topic["partitions"]:
            raise LookupError(f"no topic {topic['topic']}")
        partitions += [TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]]
    return sorted(partitions)


class _Reader:
    """The waiting records of dead-letter topics: from the redrive group's committed offset (or
    the first record kept) to the end seen when it opened."""

    def __init__(self, kafka: KafkaOptions, topics: Sequence[str]) -> None:
        self.kafka = kafka
        self.topics = topics
        self.beginnings: dict[TopicPartition, int] = {}
        self.starts: dict[TopicPartition, int] = {}
        self.ends: dict[TopicPartition, int] = {}

    async def __aenter__(self) -> _Reader:
        assigned = await _partitions(self.kafka, self.topics)
        self.consumer: AIOKafkaConsumer[bytes, bytes] = AIOKafkaConsumer(
            **self.kafka,
            group_id=REDRIVE_GROUP,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self.consumer.start()
        try:
            self.consumer.assign(assigned)
            self.beginnings = await self.consumer.beginning_offsets(assigned)
            self.ends = await self.consumer.end_offsets(assigned)
            for tp in assigned:
                committed = await self.consumer.committed(tp)
                self.starts[tp] = max(committed or 0, self.beginnings[tp])
                self.consumer.seek(tp, self.starts[tp])
        except BaseException:
            await self.consumer.stop()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.consumer.stop()

    def counts(self, topic: str) -> DeadLetterTopic:
        """How many records `topic` keeps, and how many of them wait for a redrive."""
        mine = [tp for tp in self.ends if tp.topic == topic]
        return DeadLetterTopic(
            topic,
            records=sum(self.ends[tp] - self.beginnings[tp] for tp in mine),
            waiting=sum(max(0, self.ends[tp] - self.starts[tp]) for tp in mine),
        )

    async def batches(self, limit: int | None) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
        """The waiting records, a fetched batch at a time (in order within each partition), at
        most `limit` in all."""
        taken = 0
        while await self._behind() and (limit is None or taken < limit):
            fetched = await self.consumer.getmany(timeout_ms=1000, max_records=500)
            batch = [
                record
                for tp, records in fetched.items()
                for record in records
                if record.offset < self.ends[tp]
            ]
            if limit is not None:
                batch = batch[: limit - taken]
            taken += len(batch)
            if batch:
                yield batch

    async def _behind(self) -> bool:
        """True while some partition has records before the end seen at the start."""
        for tp, end in self.ends.items():
            if int(await self.consumer.position(tp)) < end:
                return True
        return False

    async def commit(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> None:
        """Remember these records as redriven (the next offset of each partition)."""
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        if offsets:
            await self.consumer.commit(offsets)


async def dead_letter_topics(kafka: KafkaOptions, namespace: str = "") -> list[DeadLetterTopic]:
    """Every dead-letter topic (with `namespace` as prefix), with its counts."""
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        names = sorted(
            name
            for name in await admin.list_topics()
            if name.endswith(DLQ_SUFFIX) and name.startswith(namespace)
        )
    finally:
        await admin.close()
    if not names:
        return []
    async with _Reader(kafka, names) as reader:
        return [reader.counts(name) for name in names]


async def waiting_dead_letters(kafka: KafkaOptions, topic: str, limit: int) -> list[DeadLetter]:
    """The records of `topic`'s dead-letter topic that wait for a redrive (at most `limit`)."""
    async with _Reader(kafka, [dead_letter_topic(topic)]) as reader:
        return [_dead_letter(r) async for batch in reader.batches(limit) for r in batch]


async def redrive(
    kafka: KafkaOptions, topic: str, *, limit: int | None = None, dry_run: bool = False
) -> list[DeadLetter]:
    """Write the waiting records of `topic`'s dead-letter topic back to where they came from,
    then commit them as redriven; returns them."""
    redriven: list[DeadLetter] = []
    async with _Reader(kafka, [dead_letter_topic(topic)]) as reader:
        producer: AIOKafkaProducer[bytes, bytes] = AIOKafkaProducer(
            **kafka, acks="all", enable_idempotence=True
        )
        await producer.start()
        try:
            async for batch in reader.batches(limit):
                letters = [_dead_letter(record) for record in batch]
                if not dry_run:
                    await _send(producer, batch, letters)
                    await reader.commit(batch)
                redriven.extend(letters)
        finally:
            await producer.stop()
    return redriven


async def _send(
    producer: AIOKafkaProducer[bytes, bytes],
    batch: Sequence[ConsumerRecord[bytes, bytes]],
    letters: Sequence[DeadLetter],
) -> None:
    """Send the batch, in order, each record to its source partition where it still exists."""
    sent = []
    for record, letter in zip(batch, letters, strict=True):
        partitions = await producer.partitions_for(letter.source_topic)
        partition = letter.source_partition if letter.source_partition in partitions else None
        headers = [(k, v) for k, v in record.headers if k not in DEAD_LETTER_HEADERS]
        sent.append(
            await producer.send(
                letter.source_topic,
                record.value,
                key=record.key,
                partition=partition,
                headers=headers,
            )
        )
    await asyncio.gather(*sent)  # every ack before the batch is committed as redriven


def _kafka_failed(bootstrap: str, error: Exception) -> typer.Exit:
    typer.echo(f"credreg: Kafka at {bootstrap}: {error}", err=True)
    return typer.Exit(code=2)


@dlq.command("list")
def list_command(
    topic: Annotated[
        str | None,
        typer.Argument(help="A topic or its dead-letter topic: list its waiting records."),
    ] = None,
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    namespace: Namespace = "",
    limit: Limit = 50,
) -> None:
    """Every dead-letter topic with its counts; with TOPIC, the records that wait there."""
    console = Console()
    kafka = kafka_options(bootstrap)
    try:
        if topic is None:
            topics = asyncio.run(dead_letter_topics(kafka, namespace))
            table = Table("dead-letter topic", "records", "waiting for a redrive")
            for found in topics:
                table.add_row(escape(found.name), str(found.records), str(found.waiting))
            console.print(table)
            return
        letters = asyncio.run(waiting_dead_letters(kafka, topic, limit))
    except LookupError as missing:
        typer.echo(f"credreg: {missing}", err=True)
        raise typer.Exit(code=1) from None
    except (KafkaError, OSError) as error:
        raise _kafka_failed(bootstrap, error) from None
    _print_letters(console, dead_letter_topic(topic), letters)


@dlq.command("redrive")
def redrive_command(
    topic: Annotated[str, typer.Argument(help="A topic or its dead-letter topic.")],
    bootstrap: Bootstrap = DEFAULT_BOOTSTRAP,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many records.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be redriven; send nothing.")
    ] = False,
) -> None:
    """Write TOPIC's dead letters back to their topics (once each), then mark them redriven."""
    console = Console()
    kafka = kafka_options(bootstrap)
    try:
        letters = asyncio.run(redrive(kafka, topic, limit=limit, dry_run=dry_run))
    except LookupError as missing:
        typer.echo(f"credreg: {missing}", err=True)
        raise typer.Exit(code=1) from None
    except (KafkaError, OSError) as error:
        raise _kafka_failed(bootstrap, error) from None
    _print_letters(console, dead_letter_topic(topic), letters)
    verb = "would redrive" if dry_run else "redrove"
    console.print(f"{verb} {len(letters)} record(s) from {escape(dead_letter_topic(topic))}")


def _print_letters(console: Console, topic: str, letters: Sequence[DeadLetter]) -> None:
    table = Table(
        "partition", "offset", "key", "event type", "from", "group", "error", title=escape(topic)
    )
    for letter in letters:
        source = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
        table.add_row(
            str(letter.partition),
            str(letter.offset),
            escape(letter.key),
            escape(letter.event_type),
            escape(source),
            escape(letter.group),
            escape(f"{letter.error_type}: {letter.error}"[:200]),
        )
    console.print(table)
