"""`WorkerPool`: the handle to a supervised pool of worker processes."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from slither_actors import telemetry
from slither_actors._checks import check_seconds, check_text
from slither_actors._core import (
    ExitReason,
    Reason,
    SupervisorRef,
)
from slither_actors._pool._live import PendingCall, wait_for
from slither_actors._pool._state import PoolState, ViewResolver
from slither_actors._pool.protocol import encode_call
from slither_actors.config import PoolSettings
from slither_actors.errors import PoolClosed

__all__ = [
    "BroadcastReply",
    "PoolStats",
    "Tool",
    "WorkerInfo",
    "WorkerPool",
]


@attrs.frozen
class Tool:
    """A tool registered in the workers with ``@slither_actors.worker.tool(name)``.

    Raises `ValueError` for a ``name`` that is not a non-empty str."""

    name: str = attrs.field(validator=lambda _, __, name: check_text("Tool name", name))


Target = str | Tool
_CALL_SPAN = ("slither", "pool", "call")


def _parse_target(target: Target) -> tuple[str, bool]:
    if isinstance(target, Tool):
        return target.name, True
    if isinstance(target, str):
        return _parse_function(str(target))
    raise ValueError(f"a worker target is 'module:function' or Tool(name), not {target!r}")


def _as_list(payloads: Any) -> list[Any]:
    # A str or a dict is iterable, but one passed as the batch is a mistake, not a list of
    # characters or keys.
    if isinstance(payloads, str | bytes | bytearray | Mapping) or not isinstance(
        payloads, Iterable
    ):
        raise ValueError(
            f"payloads must be a list of payloads, one per item, not "
            f"{type(payloads).__name__} {payloads!r:.60}"
        )
    return list(payloads)


@functools.lru_cache(maxsize=1024)  # a pool is called with few targets, once per batch
def _parse_function(target: str) -> tuple[str, bool]:
    module, separator, function = target.partition(":")
    if separator and module and function:
        return target, False
    raise ValueError(f"a worker target is 'module:function' or Tool(name), not {target!r}")


@attrs.frozen
class BroadcastReply:
    """One worker's answer to a broadcast: its ``value``, or the ``error`` it met."""

    worker_id: int
    pid: int
    value: Any = None
    error: BaseException | None = None


@attrs.frozen
class WorkerInfo:
    """One live worker process, as `WorkerPool.workers` reports it."""

    worker_id: int
    pid: int
    in_flight: int
    calls_done: int
    draining: str | None
    restarts: int = 0  # processes this slot has had before the current one
    last_exit: str | None = None  # why the slot's previous process ended


@attrs.frozen
class PoolStats:
    """Counts for a pool at one moment."""

    name: str
    size: int
    live: int
    in_flight: int
    waiting: int
    sessions: int


