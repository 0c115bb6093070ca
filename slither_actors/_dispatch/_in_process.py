"""Worker functions run in the parent, for tests: `InProcessExecutor` and `InProcessPool`.

A worker call made here goes the way a worker process would take it, without the process:
the payloads are packed and unpacked as the link would carry them (so what cannot travel
fails here too, and a tuple arrives a tuple), the target is imported and called the same
way (``"module:function"``, or a tool registered with ``slither_actors.worker.tool``), the
results are checked and carried back the same way, and a failure is the same `WorkerError`.
``slither_actors.worker`` works inside the call: ``call_view`` asks the runtime's store
views, ``current_session_id`` gives the call's session and ``worker_id`` is 1.

The function runs in a thread, so that the Trio loop goes on meanwhile (to answer its store
views, to time it out), and the calls of one pool or executor run one at a time, as in a
single worker process, so that module globals see no more concurrency than in a worker.
What a process gives and a thread cannot: a call past its timeout fails at once with
`CallTimeout`, but its thread cannot be stopped and runs on unseen; there is no crash to
recover from (``os._exit`` ends the test run); module globals are the parent's and outlive
the call; and a pool's ``python``, ``env`` and ``cwd`` do not apply.

Nothing here runs unless a test asks for it: the pool and executor of production code are
`WorkerPool` and `WorkerExecutor`.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import outcome
import trio

from slither_actors import telemetry, worker
from slither_actors._checks import check_seconds, check_text, validator
from slither_actors._core import ChildSpec
from slither_actors._dispatch._executors import PayloadExecutor
from slither_actors._pool._codec import UNPACKABLE, Codec, codec_for
from slither_actors._pool._pool import (
    BroadcastReply,
    PoolStats,
    Target,
    WorkerInfo,
    _as_list,
    _parse_target,
)
from slither_actors._pool._state import ViewResolver
from slither_actors._pool.child import check_results
from slither_actors._pool.protocol import (
    Call,
    Frame,
    FrameDecoder,
    Malformed,
    Result,
    encode_call,
    encode_result,
)
from slither_actors._store import active_stores
from slither_actors.config import PoolSettings, settings_in_use
from slither_actors.context import Context
from slither_actors.errors import (
    CallTimeout,
    PayloadError,
    PoolClosed,
    ViewError,
    WorkerError,
)

__all__ = ["InProcessExecutor", "InProcessPool", "in_process_pool_spec"]

_CALL_SPAN = ("slither", "pool", "call")
_text = validator(check_text)


@attrs.define(eq=False)
class _Worker:
    """Runs calls in this process, one at a time, as one worker process runs them."""

    where: str
    calls_done: int = 0
    running: bool = False
    _turn: trio.Lock = attrs.Factory(trio.Lock)

    async def call(
        self,
        target: str,
        tool: bool,
        payloads: list[Any],
        session_id: str | None,
        timeout: float,
        queue_timeout: float | None,
        settings: PoolSettings,
        resolve_view: ViewResolver | None,
    ) -> list[Any]:
        """Run ``target`` on ``payloads``; its results, or the error a pool would raise.
        ``timeout`` counts once the call runs, ``queue_timeout`` while it waits its turn."""
        # Packed as the pool packs it: a payload that cannot travel fails here, as there.
        frame = encode_call(
            0, target, tool, payloads, session_id, settings.max_frame, settings.allow_pickle
        )
        running = _Running(
            _carried(frame, settings, Call),
            settings,
            resolve_view,
            trio.lowlevel.current_trio_token(),
        )
        with trio.move_on_after(_seconds(queue_timeout)) as waiting:
            await self._turn.acquire()
        if waiting.cancelled_caught:
            assert queue_timeout is not None  # an infinite wait ends in a turn
            text = (
                f"call to {target} waited {queue_timeout:g}s for a free worker and did not "
                f"start ({self.where})"
            )
            raise CallTimeout(self.where, target, queue_timeout, text)
        try:
            self.running = True
            with _worker_connection(), trio.move_on_after(timeout) as scope:
                ran = await trio.to_thread.run_sync(
                    outcome.capture, _run, running, abandon_on_cancel=True
                )
        finally:
            self.running = False
            self.calls_done += 1
            self._turn.release()
        if scope.cancelled_caught:
            text = (
                f"call to {target} got no result within {timeout:g}s of starting to run "
                f"({self.where}); its thread runs on"
            )
            raise CallTimeout(self.where, target, timeout, text)
        if isinstance(ran, outcome.Error):
            error = ran.error
            trace = "".join(traceback.format_exception(error))
            raise WorkerError(target, type(error).__name__, str(error), trace, self.where)
        return ran.unwrap()


def _run(running: _Running) -> list[Any]:
    """In the call's thread: what a worker process does with a call, up to its frame."""
    call, settings = running.call, running.settings
    for module in settings.preload:  # a worker imports them as it starts
        importlib.import_module(module)
    _local.running = running
    try:
        function = _function(call.target, call.tool)
        results = check_results(function(call.payloads), call.payloads)
    finally:
        _local.running = None
    frame = encode_result(0, results, settings.max_frame, settings.allow_pickle)
    carried: list[Any] = _carried(frame, settings, Result).results
    return carried


