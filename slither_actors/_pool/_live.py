"""One live worker and the calls on it: which call runs, and which task reads its pipe.

Everything here runs in the Trio thread. The worker runs its calls one at a time, in the
order they were written; a caller waiting for the running call reads the worker's pipe
itself when nobody else does, so a round trip costs one task wake-up, not two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio

from slither_actors._core import Signal
from slither_actors._pool._parent_connection import ParentConnection
from slither_actors._pool.protocol import Frame

__all__ = ["LiveWorker", "PendingCall", "WorkerDriver", "wait_for"]


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


class WorkerDriver(Protocol):
    """What serves a live worker (see `Serving`): the pool asks it to end the process."""

    def replace(self, reason: str) -> None:
        """End this process now (not gracefully) and start another in its slot."""

    def stop(self) -> None:
        """End this process gracefully: the pool is stopping."""

    async def read_step(self) -> None:
        """Wait for bytes from the worker and act on every event in them."""


@attrs.define(eq=False)
class LiveWorker:
    """One worker process that has said hello, as the pool sees it.

    The protocol's view of the link (which call runs, by when it must answer, what the
    worker may still send) is its ``connection``; this adds who waits for each call.
    ``outstanding`` maps the connection's unanswered calls to their `PendingCall`, in the
    order written: the worker runs them one at a time, oldest first.

    One task at a time reads its pipe: preferably a caller waiting for a result (it then
    needs no second task to wake it), otherwise the worker's own background reader.
    ``reader`` says who reads now; ``driver.read_step`` waits for bytes and handles them.
    """

    worker_id: int
    pid: int
    where: str
    write: Callable[[Frame], None]
    capacity: int
    started_at: float
    connection: ParentConnection
    driver: WorkerDriver
    outstanding: dict[int, PendingCall] = attrs.Factory(dict)  # in write order: head runs
    results_since_rss_check: int = 0
    alive: bool = True
    reader: object | None = None
    changed: Signal = attrs.Factory(Signal)

    @property
    def has_capacity(self) -> bool:
        return self.alive and self.connection.accepting and len(self.outstanding) < self.capacity

    @property
    def draining(self) -> str | None:
        """Why this worker takes no new calls (it is being recycled), if it is."""
        return self.connection.draining

    @property
    def calls_done(self) -> int:
        return self.connection.calls_done

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

    def settle(self, call_id: int) -> PendingCall:
        """The connection ended call ``call_id``: its `PendingCall`, taken out."""
        pending = self.outstanding.pop(call_id)
        pending.running = False
        return pending

    def is_running(self, pending: PendingCall) -> bool:
        """True if ``pending`` is the call the worker is executing now."""
        return self.connection.running == pending.call_id


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
                    await worker.driver.read_step()
            finally:
                worker.reader = None
                worker.poke()  # another caller (or the worker's own reader) takes over
        else:
            if pending.wakeup is None:
                pending.wakeup = Signal()
            await pending.wakeup.wait()
