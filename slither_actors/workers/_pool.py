"""`WorkerPool`: the handle to a supervised pool of worker processes, and how it runs."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors.config import PoolSettings
from slither_actors.core import (
    ChildKind,
    ChildSpec,
    ExitReason,
    Reason,
    Signal,
    Supervisor,
    SupervisorRef,
    open_own_nursery,
)
from slither_actors.errors import PoolClosed
from slither_actors.workers._state import PendingCall, PoolState, ViewResolver
from slither_actors.workers._worker import WorkerActor
from slither_actors.workers.protocol import encode_call

__all__ = [
    "BroadcastReply",
    "PoolStats",
    "Tool",
    "WorkerInfo",
    "WorkerPool",
    "open_pool",
    "pool_child_spec",
    "run_pool",
]


@attrs.frozen
class Tool:
    """A tool registered in the workers with ``@slither_actors.worker.tool(name)``."""

    name: str


Target = str | Tool
_CALL_SPAN = ("slither", "pool", "call")


def _parse_target(target: Target) -> tuple[str, bool]:
    if isinstance(target, Tool):
        return target.name, True
    if isinstance(target, str):
        return _parse_function(str(target))
    raise ValueError(f"a worker target is 'module:function' or Tool(name), not {target!r}")


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
    ) -> list[Any]:
        """Run ``target`` (``"module:function"`` or a `Tool`) on ``payloads`` in a worker and
        return its results, one per payload.

        ``session_id`` keeps a session's calls on one worker (see the pool's ``affinity``).
        ``timeout`` (default: the pool's ``call_timeout``) covers the wait for a worker and
        the run; when it expires while the call runs, that worker is replaced.

        Raises `WorkerError` if the function raised (or returned the wrong number of
        results), `WorkerCrashed` if its worker died under it, `CallTimeout`,
        `PoolSaturated` when ``queue_limit`` calls already wait, `SessionLost` when a strict
        session's worker has gone, `TooManySessions` for a new session of a strict pool
        that keeps ``max_sessions``, `PayloadError` for a payload msgpack cannot carry, and
        `PoolClosed` once the pool stops. Calls written to a worker behind one that crashed
        never started, so they move to another worker and nobody sees the crash but the
        caller whose call was running.
        """
        name, tool = _parse_target(target)
        items = payloads if type(payloads) is list else list(payloads)
        state = self._state
        call_id = state.call_ids()
        frame = encode_call(call_id, name, tool, items, session_id, state.settings.max_frame)
        seconds = state.settings.call_timeout if timeout is None else timeout
        pending = PendingCall(call_id, name, frame, session_id, timeout=seconds)
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
        state.deadlines.add(pending, trio.current_time() + pending.timeout)
        try:
            accepted = False
            while not pending.settled:
                state.dispatch(pending, accepted=accepted)
                await _wait(pending)
                if not pending.requeued:
                    return
                pending.requeued, accepted = False, True
        except BaseException:
            self._abandon(pending)
            raise

    def _abandon(self, pending: PendingCall) -> None:
        """The caller stops waiting (it was cancelled). A call already written to a worker
        runs anyway; its result is read and dropped."""
        pending.has_waiter = False
        self._state.withdraw(pending)
        if pending.worker is not None and not pending.settled:
            pending.worker.poke()  # someone must read its result now

    async def broadcast(
        self, target: Target, payload: Any = None, *, timeout: float | None = None
    ) -> list[BroadcastReply]:
        """Run ``target`` on ``[payload]`` once in every live worker; one reply each.

        Reaches each worker that is live at the time of the call exactly once: a worker
        that dies meanwhile reports an error, and nothing is re-run elsewhere.
        """
        name, tool = _parse_target(target)
        state = self._state
        seconds = state.settings.call_timeout if timeout is None else timeout
        if state.closed:
            raise PoolClosed(self.name)
        workers = [worker for _, worker in sorted(state.workers.items()) if worker.alive]
        deadline = trio.current_time() + seconds
        calls = []
        for worker in workers:
            call_id = state.call_ids()
            frame = encode_call(call_id, name, tool, [payload], None, state.settings.max_frame)
            pending = PendingCall(call_id, name, frame, None, pinned=True, timeout=seconds)
            state.deadlines.add(pending, deadline)
            worker.submit(pending)
            calls.append(pending)
        try:
            for pending in calls:
                await _wait(pending)
        except BaseException:
            for pending in calls:
                self._abandon(pending)
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
        if self._supervisor is not None:
            await self._supervisor.wait_exited()


async def _wait(pending: PendingCall) -> None:
    """Wait until ``pending`` settles or is requeued. While nobody else reads its worker's
    pipe, read it here: the result then needs no second task to deliver it."""
    while not (pending.settled or pending.requeued):
        worker = pending.worker
        if (
            worker is not None
            and worker.alive
            and worker.reader is None
            and worker.is_running(pending)
        ):
            # Only the caller of the running call reads: if that call times out, its
            # worker is replaced and the ended process wakes this read. A caller whose
            # call merely waits behind it is woken by its own deadline instead.
            worker.reader = pending
            try:
                # Its call has only just started (the one ahead of it has finished, or it
                # went to an idle worker), so the answer is not there yet: let the other
                # tasks run before the first read. Reading at once came up empty for about
                # every other batch (bench/pool.py), each a failed syscall and a yield anyway.
                await trio.lowlevel.cancel_shielded_checkpoint()
                while worker.alive and not (pending.settled or pending.requeued):
                    await worker.read_step()
            finally:
                worker.reader = None
                worker.poke()  # another caller (or the worker's own reader) takes over
        else:
            if pending.wakeup is None:
                pending.wakeup = Signal()
            await pending.wakeup.wait()


async def run_pool(
    settings: PoolSettings,
    resolve_view: ViewResolver | None = None,
    *,
    task_status: trio.TaskStatus[WorkerPool] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a pool until it is stopped: one `WorkerActor` per worker under a one_for_one
    supervisor. Reports the `WorkerPool` once every worker has said hello; raises
    `WorkerStartFailed` if one cannot start, `SupervisorExhausted` if workers keep dying."""
    state = PoolState(settings, resolve_view=resolve_view)
    size = settings.worker_count
    shutdown = settings.stop_grace + settings.kill_grace + 1.0
    workers = Supervisor(
        [
            ChildSpec.actor(
                f"worker {number}", partial(WorkerActor, state, number), shutdown=shutdown
            )
            for number in range(1, size + 1)
        ],
        max_restarts=settings.max_restarts,
        max_seconds=settings.max_seconds,
        name=f"pool {settings.name}",
    )
    pool = WorkerPool(state)
    try:
        async with open_own_nursery() as nursery:
            nursery.start_soon(state.deadlines.run)
            pool._supervisor = await nursery.start(workers.start)
            try:
                await state.wait_until_ready(size)
            except BaseException:
                pool.request_stop()
                raise
            task_status.started(pool)
            await pool._supervisor.wait_exited()
            nursery.cancel_scope.cancel()  # the deadline task is all that is left
    finally:
        state.close()


def pool_child_spec(settings: PoolSettings, resolve_view: ViewResolver | None = None) -> ChildSpec:
    """A child spec that runs the pool ``settings`` describes under a supervisor; its
    workers' ``call_view`` is answered by ``resolve_view`` (the runtime's views)."""
    return ChildSpec(
        f"pool {settings.name}",
        partial(run_pool, settings, resolve_view),
        kind=ChildKind.SUPERVISOR,
    )


@asynccontextmanager
async def open_pool(settings: PoolSettings | None = None) -> AsyncIterator[WorkerPool]:
    """Run a pool for the duration of the block, outside any runtime; stop it after.

    ::

        async with open_pool(PoolSettings(size=2, preload=["my_model"])) as pool:
            results = await pool.call("my_model:predict_batch", [1, 2, 3])
    """
    async with open_own_nursery() as nursery:
        pool: WorkerPool = await nursery.start(run_pool, settings or PoolSettings())
        try:
            yield pool
        finally:
            pool.request_stop()
