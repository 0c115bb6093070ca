"""`RayPool`: a pool whose worker slots are Ray actors, called as a `WorkerPool` is called.

A pool of ``size`` slots keeps one Ray actor per slot. A call goes to an actor with no call
out (one at a time each, see `ROOM`; beyond that, calls wait their turn),
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
import time
from collections.abc import Callable
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors._checks import check_seconds, check_text
from slither_actors._pool._messages import Malformed, Result
from slither_actors._pool._pool import (
    BroadcastReply,
    PoolStats,
    Target,
    WorkerInfo,
    _as_list,
    _parse_target,
)
from slither_actors._pool._state import affinity_broken
from slither_actors._pool.protocol import FrameDecoder, encode_call
from slither_actors.config import Affinity, PoolSettings
from slither_actors.errors import (
    CallTimeout,
    PayloadError,
    PoolClosed,
    SessionLost,
    TooManySessions,
    WorkerCrashed,
    WorkerError,
    WorkerStartFailed,
)

__all__ = ["RayPool"]

_CALL_SPAN = ("slither", "pool", "call")
# Calls out to one actor at a time. A worker process writes a reply before it reads the
# next call, so calls queued behind one that crashes are known not to have run. Ray sends
# an actor's reply after its method returns, and an actor that runs a second call meanwhile
# may die with the first one's reply unsent: a second call queued on the actor would make
# the pool guess which of the two ran. So, one call per actor, whatever calls_per_worker.
ROOM = 1


@attrs.define(eq=False)
class _RaySlot:
    """One worker slot: its actor (replaced when it dies), its calls out, its counts."""

    worker_id: int
    actor: Any
    generation: int = 0  # how many actors the slot had before this one
    pid: int = 0
    in_flight: int = 0
    calls_done: int = 0
    restarts: int = 0
    last_exit: str | None = None

    @property
    def idle(self) -> bool:
        """Whether its actor has answered and has no call out: a call may go to it."""
        return bool(self.pid) and self.in_flight < ROOM


@attrs.frozen
class _Binding:
    """A session's slot, and which of the slot's actors it was bound to."""

    slot: _RaySlot
    generation: int


@attrs.define(eq=False)
class RayPool:
    """A pool of Ray actors with the calling interface of `WorkerPool` (see the module)."""

    settings: PoolSettings
    make_actor: Any  # ``make_actor(worker_id)`` starts a Ray actor for that slot
    slots: list[_RaySlot] = attrs.Factory(list)
    sessions: dict[str, _Binding] = attrs.Factory(dict)  # least recently used first
    closed: bool = False
    _freed: trio.Condition = attrs.Factory(trio.Condition)
    _nursery: trio.Nursery | None = None  # where the actors are watched
    _call_ids: int = 0

    def __repr__(self) -> str:
        return f"<RayPool {self.name!r} {len(self.slots)} actors>"

    @property
    def name(self) -> str:
        """The pool's name, from its settings."""
        return self.settings.name

    def where(self, slot: _RaySlot) -> str:
        """How errors name ``slot``'s actor."""
        return f"pool {self.name!r} ray actor {slot.worker_id} pid {slot.pid}"

    async def start(self) -> None:
        """Start one actor per slot and wait until each has answered; raise
        `WorkerStartFailed` if they have not within ``startup_timeout``."""
        for number in range(1, self.settings.worker_count + 1):
            self.slots.append(_RaySlot(number, self.make_actor(number)))
        timeout = self.settings.startup_timeout
        with trio.move_on_after(timeout):
            for slot in self.slots:
                slot.pid = await _answer(slot.actor.pid.remote())
            return
        started = sum(1 for slot in self.slots if slot.pid)
        raise WorkerStartFailed(
            f"pool {self.name!r}",
            f"{started} of its {len(self.slots)} Ray actors started within {timeout:g}s "
            f"(startup_timeout): does the cluster have room for them?",
        )

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
        ``call_timeout`` if None) or past ``queue_timeout`` waiting for an actor,
        `PayloadError` for a value that cannot travel, `SessionLost` and `TooManySessions`
        under strict affinity, `PoolClosed` once the pool is stopping, and `ValueError` for
        a bad argument, before anything is sent.
        """
        name, tool = _parse_target(target)
        items = _as_list(payloads)
        check_text("session_id", session_id, optional=True)
        settings = self.settings
        seconds = settings.call_timeout if timeout is None else check_seconds("timeout", timeout)
        if queue_timeout is None:
            wait = settings.queue_timeout
        else:
            wait = check_seconds("queue_timeout", queue_timeout)
        self._call_ids += 1
        frame = encode_call(
            self._call_ids, name, tool, items, session_id, settings.max_frame,
            settings.allow_pickle,
        )  # fmt: skip
        data = frame if isinstance(frame, bytes) else b"".join(frame)
        if not telemetry.is_observed(_CALL_SPAN):
            slot = await self._take_slot(name, wait, lambda: self._pick(session_id))
            return await self._call(name, data, seconds, slot)
        metadata = {"pool": self.name, "target": name, "size": len(items), "session_id": session_id}
        with telemetry.span(_CALL_SPAN, metadata) as span:
            slot = await self._take_slot(name, wait, lambda: self._pick(session_id))
            span.metadata["worker_id"] = slot.worker_id
            return await self._call(name, data, seconds, slot)

    async def _call(self, name: str, data: bytes, limit: float, slot: _RaySlot) -> list[Any]:
        """The call on ``slot``'s actor, taken for it (idle until now, so the call runs at
        once: its timeout counts from here)."""
        settings = self.settings
        generation = slot.generation
        try:
            with trio.move_on_after(limit) as clock:
                reference = slot.actor.call.remote(data, settings.allow_pickle)
                kind, answer = await _answer(reference)
            if clock.cancelled_caught:
                reason = f"was replaced after {name} ran over {limit:g}s"
                self._replace(slot, reason, crashed=False, generation=generation)
        except Exception as error:  # the actor died (or Ray could not run the call)
            if self.closed:  # the pool is stopping, and killed it
                raise PoolClosed(self.name) from error
            reason = f"died: {type(error).__name__}: {str(error)[:200]}"
            where = self.where(slot)
            self._replace(slot, reason, crashed=True, generation=generation)
            raise WorkerCrashed(name, reason, where) from error
        finally:
            slot.in_flight -= 1
            slot.calls_done += 1
            async with self._freed:
                self._freed.notify_all()
        if clock.cancelled_caught:
            raise CallTimeout(f"pool {self.name!r} ray actor {slot.worker_id}", name, limit)
        if kind == "error":
            remote_type, message, trace = answer
            raise WorkerError(name, remote_type, message, trace, self.where(slot))
        (decoded,) = FrameDecoder(settings.max_frame, allow_pickle=settings.allow_pickle).decode(
            answer
        )
        if isinstance(decoded, Malformed) or not isinstance(decoded, Result):
            raise PayloadError(f"{name} answered with what cannot be read: {decoded!r:.200}")
        return decoded.results

    async def _take_slot(
        self, target: str, wait: float | None, choose: Callable[[], _RaySlot | None]
    ) -> _RaySlot:
        """The slot ``choose`` gives, once it gives one (counted in), waiting at most
        ``wait``; `PoolClosed` once the pool stops."""
        with trio.move_on_after(math.inf if wait is None else wait):
            while True:
                if self.closed:
                    raise PoolClosed(self.name)
                slot = choose()
                if slot is not None:
                    slot.in_flight += 1
                    return slot
                async with self._freed:
                    await self._freed.wait()
        assert wait is not None
        text = f"call to {target} waited {wait:g}s for a free Ray actor and did not start"
        raise CallTimeout(f"pool {self.name!r}", target, wait, text)

    def _pick(self, session_id: str | None) -> _RaySlot | None:
        """The slot for a call of ``session_id``, None to wait (as `WorkerPool` picks)."""
        idle = [slot for slot in self.slots if slot.idle]
        free = idle[0] if idle else None
        if session_id is None:
            return free
        bound = self.sessions.get(session_id)
        strict = self.settings.affinity is Affinity.STRICT
        if bound is not None and bound.generation == bound.slot.generation:
            self.sessions[session_id] = self.sessions.pop(session_id)  # recently used
            if bound.slot.idle:
                return bound.slot
            return None if strict else free
        if strict:
            if bound is not None:
                raise SessionLost(self.name, session_id, self.where(bound.slot))
            if len(self.sessions) >= self.settings.max_sessions:
                raise TooManySessions(self.name, session_id, self.settings.max_sessions)
        if free is not None:
            self._bind(session_id, free, bound)
        return free

    def _bind(self, session_id: str, slot: _RaySlot, previous: _Binding | None) -> None:
        self.sessions.pop(session_id, None)
        self.sessions[session_id] = _Binding(slot, slot.generation)
        while len(self.sessions) > self.settings.max_sessions:
            del self.sessions[next(iter(self.sessions))]
        if previous is not None:
            worker_ids = previous.slot.worker_id, slot.worker_id
            affinity_broken(self.name, session_id, *worker_ids, "worker exited")

    def watch(self, nursery: trio.Nursery) -> None:
        """Watch every actor in ``nursery`` from now on (and each replacement), so that an
        actor's death is seen at once, as a worker process's is, not only by the next call
        sent to it."""
        self._nursery = nursery
        for slot in self.slots:
            nursery.start_soon(self._watch, slot, slot.generation)

    async def _watch(self, slot: _RaySlot, generation: int) -> None:
        """Learn the pid of ``slot``'s actor of ``generation``, then wait for its death."""
        try:
            if not slot.pid:  # a replacement: ready once it answers
                began = time.monotonic()
                slot.pid = await _answer(slot.actor.pid.remote())
                telemetry.execute(
                    ("slither", "worker", "ready"),
                    {"startup_time": time.monotonic() - began},
                    {"pool": self.name, "worker_id": slot.worker_id, "pid": slot.pid},
                )
                async with self._freed:  # calls waiting for an actor may take this one
                    self._freed.notify_all()
            await _answer(slot.actor.watch.remote())
        except Exception as error:
            if not self.closed:
                reason = f"died: {type(error).__name__}: {str(error)[:200]}"
                self._replace(slot, reason, crashed=True, generation=generation)

    def _replace(self, slot: _RaySlot, reason: str, *, crashed: bool, generation: int) -> None:
        """Kill ``slot``'s actor of ``generation`` (if it still lives) and give the slot a
        new one; its sessions are bound to the old one, and move (hint) or are lost
        (strict). Nothing happens if that actor was replaced already."""
        if slot.generation != generation:
            return
        _kill(slot.actor)
        metadata = {
            "pool": self.name,
            "worker_id": slot.worker_id,
            "pid": slot.pid,
            "exit_code": None,
            "reason": reason,
        }
        telemetry.execute(("slither", "worker", "exited"), {}, metadata)
        if crashed:
            telemetry.execute(("slither", "worker", "crashed"), {}, metadata)
        slot.actor = self.make_actor(slot.worker_id)
        slot.generation += 1
        slot.restarts += 1
        slot.last_exit = reason
        slot.pid = 0  # not known until the new actor answers
        metadata = {"pool": self.name, "worker_id": slot.worker_id, "pid": 0}
        telemetry.execute(("slither", "worker", "spawned"), {}, metadata)
        telemetry.execute(("slither", "worker", "restarted"), {}, {**metadata, "after": reason})
        if self._nursery is not None:
            self._nursery.start_soon(self._watch, slot, slot.generation)

    async def broadcast(
        self, target: Target, payload: Any = None, *, timeout: float | None = None
    ) -> list[BroadcastReply]:
        """Run ``target`` on ``[payload]`` in every actor, as `WorkerPool.broadcast` does:
        one reply per actor, its value or its error; each actor has it once its call out,
        if any, has ended."""
        name, tool = _parse_target(target)
        settings = self.settings
        limit = settings.call_timeout if timeout is None else check_seconds("timeout", timeout)
        if self.closed:
            raise PoolClosed(self.name)
        self._call_ids += 1
        frame = encode_call(
            self._call_ids, name, tool, [payload], None, settings.max_frame,
            settings.allow_pickle,
        )  # fmt: skip
        data = frame if isinstance(frame, bytes) else b"".join(frame)
        replies: dict[int, BroadcastReply] = {}

        async def one(slot: _RaySlot) -> None:
            try:
                taken = await self._take_slot(name, None, lambda: slot if slot.idle else None)
                value = (await self._call(name, data, limit, taken))[0]
                replies[slot.worker_id] = BroadcastReply(slot.worker_id, slot.pid, value)
            except Exception as error:
                replies[slot.worker_id] = BroadcastReply(slot.worker_id, slot.pid, None, error)

        async with trio.open_nursery() as nursery:
            for slot in self.slots:
                nursery.start_soon(one, slot)
        return [replies[slot.worker_id] for slot in self.slots]

    async def wait_until_ready(self) -> None:
        """Ready once started: `start` waited for every actor."""

    def end_session(self, session_id: str) -> None:
        """Forget the actor ``session_id`` was bound to."""
        self.sessions.pop(session_id, None)

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
            sessions=len(self.sessions),
        )

    def set_view_resolver(self, resolver: Any) -> None:
        """Views are not answered for Ray actors yet: ``call_view`` fails in them."""

    async def close(self) -> None:
        """Take no more calls (those waiting for an actor fail with `PoolClosed`, those
        out too), and kill every actor, in a thread."""
        self.closed = True
        async with self._freed:
            self._freed.notify_all()
        await trio.to_thread.run_sync(self._kill_all)

    def _kill_all(self) -> None:
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