def _seconds(limit: float | None) -> float:
    return math.inf if limit is None else limit


def _carried(frame: Frame, settings: PoolSettings, kind: type[Any]) -> Any:
    """The message ``frame`` holds, decoded as the other end of the link decodes it."""
    data = frame if isinstance(frame, bytes) else b"".join(frame)
    decoder = FrameDecoder(settings.max_frame, allow_pickle=settings.allow_pickle)
    (message,) = decoder.decode(data)
    if isinstance(message, Malformed):  # a value the other end would refuse
        raise PayloadError(f"the other end cannot decode this {kind.__name__}: {message.problem}")
    assert type(message) is kind
    return message


def _function(target: str, tool: bool) -> Callable[[list[Any]], Any]:
    """The function a worker process calls for ``target``, found the way it finds it."""
    if tool:
        found = worker.tools.get(target)
        if found is None:
            known = ", ".join(sorted(worker.tools)) or "none"
            raise LookupError(
                f"no tool named {target!r} in this worker (registered: {known}); "
                f"is the module that defines it listed in the pool's preload?"
            )
        return found
    module_name, _, attribute = target.partition(":")
    function: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        function = getattr(function, part)
    return function  # type: ignore[no-any-return]


@attrs.frozen
class _Running:
    """The call a thread runs, with what its ``slither_actors.worker`` calls need."""

    call: Call
    settings: PoolSettings
    resolve_view: ViewResolver | None
    token: trio.lowlevel.TrioToken


class _Local(threading.local):
    running: _Running | None = None


_local = _Local()


class _InProcessConnection:
    """What ``slither_actors.worker`` reaches while in-process calls run: the call of the
    thread that asks."""

    worker_id = 1

    def current_session_id(self) -> str | None:
        running = _local.running
        return running.call.session_id if running is not None else None

    def call_view(self, name: str, params: dict[str, Any]) -> Any:
        running = _local.running
        if running is None:
            raise RuntimeError("call_view() can only be used while the worker handles a call")
        if running.resolve_view is None:
            problem = f"no view named {name!r}: no store views are registered"
            raise ViewError(name, "LookupError", problem)
        codec = codec_for(running.settings.allow_pickle)
        sent = _travelled(codec, params, name)  # the params and the reply travel as on the link
        try:
            reply = trio.from_thread.run(
                running.resolve_view,
                name,
                sent,
                running.call.session_id,
                trio_token=running.token,
            )
        except Exception as exc:
            raise ViewError(name, type(exc).__name__, str(exc)) from None
        return _travelled(codec, reply, name)


def _travelled(codec: Codec, value: Any, view: str) -> Any:
    """``value`` packed and unpacked, as it arrives on the other end of the link; a
    `ViewError` of type ``PayloadError`` if it cannot travel."""
    try:
        return codec.unpack(codec.pack(value))
    except UNPACKABLE as exc:
        raise ViewError(view, "PayloadError", str(exc)) from None


_CONNECTION = _InProcessConnection()
_calls_running = 0


@contextlib.contextmanager
def _worker_connection() -> Iterator[None]:
    """Make ``slither_actors.worker`` reach `_CONNECTION` while at least one in-process
    call runs (``in_worker()`` is then True in this process)."""
    global _calls_running
    _calls_running += 1
    worker._connection = _CONNECTION
    try:
        yield
    finally:
        _calls_running -= 1
        if not _calls_running and worker._connection is _CONNECTION:
            worker._connection = None


