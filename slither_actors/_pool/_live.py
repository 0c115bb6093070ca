"""One live worker and the calls on it: which call runs, and which task reads its pipe.

Everything here runs in the Trio thread. The worker runs its calls one at a time, in the
order they were written; a caller waiting for the running call reads the worker's pipe
itself when nobody else does, so a round trip costs one task wake-up, not two.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from slither_actors._core import Signal
from slither_actors._pool.protocol import Frame

__all__ = ["LiveWorker", "PendingCall", "wait_for"]


@attrs.define(eq=False, slots=True)
class PendingCall:
    """One call on its way: waiting for a worker, or written to one and awaiting its result.

    Its caller waits on ``wakeup``, which is set whenever something the caller may act on
    happens: the call settled, was requeued, was given a worker, or its worker's reader
    stepped aside.
    """

    call_id: int
    target: str
    frame: Frame
    session_id: str | None
    pinned: bool = False  # a broadcast: never moved to another worker
    timeout: float = 0.0  # how long it may run once its worker has started it
    queue_timeout: float | None = None  # how long it may wait to start; None: no limit
    running: bool = False  # its worker runs it now: its run timeout is counting
    settled: bool = False
    value: Any = None
    error: BaseException | None = None
    requeued: bool = False
    has_waiter: bool = True  # its caller has not given up (see `attended`)
    worker: LiveWorker | None = None
    wakeup: Signal | None = None  # made when its caller first waits

    @property
    def attended(self) -> bool:
        """True while a caller waits for this call: it has neither given up nor been
        answered (a call that timed out while queued in a worker stays there, settled,
        and its result must still be read by someone)."""
        return self.has_waiter and not self.settled

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

    The worker runs its calls one at a time, in the order written: the oldest call in
    ``outstanding`` runs, and ``started`` is told whenever a call begins to run (its run
    timeout counts from then).
    """

    worker_id: int
    pid: int
    where: str
    write: Callable[[Frame], None]
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
    started: Callable[[PendingCall], None] = lambda pending: None

    @property
    def has_capacity(self) -> bool:
        return self.alive and self.draining is None and len(self.outstanding) < self.capacity

    def poke(self) -> None:
        """The reader stepped aside: wake whoever should read next. That is the caller of
        the running call, or the worker's own reader if no caller waits for it."""
        head = next(iter(self.outstanding.values()), None)
        if head is None:
            return
        if head.attended:
            head.wake()
        else:
            self.changed.set()

    def unattended(self) -> bool:
        """True if the running call has no caller waiting for it (so nobody would read)."""
        head = next(iter(self.outstanding.values()), None)
        return head is not None and not head.attended

    def submit(self, pending: PendingCall) -> None:
        """Write ``pending`` to this worker; it starts at once if the worker is idle."""
        pending.worker = self
        outstanding = self.outstanding
        outstanding[pending.call_id] = pending
        self.write(pending.frame)
        if len(outstanding) == 1:
            self.started(pending)

    def finish(self, call_id: int) -> PendingCall | None:
        """The worker answered ``call_id``: take it out (None if it is not in flight) and
        count the next call as started, unless the worker is ending (its last results are
        being read): the calls behind will move to another worker, where their clocks
        start."""
        outstanding = self.outstanding
        pending = outstanding.pop(call_id, None)
        if pending is None:
            return None
        pending.running = False
        if outstanding and self.alive:
            head = next(iter(outstanding.values()))
            if not head.running:
                self.started(head)
        return pending

    def is_running(self, pending: PendingCall) -> bool:
        """True if ``pending`` is the call the worker is executing now (the oldest)."""
        return next(iter(self.outstanding), None) == pending.call_id


async def wait_for(pending: PendingCall) -> None:
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
