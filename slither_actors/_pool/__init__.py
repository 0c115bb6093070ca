"""Worker processes and the pools that own them.

Kept light: worker processes import this package (for its protocol) at start-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from slither_actors.errors import NoRuntime

if TYPE_CHECKING:
    from slither_actors._pool._pool import Tool, WorkerPool

__all__ = ["Tool", "current_pool", "own_session", "pool_finder", "pools_used"]

# Set by the runtime: finds (or starts) its pool by name.
pool_finder: ContextVar[Callable[[str], Awaitable[WorkerPool]] | None] = ContextVar(
    "slither_actors_pool_finder", default=None
)


# Set by a run that made up its own session id: collects the pools its calls reached, so
# that the run can end its session in each of them when it is over.
pools_used: ContextVar[set[WorkerPool] | None] = ContextVar(
    "slither_actors_pools_used", default=None
)


async def current_pool(name: str = "default") -> WorkerPool:
    """The pool ``name`` of the runtime this task runs in; `NoRuntime` outside one."""
    find = pool_finder.get()
    if find is None:
        raise NoRuntime(f"pool {name!r} lives in a runtime; open one with open_runtime()")
    pool = await find(name)
    used = pools_used.get()
    if used is not None:
        used.add(pool)
    return pool


@contextmanager
def own_session(session_id: str) -> Iterator[None]:
    """For a run that made up ``session_id`` itself: note the pools its calls reach while
    the block runs, and end the session in each of them afterwards, so that pools do not
    keep bindings nobody will use again."""
    used: set[WorkerPool] = set()
    token = pools_used.set(used)
    try:
        yield
    finally:
        pools_used.reset(token)
        for pool in used:
            pool.end_session(session_id)


def __getattr__(name: str) -> Any:
    if name == "Tool":  # imported on use, so that worker processes do not load trio
        from slither_actors._pool._pool import Tool

        return Tool
    raise AttributeError(f"module 'slither_actors._pool' has no attribute {name!r}")
