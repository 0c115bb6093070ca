"""A nursery that is an implementation detail, so its one error is raised as itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

__all__ = ["open_own_nursery"]


@asynccontextmanager
async def open_own_nursery() -> AsyncIterator[trio.Nursery]:
    """`trio.open_nursery`, except that a single exception comes out unwrapped.

    For nurseries a function opens for its own tasks: its caller should see the error
    (say `SupervisorExhausted`), not a group it never asked for. Several errors still come
    out as a group.
    """
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            single = group.exceptions[0]
            raise single from single.__cause__  # keeps its own cause, hides the group
        raise