@attrs.define(eq=False, repr=False)
class InProcessPool:
    """Stands in for a `WorkerPool` in a test: the same ``call``, ``broadcast``,
    ``end_session``, ``workers`` and ``stats``, run in this process by one worker (id 1)
    instead of worker processes (see the test kit, docs/testing.md).

    Its ``settings`` apply as far as they need no process: ``call_timeout``,
    ``queue_timeout``, ``preload`` (imported before each call), ``max_frame`` and
    ``allow_pickle``. ``resolve_view`` answers the workers' ``call_view``.
    """

    settings: PoolSettings
    resolve_view: ViewResolver | None = None
    closed: bool = attrs.field(default=False, init=False)
    _worker: _Worker = attrs.field(init=False)

    @_worker.default
    def _make_worker(self) -> _Worker:
        return _Worker(_where(self.settings.name))

    def __repr__(self) -> str:
        return f"<InProcessPool {self.name!r}>"

    @property
    def name(self) -> str:
        return self.settings.name

    async def call(
        self,
        target: Target,
        payloads: Sequence[Any],
        *,
        session_id: str | None = None,
        timeout: float | None = None,
        queue_timeout: float | None = None,
    ) -> list[Any]:
        """Run ``target`` on ``payloads`` as `WorkerPool.call` does, in this process.

        Raises what `WorkerPool.call` raises, but for what only processes and a queue
        limit cause (`WorkerCrashed`, `PoolSaturated`, `SessionLost`, `TooManySessions`).
        """
        name, tool = _parse_target(target)
        items = payloads if type(payloads) is list else _as_list(payloads)
        check_text("session_id", session_id, optional=True)
        settings = self.settings
        seconds = settings.call_timeout if timeout is None else check_seconds("timeout", timeout)
        wait = settings.queue_timeout
        if queue_timeout is not None:
            wait = check_seconds("queue_timeout", queue_timeout)
        if self.closed:
            raise PoolClosed(self.name)
        run = self._worker.call(
            name, tool, items, session_id, seconds, wait, settings, self.resolve_view
        )
        if not telemetry.is_observed(_CALL_SPAN):
            return await run
        metadata = {"pool": self.name, "target": name, "size": len(items), "session_id": session_id}
        with telemetry.span(_CALL_SPAN, metadata) as span:
            span.metadata["worker_id"] = 1
            return await run

    async def broadcast(
        self, target: Target, payload: Any = None, *, timeout: float | None = None
    ) -> list[BroadcastReply]:
        """Run ``target`` on ``[payload]`` in the one worker; its one `BroadcastReply`."""
        try:
            (value,) = await self.call(target, [payload], timeout=timeout)
        except (WorkerError, CallTimeout) as exc:
            return [BroadcastReply(1, os.getpid(), error=exc)]
        return [BroadcastReply(1, os.getpid(), value)]

    async def wait_until_ready(self) -> None:
        """Return at once: the one worker is always ready."""

    def end_session(self, session_id: str) -> None:
        """Nothing to forget: every session's calls run in the one worker."""

    def workers(self) -> list[WorkerInfo]:
        """The one worker, whose pid is this process's."""
        one = self._worker
        return [WorkerInfo(1, os.getpid(), int(one.running), one.calls_done, None)]

    def stats(self) -> PoolStats:
        """One worker, live; the call it runs, if any."""
        return PoolStats(self.name, 1, 1, int(self._worker.running), 0, 0)

    def set_view_resolver(self, resolver: ViewResolver) -> None:
        """Answer workers' ``call_view`` with ``await resolver(name, params, session_id)``."""
        self.resolve_view = resolver


def _where(pool: str) -> str:
    return f"in-process worker 1 of pool {pool!r}, pid {os.getpid()}"


def in_process_pool_spec(
    settings: PoolSettings, resolve_view: ViewResolver | None = None
) -> ChildSpec:
    """A child spec for an `InProcessPool`, with the id a runtime gives the pool's child
    (``pool NAME``), so that ``runtime.pool(NAME)`` finds it."""

    async def run(
        *, task_status: trio.TaskStatus[InProcessPool] = trio.TASK_STATUS_IGNORED
    ) -> None:
        pool = InProcessPool(settings, resolve_view)
        try:
            task_status.started(pool)
            await trio.sleep_forever()
        finally:
            pool.closed = True

    return ChildSpec(f"pool {settings.name}", run)


@attrs.frozen
class InProcessExecutor(PayloadExecutor):
    """Runs ``module.function(payloads)`` in this process, as a worker of the pool ``pool``
    would run it in its own (see `InProcessPool`): the executor to test a worker function
    with `dispatch` without worker processes, in a runtime or outside one.

    In a runtime, the settings of its pool ``pool`` apply (``call_timeout``, ``preload``,
    ``max_frame``, ``allow_pickle``) and ``call_view`` reaches its store views; outside one,
    the default `PoolSettings` apply and there are no views. Its calls run one at a time.
    Raises `ValueError` unless ``module``, ``function`` and ``pool`` are non-empty strs.
    """

    module: str = attrs.field(validator=_text)
    function: str = attrs.field(validator=_text)
    pool: str = attrs.field(default="default", validator=_text)
    _worker: _Worker = attrs.field(init=False, eq=False, repr=False)

    @_worker.default
    def _make_worker(self) -> _Worker:
        return _Worker(_where(self.pool))

    @property
    def name(self) -> str:
        return f"{self.module}:{self.function}"

    async def execute_payloads(
        self, payloads: list[Any], context: Context, timeout: float | None
    ) -> list[Any]:
        """Run ``payloads`` in this process; return one result each."""
        configured = (pool for pool in settings_in_use().pools if pool.name == self.pool)
        settings = next(configured, PoolSettings(name=self.pool))
        stores = active_stores.get()
        resolve_view = stores.views.resolve if stores is not None else None
        seconds = settings.call_timeout if timeout is None else timeout
        return await self._worker.call(
            self.name,
            False,
            payloads,
            context.session_id,
            seconds,
            settings.queue_timeout,
            settings,
            resolve_view,
        )
