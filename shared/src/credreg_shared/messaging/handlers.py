"""Explicit registration of a service's event handlers: event model → async handlers."""

from collections.abc import Awaitable, Callable

from credreg_shared.events.cloudevents import Envelope
from credreg_shared.events.models import EventData

Handler = Callable[[Envelope], Awaitable[None]]
"""An event handler: idempotent per ``envelope.source`` + ``envelope.id``; raises on failure."""


class UnprocessableEvent(Exception):
    """Raised by a handler for an event that no retry can fix: it is dead-lettered at once."""


class HandlerRegistry:
    """Which handlers run for which event type; a type with no handler is not the service's."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}

    def register(self, event: type[EventData], handler: Handler) -> None:
        """Run `handler` for every event whose data is `event` (in registration order)."""
        handlers = self._handlers.setdefault(event.event_type, [])
        if handler in handlers:
            raise ValueError(f"{handler!r} is already registered for {event.event_type}")
        handlers.append(handler)

    def handlers_for(self, event_type: str) -> tuple[Handler, ...]:
        """The handlers of `event_type`, empty when the service does not handle it."""
        return tuple(self._handlers.get(event_type, ()))

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type with at least one handler."""
        return frozenset(self._handlers)
