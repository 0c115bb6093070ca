"""`RayPool`: a pool whose worker slots are Ray actors, called as a `WorkerPool` is called.

A pool of ``size`` slots keeps one Ray actor per slot. A call goes to the slot with the
fewest calls out (at most ``calls_per_worker`` each; beyond that, calls wait their turn),
encoded as the worker link encodes it, and its answer is decoded the same way: the values
that travel, and the errors a call ends with, are those of a local pool. The answer is
awaited without blocking the Trio loop: Ray completes a future in its own thread, which
wakes the waiting task through the loop's token; no ``ray.get`` runs on the loop's thread.

A slot whose actor dies fails its calls with `WorkerCrashed` and gets a new actor; a call
past its timeout fails with `CallTimeout`, and its actor is killed and replaced, as a hung
worker process is.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import attrs
import trio

from slither_actors._pool._messages import Malformed, Result
from slither_actors._pool._pool import (
    BroadcastReply,
    PoolStats,
    Target,
    WorkerInfo,
    _as_list,
    _parse_target,
)
from slither_actors._pool.protocol import FrameDecoder, encode_call
from slither_actors.config import PoolSettings
from slither_actors.errors import (
    CallTimeout,
    PayloadError,
    PoolClosed,
    WorkerCrashed,
    WorkerError,
)

__all__ = ["RayPool"]


@attrs.define(eq=False)
class _RaySlot:
    """One worker slot: its actor (replaced when it dies), its calls out, its counts."""

    worker_id: int
    actor: Any
    pid: int = 0
    in_flight: int = 0
    calls_done: int = 0
    restarts: int = 0
    last_exit: str | None = None


@attrs.define(eq=False)
class RayPool:
    """A pool of Ray actors with the calling interface of `WorkerPool` (see the module)."""

    settings: PoolSettings
    make_actor: Any  # the Ray actor class's ``options(...).remote``, bound to the settings
    slots: list[_RaySlot] = attrs.Factory(list)
    closed: bool = False
    _freed: trio.Condition = attrs.Factory(trio.Condition)
    _call_ids: int = 0

    def __repr__(self) -> str:
        return f"<RayPool {self.name!r} {len(self.slots)} actors>"

    @property
    def name(self) -> str:
        return self.settings.name

    def where(self, slot: _RaySlot) -> str:
        return f"pool {self.name!r} ray actor {slot.worker_id} pid {slot.pid}"

    async def start(self) -> None:
        """Start one actor per slot and wait until each has answered."""
        for number in range(1, self.settings.worker_count + 1):
            self.slots.append(_RaySlot(number, self.make_actor()))
        with trio.fail_after(self.settings.startup_timeout):
            for slot in self.slots:
                slot.pid = await _answer(slot.actor.pid.remote())

    async def call(
        self,
        target: Target,
        payloads: Any,
        *,
        session_id: str | None = None,
        timeout: float | None = None,
        queue_timeout: float | None = None,
    ) -> list[Any]:
        """Run ``target`` on ``payloads`` in one of the pool's Ray actors; one result each.

        Raises as `WorkerPool.call` does: `WorkerError` for what the function raised,
        `WorkerCrashed` if its actor died, `CallTimeout` past ``timeout`` (the pool's
        ``call_timeout`` if None), `PayloadError` for a value that cannot travel, and
        `PoolClosed` once the pool is stopping.
        """
        name, tool = _parse_target(target)
        items = _as_list(payloads)
        settings = self.settings
        self._call_ids += 1
        frame = encode_call(
            self._call_ids, name, tool, items, session_id, settings.max_frame,
            settings.allow_pickle,
        )  # fmt: skip
        data = frame if isinstance(frame, bytes) else b"".join(frame)
        slot = await self._take_slot(name, queue_timeout)
        limit = settings.call_timeout if timeout is None else timeout
        try:
            with trio.move_on_after(limit) as running:
                kind, answer = await _answer(slot.actor.call.remote(data, settings.allow_pickle))
        except Exception as error:  # the actor died (or Ray could not run the call)
            reason = f"died: {type(error).__name__}: {str(error)[:200]}"
            where = self.where(slot)
            self._replace(slot, reason)
            raise WorkerCrashed(name, reason, where) from error
        finally:
            slot.in_flight -= 1
            slot.calls_done += 1
            async with self._freed:
                self._freed.notify()
        if running.cancelled_caught:
            where = self.where(slot)
            self._replace(slot, f"was replaced after {name} ran over {limit:g}s")
            raise CallTimeout(where, name, limit)
        if kind == "error":
            remote_type, message, trace = answer
            raise WorkerError(name, remote_type, message, trace, self.where(slot))
        (decoded,) = FrameDecoder(settings.max_frame, allow_pickle=settings.allow_pickle).decode(
            answer
        )
        if isinstance(decoded, Malformed) or not isinstance(decoded, Result):
            raise PayloadError(f"{name} answered with what cannot be read: {decoded!r:.200}")
        return decoded.results

    async def _take_slot(self, target: str, queue_timeout: float | None) -> _RaySlot:
        limit = self.settings.queue_timeout if queue_timeout is None else queue_timeout
        with trio.move_on_after(math.inf if limit is None else limit) as waiting:
            while True:
                if self.closed:
                    raise PoolClosed(self.name)
                slot = min(self.slots, key=lambda slot: slot.in_flight)
                if slot.in_flight < self.settings.calls_per_worker:
                    slot.in_flight += 1
                    return slot
                async with self._freed:
                    await self._freed.wait()
        assert waiting.cancelled_caught and limit is not None
        text = f"call to {target} waited {limit:g}s for a free Ray actor and did not start"
        raise CallTimeout(f"pool {self.name!r}", target, limit, text)

    def _replace(self, slot: _RaySlot, reason: str) -> None:
        """Kill ``slot``'s actor (if it still lives) and give the slot a new one."""
        _kill(slot.actor)
        slot.actor = self.make_actor()
        slot.restarts += 1
        slot.last_exit = reason
        slot.pid = 0  # known again once the new actor answers

    async def broadcast(self, target: Target, payloads: Any = None) -> list[BroadcastReply]:
        """Not offered by a Ray pool: raises `NotImplementedError` saying so."""
        raise NotImplementedError("broadcast is not offered by a pool of Ray actors")

    async def wait_until_ready(self) -> None:
        """Ready once started: `start` waited for every actor."""

    def end_session(self, session_id: str) -> None:
        """Sessions keep no actor yet (affinity is not offered by a Ray pool so far)."""

    def workers(self) -> list[WorkerInfo]:
        """The slots, as `WorkerPool.workers` reports its workers."""
        return [
            WorkerInfo(
                slot.worker_id,
                slot.pid,
                slot.in_flight,
                slot.calls_done,
                None,
                slot.restarts,
                slot.last_exit,
            )
            for slot in self.slots
        ]

    def stats(self) -> PoolStats:
        """How many actors there are and how many calls they have out."""
        return PoolStats(
            name=self.name,
            size=self.settings.worker_count,
            live=len(self.slots),
            in_flight=sum(slot.in_flight for slot in self.slots),
            waiting=0,
            sessions=0,
        )

    def set_view_resolver(self, resolver: Any) -> None:
        """Views are not answered for Ray actors yet: ``call_view`` fails in them."""

    def stop_actors(self) -> None:
        """Kill every actor of the pool (it takes no more calls)."""
        self.closed = True
        for slot in self.slots:
            _kill(slot.actor)


async def _answer(reference: Any) -> Any:
    """The value of a Ray object ``reference``, awaited without blocking the loop: Ray's
    thread completes a future, which wakes this task through the loop's token."""
    future = reference.future()
    done = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def wake(_: Any) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # the loop ended: nobody waits
            token.run_sync_soon(done.set)

    future.add_done_callback(wake)
    await done.wait()
    return future.result()


def _kill(actor: Any) -> None:
    import ray

    with contextlib.suppress(Exception):  # already dead, or Ray has shut down
        ray.kill(actor, no_restart=True)
