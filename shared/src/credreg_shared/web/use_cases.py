"""Routes reach their use cases through one dependency: ``Depends(use_case(IssueCredentials))``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar, cast

from fastapi import FastAPI, Request

T = TypeVar("T")


def attach_use_cases(app: FastAPI, use_cases: Iterable[object]) -> None:
    """Make each use case object available to the routes, found by its type."""
    app.state.use_cases = {type(found): found for found in use_cases}


def use_case(kind: type[T]) -> Callable[[Request], Awaitable[T]]:
    """A FastAPI dependency answering the app's use case of type `kind`."""

    # A coroutine, so that FastAPI calls it on the event loop: a plain function dependency is
    # run in a worker thread, a hand-off of its own on every request for a dictionary lookup.
    async def dependency(request: Request) -> T:
        return cast(T, request.app.state.use_cases[kind])

    dependency.__name__ = f"use_case_{kind.__name__}"
    return dependency
