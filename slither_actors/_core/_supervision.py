"""The supervision engine shared by `Supervisor` and `DynamicSupervisor`.

Each child runs in its own task inside the supervisor's nursery, under a cancel scope of
its own. Once a child has started, that scope is shielded: only its supervisor ends it,
so even when the whole tree is cancelled children stop one by one, in reverse start
order, each asked first and cancelled after its shutdown timeout.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors._core._childspec import ChildKind, ChildSpec, Restart, Strategy
from slither_actors._core._exit import ExitReason, Reason, is_abnormal
from slither_actors._core._intensity import Backoff, RestartIntensity
from slither_actors.errors import (
    ActorExited,
    ChildStartFailed,
    DuplicateChild,
    MaxChildrenReached,
    SupervisorExhausted,
    UnknownChild,
)

__all__ = ["ChildCounts", "ChildInfo", "Engine", "should_restart"]

_log = logging.getLogger("slither_actors.supervisor")


async def _until_stopped(slot: _Slot) -> None:
    """Wait until the child in ``slot`` has returned or, if its started value can tell
    (a ``wait_exited`` method, as refs and pools have), until that value has stopped: a
    child that started a pool and then only waits must not hold its supervisor for the
    whole shutdown time once the pool is gone."""
    wait_exited = getattr(slot.value, "wait_exited", None)
    if not callable(wait_exited):
        await slot.done.wait()
        return
    async with trio.open_nursery() as nursery:

        async def child_returned() -> None:
            await slot.done.wait()
            nursery.cancel_scope.cancel()

        async def value_stopped() -> None:
            try:
                await wait_exited()
            except Exception:
                return  # it cannot tell after all: the child's return decides
            nursery.cancel_scope.cancel()

        nursery.start_soon(child_returned)
        nursery.start_soon(value_stopped)


def should_restart(restart: Restart, reason: Reason) -> bool:
    """Whether a child with this restart type is restarted after exiting with ``reason``."""
    if restart is Restart.PERMANENT:
        return True
    return restart is Restart.TRANSIENT and is_abnormal(reason)


@attrs.frozen
class ChildInfo:
    """One child as `SupervisorRef.which_children` reports it."""

    id: str
    value: Any  # what the child passed to task_status.started (e.g. its ActorRef)
    kind: ChildKind
    restart: Restart
    running: bool
    restarts: int = 0  # how many times this supervisor has restarted it
    last_exit: Reason | None = None  # why it last exited on its own (None: never has)
    restarting: bool = False  # exited, and about to be started again


@attrs.frozen
class ChildCounts:
    """Totals as `SupervisorRef.count_children` reports them."""

    specs: int
    active: int
    supervisors: int
    workers: int


_NO_EXIT: Any = object()


@attrs.define(eq=False)
class _Slot:
    spec: ChildSpec
    value: Any = None
    running: bool = False
    stopping: bool = False  # the supervisor itself is ending this incarnation
    waiting: bool = False  # to be (re)started by the restart in progress
    scope: trio.CancelScope | None = None
    done: trio.Event = attrs.Factory(trio.Event)
    pending_exit: Any = _NO_EXIT  # an unexpected exit not yet acted upon
    starts: int = 0
    restarts: int = 0
    last_exit: Reason | None = None

    def about_to_restart(self) -> bool:
        """True while the child is down and its supervisor will start it again."""
        if self.running:
            return False
        if self.waiting:
            return True
        return self.pending_exit is not _NO_EXIT and should_restart(
            self.spec.restart, self.pending_exit
        )


class _ForwardStarted:
    """Stands in for a child's ``task_status`` to learn the moment it has started."""

    def __init__(self, slot: _Slot, task_status: trio.TaskStatus[Any]) -> None:
        self._slot = slot
        self._task_status = task_status
        self.has_started = False

    def started(self, value: Any = None) -> None:
        slot = self._slot
        assert slot.scope is not None
        slot.scope.shield = True
        slot.value = value
        slot.running = True
        slot.starts += 1
        self.has_started = True
        self._task_status.started(value)


