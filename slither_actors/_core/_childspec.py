"""`ChildSpec` and the enums that describe how a supervisor treats a child."""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

import attrs
import trio

from slither_actors._checks import (
    check_callable,
    check_count,
    check_instance,
    check_seconds,
    check_text,
    validator,
)
from slither_actors._core._actor import Actor, run_actor
from slither_actors._core._exit import Reason
from slither_actors._core._registry import Registry

__all__ = ["ChildKind", "ChildSpec", "Restart", "StartFunction", "Stoppable", "Strategy"]


class Restart(enum.Enum):
    """When a child that exited is started again."""

    PERMANENT = "permanent"  # always
    TRANSIENT = "transient"  # only after an abnormal exit (a crash)
    TEMPORARY = "temporary"  # never; the child is forgotten once it exits


class Strategy(enum.Enum):
    """Which children restart when one of them exits and must be restarted."""

    ONE_FOR_ONE = "one_for_one"  # just that child
    ONE_FOR_ALL = "one_for_all"  # every child
    REST_FOR_ONE = "rest_for_one"  # that child and those started after it


class ChildKind(enum.Enum):
    """A child is a worker or a supervisor (whose default shutdown timeout is infinite)."""

    WORKER = "worker"
    SUPERVISOR = "supervisor"


class StartFunction(Protocol):
    """Runs a child for its whole life and reports readiness with ``task_status.started``."""

    def __call__(self, *, task_status: trio.TaskStatus[Any]) -> Awaitable[object]: ...


class Stoppable(Protocol):
    """What a child may report as started to be asked to stop gracefully on shutdown.

    A child whose started value has no ``request_stop`` is cancelled instead. If the value
    also has an async ``wait_exited()`` (as `ActorRef`, `SupervisorRef` and `WorkerPool`
    do), the child is cancelled as soon as that returns, without waiting out its shutdown
    time: the child's task may have nothing left to do but wait.
    """

    def request_stop(self, reason: Reason) -> None: ...


Shutdown = float | Literal["brutal"]


def _check_shutdown(spec: ChildSpec, attribute: attrs.Attribute[Any], value: Shutdown) -> None:
    if value == "brutal":
        return
    try:
        check_seconds("shutdown", value, zero=True)
    except ValueError as error:
        # NaN once slipped through here, and failed the supervisor as it stopped the child.
        raise ValueError(
            f"child {spec.id!r}: {error} (math.inf to wait forever, or 'brutal')"
        ) from None


def _default_shutdown(spec: ChildSpec) -> Shutdown:
    return math.inf if spec.kind is ChildKind.SUPERVISOR else 5.0


@attrs.frozen
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    ``start`` is an async function taking ``task_status`` that runs the child for its whole
    life and calls ``task_status.started(value)`` once ready; an exception before that is a
    failed start, after it a crash. ``shutdown`` is how many seconds the child gets to stop
    after being asked (then it is cancelled), or ``"brutal"`` to cancel it at once; the
    default is 5 s for a worker and ``math.inf`` for a supervisor. ``restart`` and ``kind``
    accept their enums or the enum values as strings.

    Raises `ValueError` as it is made for an ``id`` that is not a non-empty str, a
    ``start`` that is not callable, or a ``shutdown`` that is neither ``"brutal"`` nor a
    number of seconds, 0 or more (NaN and bools are refused).
    """

    id: str = attrs.field(validator=validator(check_text))
    start: StartFunction = attrs.field(validator=validator(check_callable))
    restart: Restart = attrs.field(default=Restart.PERMANENT, converter=Restart, kw_only=True)
    kind: ChildKind = attrs.field(default=ChildKind.WORKER, converter=ChildKind, kw_only=True)
    shutdown: Shutdown = attrs.field(
        default=attrs.Factory(_default_shutdown, takes_self=True),
        validator=_check_shutdown,
        kw_only=True,
    )

    @classmethod
    def actor(
        cls,
        id: str,
        factory: Callable[[], Actor],
        *,
        name: str | None = None,
        mailbox_size: int | None = None,
        registry: Registry | None = None,
        restart: Restart | str = Restart.PERMANENT,
        shutdown: Shutdown = 5.0,
    ) -> ChildSpec:
        """A spec that runs a fresh ``factory()`` actor at every start.

        ``factory`` is usually the actor class itself, or a ``functools.partial`` of it;
        a fresh instance per start is what gives a restarted actor clean state. ``name``
        registers each incarnation under that name.

        Raises `ValueError` now, not at the first start, for a ``factory`` that is not
        callable, a ``name`` that is not a non-empty str or None, a ``mailbox_size`` that
        is not None or an int of 0 or more, and what the `ChildSpec` itself refuses.
        """
        check_callable("factory", factory)
        check_text("name", name, optional=True)
        if mailbox_size is not None:
            check_count("mailbox_size", mailbox_size, minimum=0)
        check_instance("registry", registry, Registry, optional=True)

        async def start(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            await run_actor(
                factory(),
                name=name,
                mailbox_size=mailbox_size,
                registry=registry,
                task_status=task_status,
            )

        return cls(id, start, restart=Restart(restart), shutdown=shutdown)
