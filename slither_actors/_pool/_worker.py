"""`WorkerActor`: owns one slot of a pool and the worker process that fills it.

What the pool decides (a call timed out, a recycle rule fired) replaces the process in
place. What happens to the process on its own (it exits, is killed, sends garbage, stops
answering heartbeats) crashes the actor, so the pool's supervisor restarts it within its
restart intensity: a worker that keeps dying takes the pool down rather than spinning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors._core import Actor
from slither_actors._pool._events import ProtocolViolation, StartFailed, WorkerReady
from slither_actors._pool._live import LiveWorker, PendingCall
from slither_actors._pool._parent_connection import ParentConnection
from slither_actors._pool._process import WorkerProcess, describe_exit, spawn
from slither_actors._pool._serving import Ending, Serving
from slither_actors._pool._state import PoolState
from slither_actors._pool.protocol import READ_SIZE
from slither_actors.errors import PoolClosed, WorkerCrashed, WorkerStartFailed

__all__ = ["WorkerActor"]

_OUTPUT_DRAIN_SECONDS = 1.0  # how long to wait for a dead worker's last words on stderr


@attrs.define
class WorkerActor(Actor):
    """One worker slot: runs a process, replaces it on request, crashes when it fails."""

    mailbox_size = 1

    state: PoolState
    worker_id: int

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

    async def _run_process(self, previous: str | None) -> Ending:
        settings = self.state.settings
        process = await self._spawn()
        started = trio.current_time()
        serving: Serving | None = None
        start_failure: tuple[str, str] | None = None
        connection = ParentConnection(
            settings.max_frame, allow_pickle=settings.allow_pickle, clock=self.state.clock
        )
        try:
            async with trio.open_nursery() as output:
                output.start_soon(process.log_output, process.process.stdout, logging.INFO)
                output.start_soon(process.log_output, process.process.stderr, logging.WARNING)
                try:
                    async with trio.open_nursery() as writing:
                        writing.start_soon(process.writer.flush_forever)
                        start_failure = await self._await_hello(process, connection)
                        if start_failure is None:
                            serving = Serving(
                                self.state, process, connection, self.worker_id, started
                            )
                            self._emit_ready(serving.live, trio.current_time() - started, previous)
                            await serving.run()
                        writing.cancel_scope.cancel()
                finally:
                    ending = serving.ending if serving is not None else None
                    if serving is not None:
                        serving.live.alive = False  # no new calls while it stops
                    # A worker that has not said hello is still importing: it would read a
                    # stop frame only once done, so it gets a signal at once instead.
                    graceful = ending is None or (ending.graceful and not ending.crashed)
                    await process.stop(
                        stop_frame=serving.stop_frame() if serving and graceful else None,
                        stop_grace=settings.stop_grace,
                        kill_grace=settings.kill_grace,
                    )
                    if serving is not None:
                        await serving.drain_after_exit()
                    output.cancel_scope.deadline = trio.current_time() + _OUTPUT_DRAIN_SECONDS
        finally:
            exit_text = describe_exit(process.process.returncode)
            ending = serving.ending if serving is not None else None
            if ending is not None:
                reason = f"{ending.reason}; it {exit_text}" if ending.reason else exit_text
                ending = attrs.evolve(ending, reason=reason)
            reason = ending.reason if ending is not None else exit_text
            if serving is not None:
                self.state.worker_gone(serving.live, self._head_error(serving.live, reason))
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
        self, process: WorkerProcess, connection: ParentConnection
    ) -> tuple[str, str] | None:
        """None once the worker says hello, else what went wrong and the details."""
        timeout = self.state.settings.startup_timeout
        with trio.move_on_after(timeout):
            while True:
                chunk = await process.reader.receive_some(READ_SIZE)
                if not chunk:
                    return "it closed its pipe before saying hello", ""
                connection.receive_data(chunk)
                while (event := connection.next_event()) is not None:
                    if type(event) is WorkerReady:
                        return None
                    if type(event) is StartFailed:
                        # It reported why it cannot start and exits by itself: let it,
                        # so the error tells its own exit, not the signal we would send.
                        with trio.move_on_after(self.state.settings.stop_grace):
                            await process.process.wait()
                        return event.message, event.traceback
                    assert type(event) is ProtocolViolation
                    return f"it broke the protocol before saying hello: {event.error}", ""
        return f"it did not say hello within {timeout:g}s", ""

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

    def _emit_exit(self, process: WorkerProcess, reason: str, ending: Ending | None) -> None:
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
