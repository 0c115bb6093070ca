"""`Supervisor` and `DynamicSupervisor`: declared supervision trees in the OTP style."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import trio

from slither_actors._checks import check_count, check_instance, check_seconds, check_text, validator
from slither_actors._core._childspec import ChildSpec, Strategy
from slither_actors._core._exit import ExitReason, Reason, reason_from_exception
from slither_actors._core._intensity import Backoff, RestartIntensity
from slither_actors._core._supervision import (
    ChildCounts,
    ChildInfo,
    Engine,
    check_unique_ids,
)
from slither_actors.errors import ChildStartFailed, SupervisorExhausted

__all__ = ["DynamicSupervisor", "Supervisor", "SupervisorRef"]


@attrs.define(eq=False, repr=False)
class SupervisorRef:
    """A handle to a running supervisor: inspect it, add and remove children, stop it."""

    name: str
    _engine: Engine
    _exited: trio.Event = attrs.Factory(trio.Event)
    _reason: Reason | None = None

    def __repr__(self) -> str:
        return f"<SupervisorRef {self.name!r} {len(self._engine.slots)} children>"

    @property
    def alive(self) -> bool:
        """True until the supervisor has exited."""
        return not self._exited.is_set()

    @property
    def strategy(self) -> Strategy:
        """How a child's exit restarts its siblings (one_for_one, one_for_all, rest_for_one)."""
        return self._engine.strategy

    def which_children(self) -> list[ChildInfo]:
        """Every child in start order, with its started value and whether it runs."""
        return self._engine.which_children()

    def count_children(self) -> ChildCounts:
        """How many children there are, how many run, how many are supervisors/workers."""
        return self._engine.count_children()

    async def start_child(self, spec: ChildSpec) -> Any:
        """Start ``spec`` after the existing children and return its started value.

        Raises `ValueError` if ``spec`` is not a `ChildSpec`, `DuplicateChild` if the id is
        taken, `MaxChildrenReached` at the limit, and `ChildStartFailed` if the child fails
        to start (it is then not kept).
        """
        check_instance("spec", spec, ChildSpec)
        return await self._engine.add_child(spec)

    async def terminate_child(self, child_id: str) -> None:
        """Stop the child ``child_id`` as a shutdown would and remove it for good.

        Raises `UnknownChild` if there is no such child.
        """
        await self._engine.remove_child(child_id)

    def request_stop(self, reason: Reason = ExitReason.SHUTDOWN) -> None:
        """Ask the supervisor to stop its children (reverse start order) and exit.

        ``reason`` is accepted so a supervisor can be stopped like any `Stoppable`
        child; a supervisor that stops on request always exits with ``shutdown``.
        """
        self._engine.request_stop()

    async def stop(self) -> Reason:
        """Stop the supervisor and wait until it and all its children have exited."""
        self._engine.request_stop()
        return await self.wait_exited()

    async def wait_exited(self) -> Reason:
        """Wait until the supervisor has exited; return why."""
        await self._exited.wait()
        assert self._reason is not None
        return self._reason


async def _run(
    engine: Engine, specs: Sequence[ChildSpec], task_status: trio.TaskStatus[SupervisorRef]
) -> None:
    ref = SupervisorRef(engine.name, engine)
    failure: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            engine.nursery = nursery
            try:
                for spec in specs:
                    await engine.add_child(spec)
                task_status.started(ref)
                await engine.supervise()
            except (SupervisorExhausted, ChildStartFailed) as exc:
                failure = exc
            finally:
                with trio.CancelScope(shield=True):
                    await engine.terminate_all()
    except BaseException as exc:
        ref._reason = reason_from_exception(exc)
        raise
    finally:
        engine.closed = True
        if ref._reason is None:
            ref._reason = failure if failure is not None else ExitReason.SHUTDOWN
        ref._exited.set()
    if failure is not None:
        raise failure


def _as_specs(children: Iterable[ChildSpec]) -> tuple[ChildSpec, ...]:
    specs = tuple(children)
    for index, spec in enumerate(specs):
        check_instance(f"children[{index}]", spec, ChildSpec)
    return specs


