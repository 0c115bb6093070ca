"""Serving one live worker process: reading its pipe, watching its health, ending it.

Reading is shared: whichever task waits for a result reads the pipe itself when nobody
else does (see `LiveWorker`), so the common round trip costs one task wake-up, not two.
The background reader here steps in only for calls nobody waits for any more.
"""

from __future__ import annotations

import itertools
import os

import attrs
import trio

from slither_actors._pool._live import LiveWorker, PendingCall
from slither_actors._pool._process import WorkerProcess
from slither_actors._pool._state import PoolState
from slither_actors._pool.protocol import (
    READ_SIZE,
    Decoded,
    Error,
    FrameDecoder,
    Malformed,
    Ping,
    Pong,
    Result,
    ViewReply,
    ViewRequest,
    encode,
)
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
    """Everything the parent does for one live worker process until it ends."""

    state: PoolState
    live: LiveWorker
    process: WorkerProcess
    decoder: FrameDecoder
    ending: Ending | None = None
    _nursery: trio.Nursery | None = None
    _pong: trio.Event = attrs.Factory(trio.Event)
    _awaited_nonce: int = 0
    _max_calls: int | None = attrs.field(init=False)
    _fd: int = attrs.field(init=False)

    @_fd.default
    def _reader_fd(self) -> int:
        return self.process.reader.fileno()

    @_max_calls.default
    def _read_max_calls(self) -> int | None:
        return self.state.settings.max_calls

    async def run(self) -> Ending:
        """Offer the worker to the pool and serve it until something ends it."""
        live, settings = self.live, self.state.settings
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            live.replace = lambda reason: self.finish(Ending(reason, False, graceful=False))
            live.stop = lambda: self.finish(Ending("stopped with its pool", crashed=False))
            live.read_step = self.read_step
            self.state.worker_ready(live)
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
            assert self._nursery is not None
            self._nursery.cancel_scope.cancel()

    # --- reading --------------------------------------------------------------------------

    async def read_step(self) -> None:
        """Wait for bytes from the worker and act on every complete message in them.

        Called by whichever task reads for the worker now (see `LiveWorker.reader`).
        """
        # Straight on the fd, into the decoder's buffer (os.read would allocate a block of
        # the full read size every time, and a large frame would be copied chunk by chunk).
        # When nothing is there yet, let the other tasks run once and look again before
        # parking on the fd: they write the next calls meanwhile, the worker often answers,
        # and a read then costs no trip through epoll. (This runs once per result, so it is
        # written flat.)
        fd, decoder, live = self._fd, self.decoder, self.live
        try:
            try:
                size = os.readv(fd, [decoder.get_buffer()])
            except BlockingIOError:
                await trio.lowlevel.cancel_shielded_checkpoint()
                if not live.alive:
                    return  # it ended meanwhile: its fd may be closed, even reused
                try:
                    size = os.readv(fd, [decoder.get_buffer()])
                except BlockingIOError:
                    await trio.lowlevel.wait_readable(fd)
                    size = os.readv(fd, [decoder.get_buffer()])
        except BlockingIOError:
            return  # woken without data (it happens); the caller simply reads again
        except (OSError, trio.ClosedResourceError):
            size = 0  # the pipe was closed under us: the worker has ended
        if not size:
            self.finish(Ending("", crashed=True))  # it ended: its exit status says how
            return
        views: list[ViewRequest] | None = None
        try:
            for message in decoder.buffer_updated(size):
                if type(message) is Result:
                    self._finished(message.call_id).resolve(message.results)
                elif type(message) is ViewRequest:
                    if views is None:
                        views = []
                    views.append(message)
                else:
                    self._handle(message)
        except ProtocolError as error:
            self.finish(Ending(f"sent a malformed frame ({error})", crashed=True))
            return
        if views is not None:
            for request in views:
                # Answered right here: the worker waits for the reply and can send nothing
                # else meanwhile, so no reading is held up, and no task is spawned per view.
                await self._answer_view(request)
        if live.results_since_rss_check >= _RSS_CHECK_EVERY:
            self._check_memory()
        if live.draining is not None and not live.outstanding:
            self.finish(Ending(f"recycled ({live.draining})", False, live.draining))
        self.state.capacity_freed()

    def _handle(self, message: Decoded) -> None:
        kind = type(message)
        if kind is Result:
            self._finished(message.call_id).resolve(message.results)  # type: ignore[union-attr]
        elif kind is Error:
            assert isinstance(message, Error)
            pending = self._finished(message.call_id)
            pending.fail(
                WorkerError(
                    pending.target,
                    message.type_name,
                    message.message,
                    message.traceback,
                    self.live.where,
                )
            )
        elif kind is Pong:
            if message.nonce == self._awaited_nonce:  # type: ignore[union-attr]
                self._pong.set()
        elif kind is Malformed:
            assert isinstance(message, Malformed)
            if message.refused and message.kind in (Result, Error):
                # A sound frame holding a value the parent will not decode (a pickle where
                # pickle is off): nothing of it was decoded, so that call alone fails.
                pending = self._finished(message.call_id)
                pending.fail(
                    PayloadError(
                        f"the result of {pending.target} from {self.live.where} was "
                        f"refused: {message.problem}"
                    )
                )
            else:
                # Our child never sends a malformed message: whatever is on the other end
                # cannot be trusted.
                raise ProtocolError(message.problem)
        else:
            raise ProtocolError(f"unexpected {kind.__name__} from a worker")

    def _finished(self, call_id: int) -> PendingCall:
        live = self.live
        pending = live.finish(call_id)
        if pending is None:
            raise ProtocolError(f"a reply to call {call_id}, which is not in flight")
        live.calls_done += 1
        live.results_since_rss_check += 1
        if self._max_calls is not None and live.calls_done >= self._max_calls:
            live.draining = live.draining or "max_calls"
        return pending

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
        with trio.move_on_after(_DRAIN_SECONDS):
            try:
                while chunk := await self.process.reader.receive_some(READ_SIZE):
                    self.decoder.feed(chunk)
                    for message in self.decoder.messages():
                        if type(message) in (Result, Error):
                            self._handle(message)
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
        for nonce in itertools.count(1):
            await trio.sleep(interval)
            self._check_memory()
            if live.draining is not None and not live.outstanding:
                self.finish(Ending(f"recycled ({live.draining})", False, live.draining))
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
            self._awaited_nonce = nonce
            self.process.writer.write(encode(Ping(nonce)))
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
        if live.draining is None:
            live.draining = "max_age"
        if not live.outstanding:
            self.finish(Ending("recycled (max_age)", False, "max_age"))

    def _check_memory(self) -> None:
        live = self.live
        live.results_since_rss_check = 0
        limit = self.state.settings.max_rss_mb
        if limit is None or live.draining is not None:
            return
        rss = resident_megabytes(self.process.pid)
        if rss is not None and rss > limit:
            live.draining = "max_rss"

    # --- views ----------------------------------------------------------------------------

    async def _answer_view(self, request: ViewRequest) -> None:
        pending = self.live.outstanding.get(request.call_id)
        session_id = pending.session_id if pending is not None else None
        resolver = self.state.resolve_view
        try:
            if resolver is None:
                raise LookupError(f"no view named {request.name!r}: no store views are registered")
            value = await resolver(request.name, request.params, session_id)
            settings = self.state.settings
            reply = ViewReply(request.request_id, value)
            frame = encode(reply, settings.max_frame, allow_pickle=settings.allow_pickle)
        except Exception as exc:
            frame = encode(ViewReply(request.request_id, None, type(exc).__name__, str(exc)))
        except BaseException:
            # Cancelled while answering: the worker must not wait for a reply forever.
            stopped = ViewReply(request.request_id, None, "Cancelled", "the caller gave up")
            self.process.writer.write(encode(stopped))
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
