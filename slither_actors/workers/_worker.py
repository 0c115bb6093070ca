"""`WorkerActor`: owns one slot of a pool and the worker process that fills it.

What the pool decides (a call timed out, a recycle rule fired) replaces the process in
place. What happens to the process on its own (it exits, is killed, sends garbage, stops
answering heartbeats) crashes the actor, so the pool's supervisor restarts it within its
restart intensity: a worker that keeps dying takes the pool down rather than spinning.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors.core import Actor
from slither_actors.errors import (
    PoolClosed,
    ProtocolError,
    WorkerCrashed,
    WorkerError,
    WorkerStartFailed,
)
from slither_actors.workers._process import WorkerProcess, describe_exit, spawn
from slither_actors.workers._state import LiveWorker, PendingCall, PoolState
from slither_actors.workers.protocol import (
    Error,
    FrameDecoder,
    Hello,
    Message,
    Ping,
    Pong,
    Result,
    ViewReply,
    ViewRequest,
    encode,
)

__all__ = ["WorkerActor"]

_READ_SIZE = 1 << 20
_OUTPUT_DRAIN_SECONDS = 1.0  # how long to wait for a dead worker's last words on stderr
_RSS_CHECK_EVERY = 16  # results between two looks at a worker's memory


@attrs.frozen
class _Ending:
    """Why a worker process is being ended."""

    reason: str
    crashed: bool  # it failed on its own (as opposed to: the pool replaces it)
    recycled: str | None = None


@attrs.define
class WorkerActor(Actor):
    """One worker slot: runs a process, replaces it on request, crashes when it fails."""

    mailbox_size = 1

    state: PoolState
    worker_id: int
    _pong: trio.Event = attrs.field(factory=trio.Event, init=False)
    _awaited_nonce: int = attrs.field(default=0, init=False)

    @property
    def where(self) -> str:
        return f"pool {self.state.name!r} worker {self.worker_id}"

    async def init(self) -> None:
        self.start_soon(self._run_processes)

    async def _run_processes(self) -> None:
        previous: str | None = self.state.last_exit.get(self.worker_id)
        while not self.state.closed:
            ending = await self._run_process(previous)
            if ending.crashed and not self.state.closed:
                raise WorkerCrashed(None, ending.reason, self.where)
            previous = ending.reason
        await trio.sleep_forever()  # the pool is stopping: its supervisor ends this actor

    async def _run_process(self, previous: str | None) -> _Ending:
        settings = self.state.settings
        process = await self._spawn()
        started = trio.current_time()
        live: LiveWorker | None = None
        ending: _Ending | None = None
        start_failure: tuple[str, str] | None = None
        decoder = FrameDecoder(settings.max_frame)
        try:
            async with trio.open_nursery() as output:
                output.start_soon(process.log_output, process.process.stdout, logging.INFO)
                output.start_soon(process.log_output, process.process.stderr, logging.WARNING)
                try:
                    async with trio.open_nursery() as serving:
                        serving.start_soon(process.writer.flush_forever)
                        start_failure = await self._await_hello(process, decoder)
                        if start_failure is None:
                            live = self._make_live(process, started)
                            ending = await self._serve(live, process, decoder, previous)
                        serving.cancel_scope.cancel()
                finally:
                    if live is not None:
                        live.alive = False  # no new calls while it stops
                    graceful = ending is not None and not ending.crashed
                    await process.stop(
                        send_stop=graceful or ending is None,
                        stop_grace=settings.stop_grace,
                        kill_grace=settings.kill_grace,
                    )
                    output.cancel_scope.deadline = trio.current_time() + _OUTPUT_DRAIN_SECONDS
        finally:
            exit_text = describe_exit(process.process.returncode)
            if ending is not None and ending.reason:
                ending = attrs.evolve(ending, reason=f"{ending.reason}; it {exit_text}")
            else:
                ending = _Ending(exit_text, crashed=True) if ending is not None else None
            reason = ending.reason if ending is not None else exit_text
            if live is not None:
                self.state.worker_gone(live, self._head_error(live, reason))
            self.state.last_exit[self.worker_id] = reason
            await process.close()
            self._emit_exit(process, reason, ending)
        if start_failure is not None:
            what, details = start_failure
            error = WorkerStartFailed(
                process.where,
                f"{what}; it {exit_text}",
                details or "\n".join(process.stderr_tail),
            )
            self.state.worker_failed_to_start(error)
            raise error
        assert ending is not None
        return ending

    async def _spawn(self) -> WorkerProcess:
        try:
            process = await spawn(self.state.settings, self.worker_id, self.where)
        except WorkerStartFailed as error:
            self.state.worker_failed_to_start(error)
            raise
        telemetry.execute(
            ("slither", "worker", "spawned"),
            {},
            {"pool": self.state.name, "worker_id": self.worker_id, "pid": process.pid},
        )
        return process

    async def _await_hello(
        self, process: WorkerProcess, decoder: FrameDecoder
    ) -> tuple[str, str] | None:
        """None once the worker says hello, else what went wrong and the details."""
        timeout = self.state.settings.startup_timeout
        with trio.move_on_after(timeout):
            while True:
                chunk = await process.reader.receive_some(_READ_SIZE)
                if not chunk:
                    return "it closed its pipe before saying hello", ""
                decoder.feed(chunk)
                try:
                    for message in decoder.messages():
                        if type(message) is Hello:
                            return None
                        if type(message) is Error:
                            return message.message, message.traceback
                        return f"it sent {type(message).__name__} before hello", ""
                except ProtocolError as error:
                    return f"it sent a malformed frame: {error}", ""
        return f"it did not say hello within {timeout:g}s", ""

    def _make_live(self, process: WorkerProcess, started: float) -> LiveWorker:
        return LiveWorker(
            worker_id=self.worker_id,
            pid=process.pid,
            where=process.where,
            write=process.writer.write,
            capacity=self.state.settings.calls_per_worker,
            started_at=started,
        )

    # --- serving --------------------------------------------------------------------------

    async def _serve(
        self,
        live: LiveWorker,
        process: WorkerProcess,
        decoder: FrameDecoder,
        previous: str | None,
    ) -> _Ending:
        """Offer ``live`` to the pool and serve it until something ends the process."""
        settings = self.state.settings
        ending: _Ending | None = None
        async with trio.open_nursery() as nursery:

            def finish(why: _Ending) -> None:
                nonlocal ending
                if ending is None:
                    ending = why
                    nursery.cancel_scope.cancel()

            live.replace = lambda reason: finish(_Ending(reason, crashed=False))
            self._emit_ready(live, trio.current_time() - live.started_at, previous)
            self.state.worker_ready(live)
            nursery.start_soon(self._read_frames, live, process, decoder, finish, nursery)
            nursery.start_soon(self._heartbeat, live, process, finish)
            if settings.max_age is not None:
                nursery.start_soon(self._age_limit, live, settings.max_age, finish)
        assert ending is not None
        return ending

    async def _read_frames(
        self,
        live: LiveWorker,
        process: WorkerProcess,
        decoder: FrameDecoder,
        finish: Callable[[_Ending], None],
        nursery: trio.Nursery,
    ) -> None:
        state = self.state
        try:
            while True:
                for message in decoder.messages():
                    self._handle(live, process, message, nursery)
                if live.results_since_rss_check >= _RSS_CHECK_EVERY:
                    self._check_memory(live, process)
                if live.draining is not None and not live.outstanding:
                    finish(_Ending(f"recycled ({live.draining})", False, live.draining))
                    return
                state.capacity_freed()
                chunk = await process.reader.receive_some(_READ_SIZE)
                if not chunk:
                    finish(_Ending("", crashed=True))  # it ended: its exit status says how
                    return
                decoder.feed(chunk)
        except ProtocolError as error:
            finish(_Ending(f"sent a malformed frame ({error})", crashed=True))

    def _handle(
        self, live: LiveWorker, process: WorkerProcess, message: Message, nursery: trio.Nursery
    ) -> None:
        match message:
            case Result(call_id, results):
                self._finished(live, call_id).resolve(results)
            case Error(call_id, type_name, text, remote_traceback):
                pending = self._finished(live, call_id)
                pending.fail(
                    WorkerError(pending.target, type_name, text, remote_traceback, live.where)
                )
            case Pong(nonce):
                if nonce == self._awaited_nonce:
                    self._pong.set()
            case ViewRequest():
                nursery.start_soon(self._answer_view, live, process, message)
            case _:
                raise ProtocolError(f"unexpected {type(message).__name__} from a worker")

    def _finished(self, live: LiveWorker, call_id: int) -> PendingCall:
        pending = live.outstanding.pop(call_id, None)
        if pending is None:
            raise ProtocolError(f"a reply to call {call_id}, which is not in flight")
        live.calls_done += 1
        live.results_since_rss_check += 1
        live.last_active = trio.current_time()
        max_calls = self.state.settings.max_calls
        if max_calls is not None and live.calls_done >= max_calls and live.draining is None:
            live.draining = "max_calls"
        return pending

    async def _heartbeat(
        self, live: LiveWorker, process: WorkerProcess, finish: Callable[[_Ending], None]
    ) -> None:
        settings = self.state.settings
        interval, timeout = settings.heartbeat_interval, settings.heartbeat_timeout
        for nonce in itertools.count(1):
            await trio.sleep(interval)
            self._check_memory(live, process)
            if live.draining is not None and not live.outstanding:
                finish(_Ending(f"recycled ({live.draining})", False, live.draining))
            if live.outstanding or trio.current_time() - live.last_active < interval:
                continue  # busy: the call timeout watches it
            self._pong = trio.Event()
            self._awaited_nonce = nonce
            process.writer.write(encode(Ping(nonce)))
            with trio.move_on_after(timeout):
                await self._pong.wait()
            if not self._pong.is_set() and not live.outstanding:
                finish(_Ending(f"did not answer a heartbeat within {timeout:g}s", crashed=True))

    async def _age_limit(
        self, live: LiveWorker, max_age: float, finish: Callable[[_Ending], None]
    ) -> None:
        await trio.sleep_until(live.started_at + max_age)
        if live.draining is None:
            live.draining = "max_age"
        if not live.outstanding:
            finish(_Ending("recycled (max_age)", False, "max_age"))

    def _check_memory(self, live: LiveWorker, process: WorkerProcess) -> None:
        live.results_since_rss_check = 0
        limit = self.state.settings.max_rss_mb
        if limit is None or live.draining is not None:
            return
        rss = resident_megabytes(process.pid)
        if rss is not None and rss > limit:
            live.draining = "max_rss"

    async def _answer_view(
        self, live: LiveWorker, process: WorkerProcess, request: ViewRequest
    ) -> None:
        pending = live.outstanding.get(request.call_id)
        session_id = pending.session_id if pending is not None else None
        resolver = self.state.resolve_view
        try:
            if resolver is None:
                raise LookupError(f"no view named {request.name!r}: no store views are registered")
            value = await resolver(request.name, request.params, session_id)
            frame = encode(ViewReply(request.request_id, value), self.state.settings.max_frame)
        except Exception as exc:
            frame = encode(ViewReply(request.request_id, None, type(exc).__name__, str(exc)))
        process.writer.write(frame)

    # --- reporting ------------------------------------------------------------------------

    def _head_error(self, live: LiveWorker, reason: str) -> Callable[[PendingCall], BaseException]:
        def error_for(pending: PendingCall) -> BaseException:
            if self.state.closed:
                return PoolClosed(self.state.name)
            return WorkerCrashed(pending.target, reason, live.where)

        return error_for

    def _emit_ready(self, live: LiveWorker, startup: float, previous: str | None) -> None:
        metadata: dict[str, Any] = {
            "pool": self.state.name,
            "worker_id": live.worker_id,
            "pid": live.pid,
        }
        telemetry.execute(("slither", "worker", "ready"), {"startup_time": startup}, metadata)
        if previous is not None:
            restarted = {**metadata, "after": previous}
            telemetry.execute(("slither", "worker", "restarted"), {}, restarted)

    def _emit_exit(self, process: WorkerProcess, reason: str, ending: _Ending | None) -> None:
        metadata = {
            "pool": self.state.name,
            "worker_id": self.worker_id,
            "pid": process.pid,
            "exit_code": process.process.returncode,
            "reason": reason,
        }
        telemetry.execute(("slither", "worker", "exited"), {}, metadata)
        if ending is not None and ending.crashed:
            telemetry.execute(("slither", "worker", "crashed"), {}, metadata)
        if ending is not None and ending.recycled is not None:
            telemetry.execute(("slither", "worker", "recycled"), {}, metadata)


def resident_megabytes(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MiB, from /proc (None where unavailable)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