def _max_children(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check_count(attribute.name, value)


_max_restarts = validator(check_count, minimum=0)
# An infinite window is allowed: at most ``max_restarts`` restarts, ever.
_max_seconds = validator(check_seconds)
_backoff = validator(check_instance, Backoff, optional=True)
_name = validator(check_text)


@attrs.frozen
class Supervisor:
    """A declared supervisor: its children in start order and how it restarts them.

    ``max_restarts`` restarts are allowed within any ``max_seconds`` window (counted for the
    whole supervisor, on trio's clock); one more and the supervisor stops every child in
    reverse start order and raises `SupervisorExhausted` to its parent. ``backoff`` delays
    restarts that come in quick succession. The object is only a description: each `start`
    runs a fresh incarnation, so the same ``Supervisor`` can be a child of another one::

        Supervisor(
            children=[ChildSpec.actor("store", Store), ChildSpec.actor("pool", Pool)],
            strategy=Strategy.REST_FOR_ONE,
        )

    Raises `ValueError` as it is made unless every child is a `ChildSpec`,
    ``max_restarts`` an int of 0 or more, ``max_seconds`` a number of seconds above 0
    (``math.inf``: at most ``max_restarts`` restarts ever), ``backoff`` a `Backoff` or
    None and ``name`` a non-empty str.
    """

    children: tuple[ChildSpec, ...] = attrs.field(converter=_as_specs)
    strategy: Strategy = attrs.field(default=Strategy.ONE_FOR_ONE, converter=Strategy)
    max_restarts: int = attrs.field(default=3, validator=_max_restarts)
    max_seconds: float = attrs.field(default=5.0, validator=_max_seconds)
    backoff: Backoff | None = attrs.field(default=None, validator=_backoff)
    name: str = attrs.field(default="supervisor", validator=_name)

    def __attrs_post_init__(self) -> None:
        check_unique_ids(self.name, self.children)

    async def start(
        self, *, task_status: trio.TaskStatus[SupervisorRef] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Start the children in order, each awaited until ready, then supervise them.

        Reports a `SupervisorRef` once every child has started. Returns after a graceful
        stop; raises `ChildStartFailed` if a child cannot start (those already started are
        stopped first) and `SupervisorExhausted` when the restart intensity is exceeded.
        Cancelling it stops the children in reverse start order, each within its shutdown.
        """
        engine = Engine(
            self.name,
            self.strategy,
            RestartIntensity(self.max_restarts, self.max_seconds),
            self.backoff,
        )
        await _run(engine, self.children, task_status)


@attrs.frozen
class DynamicSupervisor:
    """A one_for_one supervisor that starts empty; children come and go at run time
    through `SupervisorRef.start_child` and `SupervisorRef.terminate_child`.

    A child that exits and is not restarted (temporary, or transient after a normal exit)
    is removed, as in Elixir's DynamicSupervisor. ``max_children`` bounds how many
    children it holds at once (None: no bound). The other fields are checked as
    `Supervisor`'s are; a ``max_children`` that is not None or an int of 1 or more raises
    `ValueError`.
    """

    max_children: int | None = attrs.field(default=None, validator=_max_children)
    max_restarts: int = attrs.field(default=3, validator=_max_restarts)
    max_seconds: float = attrs.field(default=5.0, validator=_max_seconds)
    backoff: Backoff | None = attrs.field(default=None, validator=_backoff)
    name: str = attrs.field(default="dynamic_supervisor", validator=_name)

    async def start(
        self, *, task_status: trio.TaskStatus[SupervisorRef] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the supervisor; reports its `SupervisorRef` at once (see `Supervisor.start`)."""
        engine = Engine(
            self.name,
            Strategy.ONE_FOR_ONE,
            RestartIntensity(self.max_restarts, self.max_seconds),
            self.backoff,
            max_children=math.inf if self.max_children is None else self.max_children,
            forget_stopped=True,
        )
        await _run(engine, (), task_status)
