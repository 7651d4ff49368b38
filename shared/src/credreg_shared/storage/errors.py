"""Driver errors stay in adapters: PyMongo's outages leave them as `StorageUnavailable`."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError

from credreg_shared.errors import StorageUnavailable, raise_if_cancelling

# AutoReconnect, NetworkTimeout and ServerSelectionTimeoutError are ConnectionFailures.
DRIVER_OUTAGES: tuple[type[Exception], ...] = (ConnectionFailure, ExecutionTimeout, WTimeoutError)

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=type)


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Raise `StorageUnavailable` for a driver outage inside the block.

    An outage raised while the current task is being cancelled is the cancellation's doing
    (PyMongo closes the connection under a cancelled operation): it is re-raised as the
    `CancelledError` it stands for, so no retry loop can mistake it for an outage and swallow
    the cancellation.
    """
    try:
        yield
    except DRIVER_OUTAGES as error:
        raise_if_cancelling(error)
        raise StorageUnavailable(f"the database is unavailable ({type(error).__name__})") from error


def _translated(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with storage_errors():
            return await method(*args, **kwargs)

    return wrapper


def storage_adapter(cls: C) -> C:
    """Class decorator: every public coroutine method raises `StorageUnavailable` on outages."""
    for name, attribute in list(vars(cls).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(attribute):
            setattr(cls, name, _translated(attribute))
    return cls
