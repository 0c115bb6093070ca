"""Serving one live worker process: reading its pipe, watching its health, ending it.

Reading is shared: whichever task waits for a result reads the pipe itself when nobody
else does (see `LiveWorker`), so the common round trip costs one task wake-up, not two.
The background reader here steps in only for calls nobody waits for any more.
"""

from __future__ import annotations

import os

import attrs
import trio

from slither_actors._pool._connection import LinkState
from slither_actors._pool._events import (
    CallDone,
    CallFailed,
    CallUnreadable,
    PongReceived,
    ProtocolViolation,
    ViewAsked,
)
from slither_actors._pool._live import LiveWorker, PendingCall
from slither_actors._pool._parent_connection import ParentConnection
from slither_actors._pool._process import WorkerProcess
from slither_actors._pool._state import PoolState
from slither_actors._pool.protocol import READ_SIZE, Frame
from slither_actors.errors import PayloadError, ProtocolError, WorkerError

__all__ = ["Ending", "Serving", "resident_megabytes"]

_RSS_CHECK_EVERY = 16  # results between two looks at a worker's memory
_DRAIN_SECONDS = 1.0  # how long to read what a dead worker left in its pipe


@attrs.frozen
class Ending:
    """Why a worker process is being ended. An empty reason means: it just exited."""

    reason: str
    crashed: bool  # it failed on its own (as opposed to: the pool replaces it)
    recycled: str | None = None
    graceful: bool = True  # it may finish what it does (a stop frame first)


_BACKGROUND = "background reader"
_HEARTBEAT = "heartbeat"


