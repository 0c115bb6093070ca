"""Long-running pipes: a pipe that reads an endless source into a sink until stopped.

A `PipeService` is the started value of one supervised child (the runtime puts it under its
``services`` supervisor). Stopping it with ``drain`` stops reading the source and lets the
items already inside finish; past the timeout, or without ``drain``, what is still inside
is cancelled.
"""

from __future__ import annotations

import collections
import functools
import logging
import math
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any, Protocol

import attrs
import trio

from slither_actors._checks import check_callable, check_seconds, check_text
from slither_actors._core import ChildSpec, ExitReason, Reason
from slither_actors._pipe._api import feed_from, pairs, running
from slither_actors._pipe._definition import Pipe, check_pipe
from slither_actors._pipe._run import ErrorRecord, Run
from slither_actors._pool import own_session
from slither_actors.context import Context
from slither_actors.errors import PipeError
from slither_actors.item import Item

__all__ = ["PipeService", "Sink", "pipe_service_spec"]

_log = logging.getLogger("slither_actors.pipe")  # a logger name, not the module

# How many of its latest error records a long-running pipe keeps (it hands every one to
# ``on_error`` as it is made).
KEPT_ERRORS = 1000


class _SendsPairs(Protocol):
    async def send(self, value: tuple[str, Item], /) -> None: ...


Sink = Callable[[str, Item], Awaitable[None]] | _SendsPairs


@attrs.define(eq=False)
class PipeService:
    """A running long-lived pipe. Stop it with `stop`; `wait` until it has ended."""

    pipe: type[Pipe]
    session_id: str
    _run: Run
    _ended: trio.Event = attrs.Factory(trio.Event)
    _stopping: bool = False
    _reading: trio.CancelScope | None = None  # around each wait for the source
    error: PipeError | None = None  # why it ended, if a stage halted it
    cut_short: bool = False  # a stop cancelled items still inside it

    @property
    def running(self) -> bool:
        """True until the pipe has ended (its source exhausted and drained, or stopped)."""
        return not self._ended.is_set()

    @property
    def errors(self) -> list[ErrorRecord]:
        """The latest error records (at most 1000; ``on_error`` sees every one)."""
        return list(self._run.errors)

    @property
    def delivered(self) -> dict[str, int]:
        """How many items have left through each output so far."""
        return dict(self._run.delivered)

    def request_stop(self, reason: Reason = ExitReason.SHUTDOWN) -> None:
        """Stop reading the source and let what is inside finish (returns at once)."""
        self._stopping = True
        if self._reading is not None:
            self._reading.cancel()

    async def stop(self, *, drain: bool = True, timeout: float | None = None) -> None:
        """Stop the pipe and wait until it has ended.

        With ``drain`` the source is no longer read and the items inside run to their end,
        for at most ``timeout`` seconds (None: as long as they take); then, or at once
        without ``drain``, whatever is still inside is cancelled and lost.

        A ``timeout`` that is not None or a number of seconds, 0 or more, raises
        `ValueError` before anything is stopped.
        """
        if timeout is not None:
            check_seconds("timeout", timeout, zero=True)
        self.request_stop()
        if drain:
            with trio.move_on_after(math.inf if timeout is None else timeout):
                await self._ended.wait()
        if not self._ended.is_set():
            self.cut_short = True
            self._run.cancel_scope.cancel()
        await self._ended.wait()

    async def wait(self) -> None:
        """Wait until the pipe has ended; raise its `PipeError` if a stage halted it."""
        await self._ended.wait()
        if self.error is not None:
            raise self.error


def pipe_service_spec(
    pipe: type[Pipe],
    source: AsyncIterable[Any],
    sink: Sink,
    *,
    session_id: str | None = None,
    on_error: Callable[[ErrorRecord], None] | None = None,
    shutdown: float = 10.0,
) -> ChildSpec:
    """A child spec running ``pipe`` over ``source`` into ``sink`` until stopped.

    Its started value is the `PipeService`. On shutdown the pipe drains for at most
    ``shutdown`` seconds. It is temporary: a pipe that ends, or halts, is not restarted
    (its stage actors are, by the pipe's own supervisor).

    Raises `ValueError` for a ``pipe`` that is not a `Pipe` subclass with stages, a
    ``source`` that is not an async iterable, a ``sink`` that is neither callable nor has
    ``send``, an ``on_error`` that is not callable, a ``session_id`` that is not None or a
    non-empty str, or a ``shutdown`` that is not a number of seconds, 0 or more.
    """
    check_pipe(pipe)
    if not isinstance(source, AsyncIterable):
        raise ValueError(f"source must be an async iterable, not {type(source).__name__}")
    if not callable(getattr(sink, "send", None)):
        check_callable("sink", sink)
    check_callable("on_error", on_error, optional=True)
    check_text("session_id", session_id, optional=True)
    context = Context.new(session_id, pipe=pipe.name())

    async def start(*, task_status: trio.TaskStatus[PipeService]) -> None:
        if session_id is not None:
            await _serve(pipe, context, source, sink, on_error, task_status)
            return
        with own_session(context.session_id):  # made up here: ended when the pipe ends
            await _serve(pipe, context, source, sink, on_error, task_status)

    return ChildSpec(
        f"pipe {pipe.name()} {context.session_id}", start, restart="temporary", shutdown=shutdown
    )


async def _serve(
    pipe: type[Pipe],
    context: Context,
    source: AsyncIterable[Any],
    sink: Sink,
    on_error: Callable[[ErrorRecord], None] | None,
    task_status: trio.TaskStatus[PipeService],
) -> None:
    errors: collections.deque[ErrorRecord] = collections.deque(maxlen=KEPT_ERRORS)
    run = Run.open(pipe, context, errors=errors, on_error=on_error or _log_record)
    service = PipeService(pipe, context.session_id, run)
    deliver = _sender(sink) if hasattr(sink, "send") else sink
    try:
        reader = functools.partial(_read_until_stopped, source, service)
        async with running(run, functools.partial(feed_from, run, reader)):
            task_status.started(service)
            async for chunk in run.exits:
                for output, item in pairs(chunk):
                    await deliver(output, item)
    except PipeError as error:
        service.error = error
        raise
    finally:
        service._ended.set()


async def _read_until_stopped(
    source: AsyncIterable[Any], service: PipeService, read: trio.MemorySendChannel[Any]
) -> None:
    """Read ``source`` until it ends or the service stops. A stop interrupts only the wait
    for the source: an item already read is always sent on."""
    values = aiter(source)
    async with read:
        while not service._stopping:
            scope = service._reading = trio.CancelScope()
            with scope:
                try:
                    value = await anext(values)
                except StopAsyncIteration:
                    return
            service._reading = None
            if scope.cancelled_caught:
                return
            await read.send(value)


def _sender(channel: _SendsPairs) -> Callable[[str, Item], Awaitable[None]]:
    async def send(output: str, item: Item) -> None:
        await channel.send((output, item))

    return send


def _log_record(record: ErrorRecord) -> None:
    _log.warning("pipe item %s failed at stage %r: %s", record.item_id, record.stage, record.reason)
