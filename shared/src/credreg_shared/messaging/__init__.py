"""Kafka messaging for credreg: publisher port and adapter, topic admin, the consumer runner."""

from credreg_shared.messaging.connection import kafka_client_options
from credreg_shared.messaging.consumer import ConsumerRunner
from credreg_shared.messaging.fakes import InMemoryPublisher
from credreg_shared.messaging.handlers import Handler, HandlerRegistry, UnprocessableEvent
from credreg_shared.messaging.ports import EventPublisher, RecordPublisher
from credreg_shared.messaging.processing import ConsumerStats, Outcome, RecordProcessor
from credreg_shared.messaging.producer import KafkaPublisher
from credreg_shared.messaging.retry import RetryPolicy
from credreg_shared.messaging.signals import install_stop_signals
from credreg_shared.messaging.topics_admin import ensure_topics

__all__ = [
    "ConsumerRunner",
    "ConsumerStats",
    "EventPublisher",
    "Handler",
    "HandlerRegistry",
    "InMemoryPublisher",
    "KafkaPublisher",
    "Outcome",
    "RecordProcessor",
    "RecordPublisher",
    "RetryPolicy",
    "UnprocessableEvent",
    "ensure_topics",
    "install_stop_signals",
    "kafka_client_options",
]
