"""Executors: what runs one batch. One small protocol, three kinds.

An executor takes a batch of items and the run's context and returns one item per input
item. `WorkerExecutor` and `ToolExecutor` run the batch in a worker pool (the context's
session id gives affinity); `LocalExecutor` runs a function in the parent.
"""

from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio

from slither_actors._checks import (
    check_callable,
    check_object,
    check_seconds,
    check_text,
    validator,
)
from slither_actors._pool import Tool, current_pool
from slither_actors.context import Context
from slither_actors.errors import CallTimeout
from slither_actors.item import Item

__all__ = [
    "Executor",
    "LocalExecutor",
    "PayloadExecutor",
    "ToolExecutor",
    "WorkerExecutor",
    "check_executor",
]


class Executor(Protocol):
    """Runs one batch: ``await executor.execute(items, context, timeout)``.

    The executors here also have ``execute_payloads(payloads, context, timeout)``, which
    dispatch calls instead when present, so that it need not make input items for them.
    """

    @property
    def name(self) -> str:
        """How errors and telemetry name this executor."""
        ...

    async def execute(
        self, items: list[Item], context: Context, timeout: float | None
    ) -> list[Any]:
        """Return one result payload per item, in order (or raise)."""
        ...


def check_executor(name: str, value: Any) -> Executor:
    """``value`` as an executor: an object (not a class) with a ``name`` and an ``execute``
    method; else `ValueError` naming ``name``."""
    wanted = (
        "an executor such as LocalExecutor(function) (an object with a name and an "
        "execute() method)"
    )
    executor: Executor = check_object(
        name, value, wanted, methods=("execute",), attributes=("name",)
    )
    return executor


_text = validator(check_text)


class PayloadExecutor:
    """What every executor here shares: `execute` hands the payloads to `execute_payloads`."""

    async def execute(
        self, items: list[Item], context: Context, timeout: float | None
    ) -> list[Any]:
        """Run the items' payloads; return one result each. Raises `ValueError` for a
        ``timeout`` that is not None or a number of seconds above 0."""
        if timeout is not None:
            check_seconds("timeout", timeout)
        return await self.execute_payloads([item.payload for item in items], context, timeout)

    async def execute_payloads(
        self, payloads: list[Any], context: Context, timeout: float | None
    ) -> list[Any]:
        raise NotImplementedError


@attrs.frozen
class WorkerExecutor(PayloadExecutor):
    """Runs ``module.function(payloads)`` in a worker of the runtime's pool ``pool``.

    Raises `ValueError` unless ``module``, ``function`` and ``pool`` are non-empty strs.
    """

    module: str = attrs.field(validator=_text)
    function: str = attrs.field(validator=_text)
    pool: str = attrs.field(default="default", validator=_text)

    @property
    def name(self) -> str:
        return f"{self.module}:{self.function}"

    async def execute_payloads(
        self, payloads: list[Any], context: Context, timeout: float | None
    ) -> list[Any]:
        """Run ``payloads`` in a worker of the pool; return one result each."""
        return await _in_pool(self.pool, self.name, payloads, context, timeout)


@attrs.frozen
class ToolExecutor(PayloadExecutor):
    """Runs the tool ``command`` (see ``slither_actors.worker.tool``) in a pool's worker.

    Raises `ValueError` unless ``command`` and ``pool`` are non-empty strs.
    """

    command: str = attrs.field(validator=_text)
    pool: str = attrs.field(default="default", validator=_text)

    @property
    def name(self) -> str:
        return f"tool {self.command}"

    async def execute_payloads(
        self, payloads: list[Any], context: Context, timeout: float | None
    ) -> list[Any]:
        """Run the tool on ``payloads`` in a worker of the pool; return one result each."""
        return await _in_pool(self.pool, Tool(self.command), payloads, context, timeout)


async def _in_pool(
    name: str, target: str | Tool, payloads: list[Any], context: Context, timeout: float | None
) -> list[Any]:
    pool = await current_pool(name)
    results: list[Any] = await pool.call(
        target, payloads, session_id=context.session_id, timeout=timeout
    )
    return results


@attrs.frozen
class LocalExecutor(PayloadExecutor):
    """Runs ``function(payloads)`` in the parent: a sync or async function taking the
    batch's payloads and returning one result each. With ``in_thread``, a sync function
    runs in a worker thread so that it does not block the Trio loop.

    Past the timeout an async function is cancelled and a thread is abandoned (it runs on,
    its result dropped); a plain sync function cannot be interrupted, so one that ran over
    has its result dropped. Each way the batch fails with `CallTimeout`. Raises
    `ValueError` if ``function`` is not callable.
    """

    function: Callable[[list[Any]], Any] = attrs.field(validator=validator(check_callable))
    in_thread: bool = False

    @property
    def name(self) -> str:
        return getattr(self.function, "__qualname__", repr(self.function))

    async def execute_payloads(
        self, payloads: list[Any], context: Context, timeout: float | None
    ) -> list[Any]:
        """Run the function on ``payloads``; return its results."""
        seconds = math.inf if timeout is None else timeout
        started, overran = time.monotonic(), False
        with trio.move_on_after(seconds) as scope:
            if self.in_thread:
                results = await trio.to_thread.run_sync(
                    self.function, payloads, abandon_on_cancel=True
                )
            else:
                results = self.function(payloads)
                if inspect.isawaitable(results):
                    results = await results
                else:  # it blocked the loop throughout, so only the wall clock saw it run
                    overran = time.monotonic() - started > seconds
        if scope.cancelled_caught or overran:
            raise CallTimeout(self.name, payloads, seconds, f"{self.name} ran over {seconds:g}s")
        return results  # type: ignore[no-any-return]