@attrs.define(eq=False)
class Serving:
    """Everything the parent does for one live worker process until it ends: the driver of
    its `ParentConnection`, which decides what each byte from the worker means."""

    state: PoolState
    process: WorkerProcess
    connection: ParentConnection
    worker_id: int
    started_at: float
    ending: Ending | None = None
    live: LiveWorker = attrs.field(init=False)
    _nursery: trio.Nursery | None = None
    _pong: trio.Event = attrs.Factory(trio.Event)
    _max_calls: int | None = attrs.field(init=False)
    _fd: int = attrs.field(init=False)

    @live.default
    def _make_live(self) -> LiveWorker:
        return LiveWorker(
            worker_id=self.worker_id,
            pid=self.process.pid,
            where=self.process.where,
            write=self.process.writer.write,
            capacity=self.state.settings.calls_per_worker,
            started_at=self.started_at,
            connection=self.connection,
            driver=self,
        )

    @_fd.default
    def _reader_fd(self) -> int:
        return self.process.reader.fileno()

    @_max_calls.default
    def _read_max_calls(self) -> int | None:
        return self.state.settings.max_calls

    async def run(self) -> Ending:
        """Offer the worker to the pool and serve it until something ends it."""
        settings = self.state.settings
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.state.worker_ready(self.live)
            nursery.start_soon(self._read_unattended)
            nursery.start_soon(self._heartbeat)
            nursery.start_soon(self._watch_exit)
            if settings.max_age is not None:
                nursery.start_soon(self._age_limit, settings.max_age)
        assert self.ending is not None
        return self.ending

    def finish(self, why: Ending) -> None:
        """End serving (the first reason given wins); no call is assigned from now on."""
        if self.ending is None:
            self.ending = why
            self.live.alive = False
            self.connection.end()
            assert self._nursery is not None
            self._nursery.cancel_scope.cancel()

    def replace(self, reason: str) -> None:
        """End this process now and let the slot start another (see `WorkerDriver`)."""
        self.finish(Ending(reason, crashed=False, graceful=False))

    def stop(self) -> None:
        """End this process gracefully: its pool is stopping."""
        self.finish(Ending("stopped with its pool", crashed=False))

    def stop_frame(self) -> Frame | None:
        """The stop frame to send the worker as it is ended, if the link can carry one."""
        if self.connection.state in (LinkState.READY, LinkState.DRAINING, LinkState.ENDING):
            return self.connection.send_stop()
        return None

    # --- reading --------------------------------------------------------------------------

    async def read_step(self) -> None:
        """Wait for bytes from the worker and act on every event in them.

        Called by whichever task reads for the worker now (see `LiveWorker.reader`).
        """
        # Straight on the fd, into the connection's buffer (os.read would allocate a block
        # of the full read size every time, and a large frame would be copied chunk by
        # chunk). When nothing is there yet, let the other tasks run once and look again
        # before parking on the fd: they write the next calls meanwhile, the worker often
        # answers, and a read then costs no trip through epoll. (This runs once per
        # result, so it is written flat.)
        fd, connection, live = self._fd, self.connection, self.live
        try:
            try:
                size = os.readv(fd, [connection.get_buffer()])
            except BlockingIOError:
                await trio.lowlevel.cancel_shielded_checkpoint()
                if not live.alive:
                    return  # it ended meanwhile: its fd may be closed, even reused
                try:
                    size = os.readv(fd, [connection.get_buffer()])
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(fd)
                    size = os.readv(fd, [connection.get_buffer()])
        except BlockingIOError:
            return  # woken without data (it happens); the caller simply reads again
        except (OSError, trio.ClosedResourceError):
            size = 0  # the pipe was closed under us: the worker has ended
        if not size:
            self.finish(Ending("", crashed=True))  # it ended: its exit status says how
            return
        views: list[ViewAsked] | None = None
        outstanding = live.outstanding
        for event in connection.buffer_updated(size):
            if type(event) is CallDone:  # `_settled`, written out: this runs per call
                pending = outstanding.pop(event.call_id)
                pending.running = False
                live.results_since_rss_check += 1
                if self._max_calls is not None and connection.calls_done >= self._max_calls:
                    connection.drain("max_calls")
                pending.resolve(event.results)
            elif type(event) is ViewAsked:
                if views is None:
                    views = []
                views.append(event)
            elif type(event) is ProtocolViolation:
                self.finish(Ending(f"sent a malformed frame ({event.error})", crashed=True))
                return
            else:
                self._handle(event)
        running = connection.running
        if running is not None:
            head = outstanding[running]
            if not head.running:  # the next call has begun: its run timeout counts
                self.state.call_started(head, connection.deadline)
        if views is not None:
            for request in views:
                # Answered right here: the worker waits for the reply and can send nothing
                # else meanwhile, so no reading is held up, and no task is spawned per view.
                await self._answer_view(request)
        if live.results_since_rss_check >= _RSS_CHECK_EVERY:
            self._check_memory()
        if connection.draining is not None and connection.drained:
            self._recycle()
        self.state.capacity_freed()

    def _handle(self, event: object) -> None:
        if type(event) is CallDone:
            self._settled(event.call_id).resolve(event.results)
        elif type(event) is CallFailed:
            pending = self._settled(event.call_id)
            error = WorkerError(
                pending.target, event.type_name, event.message, event.traceback, self.live.where
            )
            pending.fail(error)
        elif type(event) is CallUnreadable:
            pending = self._settled(event.call_id)
            text = f"the result of {pending.target} from {self.live.where} was refused"
            pending.fail(PayloadError(f"{text}: {event.problem}"))
        elif type(event) is PongReceived:
            self._pong.set()
        # What else a worker may send (a view request) is acted on by the reader.

    def _settled(self, call_id: int) -> PendingCall:
        live = self.live
        pending = live.settle(call_id)
        live.results_since_rss_check += 1
        if self._max_calls is not None and live.calls_done >= self._max_calls:
            self.connection.drain("max_calls")
        return pending

    def _recycle(self) -> None:
        reason = self.connection.draining
        self.finish(Ending(f"recycled ({reason})", False, reason))

    async def _read_unattended(self) -> None:
        """Read while calls are in flight that no caller waits for (they gave up)."""
        live = self.live
        while True:
            if live.alive and live.reader is None and live.unattended():
                live.reader = _BACKGROUND
                try:
                    while live.alive and live.unattended():
                        await self.read_step()
                finally:
                    live.reader = None
                    live.poke()
            else:
                await live.changed.wait()

    async def drain_after_exit(self) -> None:
        """Deliver results the worker wrote just before it ended (the pipe holds them)."""
        connection = self.connection
        with trio.move_on_after(_DRAIN_SECONDS):
            try:
                while chunk := await self.process.reader.receive_some(READ_SIZE):
                    connection.receive_data(chunk)
                    while (event := connection.next_event()) is not None:
                        if type(event) in (CallDone, CallFailed, CallUnreadable):
                            self._handle(event)
            except (ProtocolError, trio.ClosedResourceError, trio.BusyResourceError):
                pass

    # --- health ---------------------------------------------------------------------------

    async def _watch_exit(self) -> None:
        """Notice a worker that dies while nobody reads its pipe."""
        await self.process.process.wait()
        self.finish(Ending("", crashed=True))

    async def _heartbeat(self) -> None:
        live, settings = self.live, self.state.settings
        interval, timeout = settings.heartbeat_interval, settings.heartbeat_timeout
        calls_seen = -1
        stopped_since: float | None = None
        while True:
            await trio.sleep(interval)
            self._check_memory()
            if self.connection.drained:
                self._recycle()
            if live.outstanding or live.calls_done != calls_seen:
                calls_seen = live.calls_done
                # Busy lately: the running call's timeout watches it, but a worker frozen
                # by a signal is found here too, whatever that timeout (it may be inf).
                if not self.process.is_stopped():
                    stopped_since = None
                elif stopped_since is None:
                    stopped_since = trio.current_time()
                elif trio.current_time() - stopped_since >= timeout:
                    reason = f"was stopped by a signal for over {timeout:g}s with a call out"
                    self.finish(Ending(reason, True))
                continue
            self._pong = pong = trio.Event()
            self.process.writer.write(self.connection.send_ping())
            with trio.move_on_after(timeout):
                # Stop once it has ended: a read of a dead worker's pipe returns at once,
                # without a checkpoint, so this loop would never give way again.
                while not pong.is_set() and live.alive:
                    if live.reader is None:
                        live.reader = _HEARTBEAT
                        try:
                            await self.read_step()
                        finally:
                            live.reader = None
                            live.poke()
                    else:
                        await pong.wait()
            if not pong.is_set() and not live.outstanding:
                self.finish(Ending(f"did not answer a heartbeat within {timeout:g}s", True))

    async def _age_limit(self, max_age: float) -> None:
        live = self.live
        await trio.sleep_until(live.started_at + max_age)
        self.connection.drain("max_age")
        if self.connection.drained:
            self._recycle()

    def _check_memory(self) -> None:
        live = self.live
        live.results_since_rss_check = 0
        limit = self.state.settings.max_rss_mb
        if limit is None or live.draining is not None:
            return
        rss = resident_megabytes(self.process.pid)
        if rss is not None and rss > limit:
            self.connection.drain("max_rss")

    # --- views ----------------------------------------------------------------------------

    async def _answer_view(self, request: ViewAsked) -> None:
        pending = self.live.outstanding.get(request.call_id)
        session_id = pending.session_id if pending is not None else None
        resolver = self.state.resolve_view
        connection, request_id = self.connection, request.request_id
        try:
            if resolver is None:
                raise LookupError(f"no view named {request.name!r}: no store views are registered")
            value = await resolver(request.name, request.params, session_id)
            frame = connection.send_view_reply(request_id, value)
        except Exception as exc:
            frame = connection.send_view_error(request_id, type(exc).__name__, str(exc))
        except BaseException:
            # Cancelled while answering: the worker must not wait for a reply forever.
            stopped = connection.send_view_error(request_id, "Cancelled", "the caller gave up")
            self.process.writer.write(stopped)
            raise
        self.process.writer.write(frame)


def resident_megabytes(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MiB, from /proc (None where unavailable)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
