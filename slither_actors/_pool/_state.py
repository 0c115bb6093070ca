"""A pool's shared state: its live workers, the calls waiting for one, session affinity.

Everything here is synchronous and runs in the Trio thread, so each method is atomic: a
call is assigned to a worker and its frame written without a trip through the scheduler.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors._core import Signal
from slither_actors._pool._deadlines import Deadlines
from slither_actors._pool._live import LiveWorker, PendingCall
from slither_actors.config import Affinity, PoolSettings
from slither_actors.errors import (
    CallTimeout,
    PoolClosed,
    PoolSaturated,
    SessionLost,
    TooManySessions,
)

__all__ = ["PoolState", "ViewResolver", "affinity_broken"]

# Answers a worker's call_view: (name, params, session id) -> the reply.
ViewResolver = Callable[[str, dict[str, Any], str | None], Awaitable[Any]]


@attrs.define(eq=False)
class PoolState:
    """The live workers of one pool and the calls waiting for them."""

    settings: PoolSettings
    workers: dict[int, LiveWorker] = attrs.Factory(dict)
    waiting: collections.deque[PendingCall] = attrs.Factory(collections.deque)
    sessions: dict[str, LiveWorker] = attrs.Factory(dict)  # least recently used first
    call_ids: Callable[[], int] = attrs.Factory(lambda: itertools.count(1).__next__)
    closed: bool = False
    starts: collections.Counter[int] = attrs.Factory(collections.Counter)
    last_exit: dict[int, str] = attrs.Factory(dict)  # why each slot's last process ended
    start_failure: BaseException | None = None
    changed: Signal = attrs.Factory(Signal)
    resolve_view: ViewResolver | None = None
    clock: Callable[[], float] = trio.current_time
    # Two clocks per call: how long it runs once started, and how long it waits to start.
    run_deadlines: Deadlines[PendingCall] = attrs.field(init=False)
    wait_deadlines: Deadlines[PendingCall] = attrs.field(init=False)

    @run_deadlines.default
    def _make_run_deadlines(self) -> Deadlines[PendingCall]:
        return Deadlines(self.expire_run, _is_running)

    @wait_deadlines.default
    def _make_wait_deadlines(self) -> Deadlines[PendingCall]:
        return Deadlines(self.expire_wait, _is_waiting)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def worker_count(self) -> int:
        return self.settings.worker_count

    # --- assignment -----------------------------------------------------------------------

    def dispatch(self, pending: PendingCall, *, accepted: bool = False) -> None:
        """Write ``pending`` to a worker now, or queue it; raise if neither is allowed.

        An ``accepted`` call (one sent again after its worker died before starting it) is
        never refused for a full queue: it was let in once already.
        """
        if self.closed:
            raise PoolClosed(self.name)
        worker = self._pick(pending.session_id)
        if worker is not None:
            self.submit(worker, pending)
            return
        if not accepted and len(self.waiting) >= self.settings.queue_limit:
            telemetry.execute(
                ("slither", "pool", "saturated"),
                {"waiting": len(self.waiting)},
                {"pool": self.name, "queue_limit": self.settings.queue_limit},
            )
            raise PoolSaturated(self.name, self.settings.queue_limit)
        self.waiting.append(pending)

    def _pick(self, session_id: str | None) -> LiveWorker | None:
        """The worker for a call of ``session_id``, None to wait. Under strict affinity,
        `SessionLost` if its worker has gone, `TooManySessions` if a new session would
        make the pool forget another's binding."""
        if session_id is None:
            return self._least_loaded()
        bound = self.sessions.get(session_id)
        if bound is not None and bound.alive and bound.draining is None:
            self.sessions[session_id] = self.sessions.pop(session_id)  # recently used
            if self.settings.affinity is Affinity.STRICT:
                return bound if bound.has_capacity else None
            # Hint: the session's worker unless another has less queued on it (an idle
            # worker beats queueing behind a running call); the binding stays either way.
            other = self._least_loaded()
            if bound.has_capacity and (
                other is None or len(bound.outstanding) <= len(other.outstanding)
            ):
                return bound
            return other
        if self.settings.affinity is Affinity.STRICT:
            if bound is not None:
                raise SessionLost(self.name, session_id, bound.where)
            if len(self.sessions) >= self.settings.max_sessions:
                raise TooManySessions(self.name, session_id, self.settings.max_sessions)
        worker = self._least_loaded()
        if worker is not None:
            self._bind(session_id, worker, previous=bound)
        return worker

    def _least_loaded(self) -> LiveWorker | None:
        best: LiveWorker | None = None
        fewest = 0
        for worker in self.workers.values():
            load = len(worker.outstanding)
            if (
                (best is None or load < fewest)
                and load < worker.capacity  # `has_capacity`, written out: this runs per call
                and worker.alive
                and worker.connection.accepting
            ):
                best, fewest = worker, load
        return best

    def _bind(self, session_id: str, worker: LiveWorker, previous: LiveWorker | None) -> None:
        self.sessions.pop(session_id, None)
        self.sessions[session_id] = worker
        while len(self.sessions) > self.settings.max_sessions:
            del self.sessions[next(iter(self.sessions))]
        if previous is not None:
            reason = "recycled" if previous.draining else "worker exited"
            affinity_broken(self.name, session_id, previous.worker_id, worker.worker_id, reason)

    def end_session(self, session_id: str) -> None:
        """Forget the worker ``session_id`` was bound to."""
        self.sessions.pop(session_id, None)

    def capacity_freed(self) -> None:
        """Hand waiting calls, oldest first, to workers that can take them."""
        if not self.waiting:
            return
        for pending in list(self.waiting):
            try:
                worker = self._pick(pending.session_id)
            except (SessionLost, TooManySessions) as refused:
                self.waiting.remove(pending)
                pending.fail(refused)
                continue
            if worker is not None:
                self.waiting.remove(pending)
                self.submit(worker, pending)
                pending.wake()  # its caller may now read the worker's pipe itself
            elif pending.session_id is None:
                return  # no worker has room at all; strict calls behind may still fit

    # --- time ---------------------------------------------------------------------------

    def submit(self, worker: LiveWorker, pending: PendingCall) -> None:
        """Write ``pending`` to ``worker``; if it runs at once (the worker was idle), its
        run timeout counts from now."""
        connection = worker.connection
        outstanding = worker.outstanding
        worker.write(connection.send_call(pending.call_id, pending.frame, pending.timeout))
        pending.worker = worker
        outstanding[pending.call_id] = pending
        if len(outstanding) == 1:  # the worker was idle: it runs this call now
            self.call_started(pending, connection.deadline)

    def call_started(self, pending: PendingCall, deadline: float) -> None:
        """``pending`` has begun to run in its worker: it must answer by ``deadline``."""
        pending.running = True
        self.run_deadlines.add(pending, deadline)

    def call_submitted(self, pending: PendingCall) -> None:
        """``pending`` has entered the pool: its queue timeout, if any, counts from now."""
        if pending.queue_timeout is not None:
            self.wait_deadlines.add(pending, self.clock() + pending.queue_timeout)

    def expire_run(self, pending: PendingCall) -> None:
        """``pending`` ran over its timeout: its worker, stuck in it, is replaced (and the
        caller reading that worker's pipe wakes when the process ends). It fails, unless
        its caller was answered already (it had timed out in the queue)."""
        worker = pending.worker
        assert worker is not None  # only a call in a worker runs
        expired = worker.connection.expire_overdue(self.clock())
        if expired is None:
            return  # it moved to another worker, where it runs on a later deadline
        pending = worker.settle(expired.call_id)  # the worker's running call, overdue
        if worker.alive:
            reason = f"was replaced after {pending.target} ran over {pending.timeout:g}s"
            worker.driver.replace(reason)
        text = (
            f"call to {pending.target} got no result within {pending.timeout:g}s "
            f"of starting to run ({worker.where})"
        )
        pending.fail(CallTimeout(worker.where, pending.target, pending.timeout, text))

    def expire_wait(self, pending: PendingCall) -> None:
        """``pending`` waited longer than its queue timeout to start: it fails. A call
        already written to a worker (queued behind the call that worker runs) cannot be
        taken back; it stays there, settled, and its result is read and dropped."""
        worker = pending.worker
        seconds = pending.queue_timeout
        assert seconds is not None
        if worker is None:
            self.withdraw(pending)
            where, behind = f"pool {self.name!r}", "for a free worker"
        else:
            where, behind = worker.where, "behind the call that worker runs"
        text = f"call to {pending.target} waited {seconds:g}s {behind} and did not start ({where})"
        pending.fail(CallTimeout(where, pending.target, seconds, text))

    def withdraw(self, pending: PendingCall) -> None:
        """Take ``pending`` out of the queue of calls waiting for a worker, if it is there."""
        if pending in self.waiting:
            self.waiting.remove(pending)

    def abandon(self, pending: PendingCall) -> None:
        """The caller stops waiting for ``pending`` (it was cancelled). A call already
        written to a worker runs anyway; its result is read and dropped."""
        pending.has_waiter = False
        self.withdraw(pending)
        if pending.worker is not None and not pending.settled:
            pending.worker.poke()  # someone must read its result now

    # --- workers coming and going ---------------------------------------------------------

    def worker_ready(self, worker: LiveWorker) -> None:
        self.starts[worker.worker_id] += 1
        self.workers[worker.worker_id] = worker
        self._changed()
        self.capacity_freed()

    def worker_gone(
        self, worker: LiveWorker, head_error: Callable[[PendingCall], BaseException]
    ) -> None:
        """``worker`` has ended: its running call fails, the calls behind it (never started)
        go back to the queue, and strict calls waiting for it learn their session is lost."""
        worker.alive = False
        if self.workers.get(worker.worker_id) is worker:
            del self.workers[worker.worker_id]
        for lost in worker.connection.connection_lost():
            pending = worker.settle(lost.call_id)
            if pending.settled:
                continue  # it timed out already
            if lost.started or pending.pinned:
                pending.fail(head_error(pending))
            elif self.closed:
                pending.fail(PoolClosed(self.name))
            else:
                pending.requeue()
        self._changed()
        self.capacity_freed()

    def worker_failed_to_start(self, error: BaseException) -> None:
        if self.start_failure is None:
            self.start_failure = error
        self._changed()

    def _changed(self) -> None:
        self.changed.set()

    async def wait_until_ready(self, count: int) -> None:
        """Wait until ``count`` workers have said hello; raise the first start failure."""
        while len(self.workers) < count:
            if self.start_failure is not None:
                raise self.start_failure
            await self.changed.wait()

    def close(self) -> None:
        """Refuse new calls, fail the ones still waiting for a worker, and start stopping
        every worker now, all at once (each finishes its call in flight within stop_grace)."""
        self.closed = True
        self._changed()
        while self.waiting:
            self.waiting.popleft().fail(PoolClosed(self.name))
        for worker in list(self.workers.values()):
            worker.driver.stop()


def _is_running(pending: PendingCall) -> bool:
    return pending.running


def _is_waiting(pending: PendingCall) -> bool:
    return not (pending.running or pending.settled)


def affinity_broken(
    pool: str, session_id: str, from_worker: int, to_worker: int, reason: str
) -> None:
    """Emit ``("slither", "session", "affinity", "broken")``: a hint-affinity session moved
    from one worker slot to another, for ``reason`` ("worker exited" or "recycled")."""
    telemetry.execute(
        ("slither", "session", "affinity", "broken"),
        {},
        {
            "pool": pool,
            "session_id": session_id,
            "from_worker": from_worker,
            "to_worker": to_worker,
            "reason": reason,
        },
    )
