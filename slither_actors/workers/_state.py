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

from slither_actors import telemetry
from slither_actors.config import Affinity, PoolSettings
from slither_actors.core import Signal
from slither_actors.errors import (
    CallTimeout,
    PoolClosed,
    PoolSaturated,
    SessionLost,
    TooManySessions,
)
from slither_actors.workers._deadlines import Deadlines

__all__ = ["LiveWorker", "PendingCall", "PoolState", "ViewResolver"]

# Answers a worker's call_view: (name, params, session id) -> the reply.
ViewResolver = Callable[[str, dict[str, Any], str | None], Awaitable[Any]]


@attrs.define(eq=False, slots=True)
class PendingCall:
    """One call on its way: waiting for a worker, or written to one and awaiting its result.

    Its caller waits on ``wakeup``, which is set whenever something the caller may act on
    happens: the call settled, was requeued, was given a worker, or its worker's reader
    stepped aside.
    """

    call_id: int
    target: str
    frame: bytes
    session_id: str | None
    pinned: bool = False  # a broadcast: never moved to another worker
    timeout: float = 0.0
    settled: bool = False
    value: Any = None
    error: BaseException | None = None
    requeued: bool = False
    has_waiter: bool = True  # a caller still waits for it
    worker: LiveWorker | None = None
    wakeup: Signal | None = None  # made when its caller first waits

    def wake(self) -> None:
        if self.wakeup is not None:
            self.wakeup.set()

    def resolve(self, value: Any) -> None:
        if not self.settled:
            self.value = value
            self.settled = True
            self.frame = b""  # it will not be sent again; do not keep a large payload alive
            self.wake()

    def fail(self, error: BaseException) -> None:
        if not self.settled:
            self.error = error
            self.settled = True
            self.frame = b""
            self.wake()

    def requeue(self) -> None:
        """Its worker went away before starting it: the caller sends it again."""
        self.requeued = True
        self.worker = None
        self.wake()


async def _no_reading() -> None:
    raise RuntimeError("this worker is not serving yet")


@attrs.define(eq=False)
class LiveWorker:
    """One worker process that has said hello, as the pool sees it.

    One task at a time reads its pipe: preferably a caller waiting for a result (it then
    needs no second task to wake it), otherwise the worker's own background reader.
    ``reader`` says who reads now; ``read_step`` waits for bytes and handles them.
    """

    worker_id: int
    pid: int
    where: str
    write: Callable[[bytes], None]
    capacity: int
    started_at: float
    outstanding: dict[int, PendingCall] = attrs.Factory(dict)  # in write order: head runs
    calls_done: int = 0
    results_since_rss_check: int = 0
    alive: bool = True
    draining: str | None = None  # why it is being recycled, once it is
    replace: Callable[[str], None] = lambda reason: None  # end this process, start another
    stop: Callable[[], None] = lambda: None  # end this process gracefully: the pool stops
    read_step: Callable[[], Awaitable[None]] = _no_reading
    reader: object | None = None
    changed: Signal = attrs.Factory(Signal)

    @property
    def has_capacity(self) -> bool:
        return self.alive and self.draining is None and len(self.outstanding) < self.capacity

    def poke(self) -> None:
        """The reader stepped aside: wake whoever should read next. That is the caller of
        the running call, or the worker's own reader if no caller waits for it."""
        head = next(iter(self.outstanding.values()), None)
        if head is None:
            return
        if head.has_waiter:
            head.wake()
        else:
            self.changed.set()

    def unattended(self) -> bool:
        """True if the running call has no caller waiting for it (so nobody would read)."""
        head = next(iter(self.outstanding.values()), None)
        return head is not None and not head.has_waiter

    def submit(self, pending: PendingCall) -> None:
        pending.worker = self
        self.outstanding[pending.call_id] = pending
        self.write(pending.frame)

    def is_running(self, pending: PendingCall) -> bool:
        """True if ``pending`` is the call the worker is executing now (the oldest)."""
        return next(iter(self.outstanding), None) == pending.call_id


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
    deadlines: Deadlines[PendingCall] = attrs.field(init=False)

    @deadlines.default
    def _make_deadlines(self) -> Deadlines[PendingCall]:
        return Deadlines(self.expire)

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
            worker.submit(pending)
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
            if worker.has_capacity and (best is None or load < fewest):
                best, fewest = worker, load
        return best

    def _bind(self, session_id: str, worker: LiveWorker, previous: LiveWorker | None) -> None:
        self.sessions.pop(session_id, None)
        self.sessions[session_id] = worker
        while len(self.sessions) > self.settings.max_sessions:
            del self.sessions[next(iter(self.sessions))]
        if previous is not None:
            telemetry.execute(
                ("slither", "session", "affinity", "broken"),
                {},
                {
                    "pool": self.name,
                    "session_id": session_id,
                    "from_worker": previous.worker_id,
                    "to_worker": worker.worker_id,
                    "reason": "recycled" if previous.draining else "worker exited",
                },
            )

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
                worker.submit(pending)
                pending.wake()  # its caller may now read the worker's pipe itself
            elif pending.session_id is None:
                return  # no worker has room at all; strict calls behind may still fit

    def expire(self, pending: PendingCall) -> None:
        """``pending`` ran out of time. If it was running, its worker is replaced (and the
        caller reading that worker's pipe wakes when the process ends)."""
        worker = pending.worker
        if pending in self.waiting:
            self.waiting.remove(pending)
            state, where = "waited for a worker", f"pool {self.name!r}"
        elif worker is not None and worker.alive and worker.is_running(pending):
            worker.replace(f"was replaced after {pending.target} ran over {pending.timeout:g}s")
            state, where = "got no result", worker.where
        else:
            state = "got no result"
            where = worker.where if worker is not None else f"pool {self.name!r}"
        text = f"call to {pending.target} {state} within {pending.timeout:g}s ({where})"
        pending.fail(CallTimeout(where, pending.target, pending.timeout, text))

    def withdraw(self, pending: PendingCall) -> None:
        """The caller gave up on ``pending`` while it waited for a worker."""
        if pending in self.waiting:
            self.waiting.remove(pending)

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
        calls = list(worker.outstanding.values())
        worker.outstanding.clear()
        for index, pending in enumerate(calls):
            if pending.settled:
                continue  # it timed out already
            if index == 0 or pending.pinned:
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
            worker.stop()