@attrs.define(eq=False, repr=False)
class WorkerPool:
    """A running pool of worker processes. Get one from `open_pool` or ``runtime.pool()``.

    Calls go straight from the caller's task to a worker's pipe: picking the worker and
    writing the frame happen without a trip through the scheduler, and the caller then
    waits for its result alone.
    """

    _state: PoolState
    _supervisor: SupervisorRef | None = None

    def __repr__(self) -> str:
        return f"<WorkerPool {self.name!r} {len(self._state.workers)} live workers>"

    @property
    def name(self) -> str:
        return self._state.name

    @property
    def settings(self) -> PoolSettings:
        return self._state.settings

    async def call(
        self,
        target: Target,
        payloads: Sequence[Any],
        *,
        session_id: str | None = None,
        timeout: float | None = None,
        queue_timeout: float | None = None,
    ) -> list[Any]:
        """Run ``target`` (``"module:function"`` or a `Tool`) on ``payloads`` in a worker and
        return its results, one per payload.

        ``session_id`` keeps a session's calls on one worker (see the pool's ``affinity``).
        ``timeout`` (default: the pool's ``call_timeout``) limits how long the function may
        run once a worker has started it; past it, that worker is replaced. Time spent
        waiting for a worker does not count: ``queue_timeout`` (default: the pool's
        ``queue_timeout``, which is None, no limit) limits that. ``math.inf`` means no limit.

        Raises `ValueError` at once, before anything is sent, for a bad target, payloads
        that are not a list, a ``session_id`` that is not a str, or a timeout that is not a
        number of seconds above 0 (NaN, 0, negative, a bool). Raises `WorkerError` if the
        function raised (or returned the wrong number of results), `WorkerCrashed` if its
        worker died under it, `CallTimeout`, `PoolSaturated` when ``queue_limit`` calls
        already wait, `SessionLost` when a strict session's worker has gone,
        `TooManySessions` for a new session of a strict pool that keeps ``max_sessions``,
        `PayloadError` for a payload that cannot travel, and `PoolClosed` once the pool
        stops. Calls written to a worker behind one that crashed never started, so they
        move to another worker and nobody sees the crash but the caller whose call was
        running.
        """
        name, tool = _parse_target(target)
        items = payloads if type(payloads) is list else _as_list(payloads)
        if session_id is not None and (type(session_id) is not str or not session_id):
            check_text("session_id", session_id, optional=True)
        state = self._state
        settings = state.settings
        seconds = settings.call_timeout if timeout is None else check_seconds("timeout", timeout)
        if queue_timeout is None:
            wait = settings.queue_timeout
        else:
            wait = check_seconds("queue_timeout", queue_timeout)
        call_id = state.call_ids()
        frame = encode_call(
            call_id, name, tool, items, session_id, settings.max_frame, settings.allow_pickle
        )
        pending = PendingCall(call_id, name, frame, session_id, timeout=seconds, queue_timeout=wait)
        if telemetry.is_observed(_CALL_SPAN):
            metadata = {
                "pool": state.name,
                "target": name,
                "size": len(items),
                "session_id": session_id,
            }
            with telemetry.span(_CALL_SPAN, metadata) as span:
                await self._run(pending)
                if pending.worker is not None:
                    span.metadata["worker_id"] = pending.worker.worker_id
                if pending.error is not None:
                    raise pending.error
        else:
            await self._run(pending)
        if pending.error is not None:
            raise pending.error
        results: list[Any] = pending.value
        return results

    async def _run(self, pending: PendingCall) -> None:
        state = self._state
        if pending.queue_timeout is not None:
            state.call_submitted(pending)
        try:
            accepted = False
            while not pending.settled:
                state.dispatch(pending, accepted=accepted)
                await wait_for(pending)
                if not pending.requeued:
                    return
                pending.requeued, accepted = False, True
        except BaseException:
            self._state.abandon(pending)
            raise

    async def broadcast(
        self, target: Target, payload: Any = None, *, timeout: float | None = None
    ) -> list[BroadcastReply]:
        """Run ``target`` on ``[payload]`` once in every live worker; one reply each.

        Reaches each worker that is live at the time of the call exactly once: a worker
        that dies meanwhile reports an error, and nothing is re-run elsewhere. ``timeout``
        limits each worker's run, as for `call`; a bad one is a `ValueError`.
        """
        name, tool = _parse_target(target)
        state = self._state
        settings = state.settings
        seconds = settings.call_timeout if timeout is None else check_seconds("timeout", timeout)
        if state.closed:
            raise PoolClosed(self.name)
        workers = [worker for _, worker in sorted(state.workers.items()) if worker.alive]
        calls = []
        for worker in workers:
            call_id = state.call_ids()
            frame = encode_call(
                call_id, name, tool, [payload], None, settings.max_frame, settings.allow_pickle
            )
            pending = PendingCall(call_id, name, frame, None, pinned=True, timeout=seconds)
            state.submit(worker, pending)
            calls.append(pending)
        try:
            for pending in calls:
                await wait_for(pending)
        except BaseException:
            for pending in calls:
                self._state.abandon(pending)
            raise
        return [
            BroadcastReply(
                worker.worker_id,
                worker.pid,
                pending.value[0] if pending.error is None else None,
                pending.error,
            )
            for worker, pending in zip(workers, calls, strict=True)
        ]

    async def wait_until_ready(self) -> None:
        """Wait until every worker is live, e.g. after a crash or a replacement.

        Raises `PoolClosed` if the pool stops meanwhile.
        """
        state = self._state
        while sum(worker.alive for worker in state.workers.values()) < state.worker_count:
            if state.closed:
                raise PoolClosed(self.name)
            await state.changed.wait()

    def end_session(self, session_id: str) -> None:
        """Forget which worker ``session_id`` is bound to (e.g. when a run is over)."""
        self._state.end_session(session_id)

    def workers(self) -> list[WorkerInfo]:
        """The live workers, by worker id."""
        return [
            WorkerInfo(
                worker.worker_id,
                worker.pid,
                len(worker.outstanding),
                worker.calls_done,
                worker.draining,
                max(0, self._state.starts[worker.worker_id] - 1),
                self._state.last_exit.get(worker.worker_id),
            )
            for _, worker in sorted(self._state.workers.items())
            if worker.alive
        ]

    @property
    def closed(self) -> bool:
        """True once the pool is stopping or has stopped (it takes no more calls)."""
        return self._state.closed

    def stats(self) -> PoolStats:
        """How many workers are live, how many calls run and wait, how many sessions."""
        state = self._state
        return PoolStats(
            name=state.name,
            size=state.settings.worker_count,
            live=len(state.workers),
            in_flight=sum(len(worker.outstanding) for worker in state.workers.values()),
            waiting=len(state.waiting),
            sessions=len(state.sessions),
        )

    def set_view_resolver(self, resolver: ViewResolver) -> None:
        """Answer workers' ``call_view`` with ``await resolver(name, params, session_id)``."""
        self._state.resolve_view = resolver

    def request_stop(self, reason: Reason = ExitReason.SHUTDOWN) -> None:
        """Refuse new calls and stop every worker (stop frame, grace, SIGTERM, SIGKILL)."""
        if not self._state.closed:
            self._state.close()  # every worker starts stopping now, all at once
        if self._supervisor is not None:
            self._supervisor.request_stop()

    async def stop(self) -> None:
        """Stop the pool and wait until every worker process has ended."""
        self.request_stop()
        await self.wait_exited()

    async def wait_exited(self) -> None:
        """Wait until the pool has stopped and every worker process has ended.

        A supervisor whose child reported this pool as started waits for this after asking
        the pool to stop, and ends the child then rather than after its full shutdown time.
        """
        if self._supervisor is not None:
            await self._supervisor.wait_exited()
