"""Errors every layer may raise and catch: refusals by a service's rules, and outages.

Core modules (domain, use cases, projections, workers) depend on these, never on the driver
errors of aiokafka or PyMongo: adapters translate those into `PublishUnavailable` and
`StorageUnavailable`. Each service's ``api.py`` maps its `DomainError` kinds to HTTP statuses.
"""

from __future__ import annotations

import asyncio


class DomainError(Exception):
    """A request that a service's rules refuse; nothing was changed."""


class Unavailable(Exception):
    """Infrastructure did not answer; nothing is confirmed, the caller may retry."""


class PublishUnavailable(Unavailable):
    """The event log did not acknowledge a record within the bounded wait."""


class StorageUnavailable(Unavailable):
    """The database could not be reached (or timed out)."""


def raise_if_cancelling(cause: BaseException) -> None:
    """Raise `CancelledError` (from `cause`) when the current task is being cancelled.

    A driver closes the connection under a cancelled call and may report that as an outage;
    code that waits outages out must re-raise such an error as the cancellation it stands for,
    or the task survives its cancellation and whoever awaits it waits forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from cause