@attrs.define(eq=False)
class Engine:
    """One running supervisor: its children, its restart intensity, its decisions."""

    name: str
    strategy: Strategy
    intensity: RestartIntensity
    backoff: Backoff | None
    max_children: float = math.inf
    forget_stopped: bool = False  # drop children that exit for good (dynamic supervisors)
    slots: list[_Slot] = attrs.Factory(list)
    nursery: trio.Nursery | None = None
    stop_requested: bool = False
    closed: bool = False  # the supervisor has exited; no new children
    _wakeup: trio.Event = attrs.Factory(trio.Event)
    _stopping: trio.Event = attrs.Factory(trio.Event)
    _lock: trio.Lock = attrs.Factory(trio.Lock)

    # --- running one child -----------------------------------------------------------------

    async def _child_task(self, slot: _Slot, task_status: trio.TaskStatus[Any]) -> None:
        slot.scope = scope = trio.CancelScope()
        slot.done = done = trio.Event()
        slot.stopping = False
        forward = _ForwardStarted(slot, task_status)
        reason: Reason = ExitReason.NORMAL
        try:
            with scope:
                try:
                    await slot.spec.start(task_status=forward)
                except Exception as exc:
                    if not forward.has_started:
                        raise
                    reason = exc
            if scope.cancelled_caught:
                reason = ExitReason.KILLED
        finally:
            slot.running = False
            done.set()
        if forward.has_started and not slot.stopping:
            self._child_exited(slot, reason)

    def _child_exited(self, slot: _Slot, reason: Reason) -> None:
        if is_abnormal(reason):
            _log.error(
                "supervisor %r: child %r crashed",
                self.name,
                slot.spec.id,
                exc_info=reason if isinstance(reason, BaseException) else None,
            )
        self._emit("exited", slot, reason)
        slot.pending_exit = slot.last_exit = reason
        self._wakeup.set()

    async def start_slot(self, slot: _Slot) -> None:
        """Start the child in ``slot``; raise `ChildStartFailed` if it fails to start."""
        assert self.nursery is not None
        try:
            await self.nursery.start(self._child_task, slot)
        except Exception as exc:
            raise ChildStartFailed(self.name, slot.spec.id, exc) from exc
        slot.waiting = False
        slot.pending_exit = _NO_EXIT
        self._emit("started", slot)

    async def terminate_slot(self, slot: _Slot) -> None:
        """Stop the child in ``slot``: ask, wait up to its shutdown time, then cancel."""
        if not slot.running:
            return
        slot.stopping = True
        assert slot.scope is not None
        shutdown = slot.spec.shutdown
        request_stop = getattr(slot.value, "request_stop", None)
        if shutdown != "brutal" and callable(request_stop):
            request_stop(ExitReason.SHUTDOWN)
            with trio.move_on_after(shutdown):
                await _until_stopped(slot)
        slot.scope.cancel()
        await slot.done.wait()

    async def terminate_all(self) -> None:
        """Stop every child, in reverse start order."""
        for slot in reversed(self.slots):
            await self.terminate_slot(slot)

    # --- supervising ----------------------------------------------------------------------

    async def supervise(self) -> None:
        """Act on child exits until asked to stop; raise `SupervisorExhausted` on overload."""
        while not self.stop_requested:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            async with self._lock:
                for slot in list(self.slots):
                    if self.stop_requested:
                        return
                    if slot.pending_exit is not _NO_EXIT and slot in self.slots:
                        reason, slot.pending_exit = slot.pending_exit, _NO_EXIT
                        await self._restart(slot, reason)

    def request_stop(self) -> None:
        """Stop supervising; the caller of `supervise` then terminates the children."""
        self.stop_requested = True
        self._stopping.set()
        self._wakeup.set()

    async def _restart(self, failed: _Slot, reason: Reason) -> None:
        if not should_restart(failed.spec.restart, reason):
            if failed.spec.restart is Restart.TEMPORARY or self.forget_stopped:
                self.slots.remove(failed)
            return
        if not self.intensity.record(trio.current_time()):
            _log.error(
                "supervisor %r: more than %d restarts in %gs; shutting down",
                self.name,
                self.intensity.max_restarts,
                self.intensity.max_seconds,
            )
            self._emit("exhausted", failed, reason)
            await self.terminate_all()
            raise SupervisorExhausted(
                self.name,
                failed.spec.id,
                reason,
                self.intensity.max_restarts,
                self.intensity.max_seconds,
            )
        failed.waiting = True  # from now on (its backoff included) it shows as restarting
        if self.backoff is not None:
            with trio.move_on_after(self.backoff.delay(self.intensity.restarts_in_window)):
                await self._stopping.wait()
            if self.stop_requested:
                failed.waiting = False
                return
        group = self._restart_group(failed)
        for slot in reversed(group):
            if slot is failed:
                continue
            if slot.running:
                await self.terminate_slot(slot)
                slot.waiting = True
            elif slot.pending_exit is not _NO_EXIT:
                # It exited on its own before we got to it: that exit is taken care of by
                # this restart, as OTP ignores the exit signal of a replaced incarnation.
                slot.waiting = should_restart(slot.spec.restart, slot.pending_exit)
            slot.pending_exit = _NO_EXIT
            if slot.spec.restart is Restart.TEMPORARY:
                self.slots.remove(slot)
        failed.waiting = True
        for slot in group:
            if slot not in self.slots or not slot.waiting:
                continue
            try:
                await self.start_slot(slot)
            except ChildStartFailed as exc:
                # A failed restart is one more exit of that child, counted like any other.
                _log.error("%s", exc)
                slot.pending_exit = exc.cause
                self._wakeup.set()
                return
            slot.restarts += 1
            self._emit("restarted", slot, reason)

    def _restart_group(self, failed: _Slot) -> list[_Slot]:
        if self.strategy is Strategy.ONE_FOR_ONE:
            return [failed]
        if self.strategy is Strategy.ONE_FOR_ALL:
            return list(self.slots)
        return self.slots[self.slots.index(failed) :]

    # --- the API behind SupervisorRef -----------------------------------------------------

    async def add_child(self, spec: ChildSpec) -> Any:
        """Start a new child after the existing ones and return its started value."""
        async with self._lock:
            if self.stop_requested or self.closed:
                raise ActorExited(f"supervisor {self.name!r}", ExitReason.SHUTDOWN)
            if any(slot.spec.id == spec.id for slot in self.slots):
                raise DuplicateChild(self.name, spec.id)
            if len(self.slots) >= self.max_children:
                raise MaxChildrenReached(self.name, int(self.max_children))
            slot = _Slot(spec)
            self.slots.append(slot)
            try:
                await self.start_slot(slot)
            except BaseException:
                self.slots.remove(slot)
                raise
            return slot.value

    async def remove_child(self, child_id: str) -> None:
        """Stop the child ``child_id`` and forget it."""
        async with self._lock:
            slot = self._find(child_id)
            await self.terminate_slot(slot)
            self.slots.remove(slot)

    def _find(self, child_id: str) -> _Slot:
        for slot in self.slots:
            if slot.spec.id == child_id:
                return slot
        raise UnknownChild(self.name, child_id)

    def which_children(self) -> list[ChildInfo]:
        """Every child, in start order."""
        return [
            ChildInfo(
                slot.spec.id,
                slot.value,
                slot.spec.kind,
                slot.spec.restart,
                slot.running,
                slot.restarts,
                slot.last_exit,
                slot.about_to_restart(),
            )
            for slot in self.slots
        ]

    def count_children(self) -> ChildCounts:
        """Totals over the children."""
        kinds = [slot.spec.kind for slot in self.slots]
        return ChildCounts(
            specs=len(self.slots),
            active=sum(slot.running for slot in self.slots),
            supervisors=kinds.count(ChildKind.SUPERVISOR),
            workers=kinds.count(ChildKind.WORKER),
        )

    def _emit(self, what: str, slot: _Slot, reason: Reason | None = None) -> None:
        event = (
            ("slither", "supervisor", what)
            if what == "exhausted"
            else ("slither", "supervisor", "child", what)
        )
        metadata: dict[str, Any] = {"supervisor": self.name, "child": slot.spec.id}
        if reason is not None:
            metadata["reason"] = reason
        telemetry.execute(event, {"starts": slot.starts}, metadata)


def check_unique_ids(name: str, specs: list[ChildSpec] | tuple[ChildSpec, ...]) -> None:
    """Raise `DuplicateChild` if two specs share an id."""
    seen: set[str] = set()
    for spec in specs:
        if spec.id in seen:
            raise DuplicateChild(name, spec.id)
        seen.add(spec.id)
