"""Explicit registration of a service's event handlers: event model → async handlers.

A service registers per-event handlers (``register``), or one *batch* handler for a set of event
types (``register_batch``): the consumer then hands it every admitted event of a fetched batch at
once, in offset order per partition, so that a projection can fold the batch in memory and write
it with one bulk per collection.
"""

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.models import EventData

Handler = Callable[[Envelope], Awaitable[None]]
"""An event handler: idempotent per ``envelope.source`` + ``envelope.id``; raises on failure."""


@dataclass(frozen=True)
class ConsumedEvent:
    """An event with the log position it was read from."""

    envelope: Envelope
    topic: str
    partition: int
    offset: int


BatchHandler = Callable[[Sequence[ConsumedEvent]], Awaitable[None]]
"""Applies events (in offset order per partition), idempotent per event; raises on failure."""


class UnprocessableEvent(Exception):
    """Raised by a handler for an event that no retry can fix: it is dead-lettered at once."""


class HandlerRegistry:
    """Which handlers run for which event type; a type with no handler is not the service's."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self._batch_types: frozenset[str] = frozenset()
        self.batch_handler: BatchHandler | None = None
        """The one batch handler, when the service registered one."""

    def register(self, event: type[EventData], handler: Handler) -> None:
        """Run `handler` for every event whose data is `event` (in registration order)."""
        if self.batch_handler is not None:
            raise ValueError("a registry takes per-event handlers or one batch handler, not both")
        handlers = self._handlers.setdefault(event.event_type, [])
        if handler in handlers:
            raise ValueError(f"{handler!r} is already registered for {event.event_type}")
        handlers.append(handler)

    def register_batch(
        self, events: Iterable[type[EventData] | str], handler: BatchHandler
    ) -> None:
        """Give every consumed event of these types (models, or type names) to `handler`, a
        fetched batch at a time."""
        if self._handlers or self.batch_handler is not None:
            raise ValueError("a registry takes per-event handlers or one batch handler, not both")
        self._batch_types = frozenset(
            event if isinstance(event, str) else event.event_type for event in events
        )
        self.batch_handler = handler

    def handlers_for(self, event_type: str) -> tuple[Handler, ...]:
        """The per-event handlers of `event_type`, empty when none is registered."""
        return tuple(self._handlers.get(event_type, ()))

    def handles(self, event_type: str) -> bool:
        """Whether any handler, per-event or batch, takes this event type."""
        return event_type in self._handlers or event_type in self._batch_types

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type with a handler."""
        return frozenset(self._handlers) | self._batch_types
