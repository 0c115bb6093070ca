"""Store views: functions of a store that worker processes call back into.

A view is declared on a store with `view`; the runtime's `ViewRegistry` answers a worker's
``call_view`` by finding the view among the calling batch's session views and the global
views. A worker never reaches another session's views.
"""

from __future__ import annotations

import enum
import inspect
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol, TypeVar

import attrs
import trio

from slither_actors import telemetry
from slither_actors._checks import check_seconds, check_text, validator
from slither_actors._core import ActorRef
from slither_actors.config import ViewScope
from slither_actors.context import Context
from slither_actors.errors import ViewNotFound, ViewRefused, ViewTimeout

__all__ = ["View", "ViewMode", "ViewRegistry", "view"]

_VIEW_SPAN = ("slither", "bridge", "view")

Handler = TypeVar("Handler", bound=Callable[..., Any])


class ViewMode(enum.Enum):
    """``scalar``: one params dict in, one reply out. ``batch``: the worker sends
    ``items=[params, ...]`` and the handler answers them all at once, one reply each."""

    SCALAR = "scalar"
    BATCH = "batch"


@attrs.frozen
class View:
    """A declared view: its name, its handler (a store method), mode, scope and timeout.

    A ``scope`` of None takes the runtime's ``bridge.default_scope`` when registered.
    ``is_async`` (derived, not given) says whether the handler is a coroutine function.
    Raises `ValueError` for a ``name`` that is not a non-empty str, an unknown mode or
    scope, or a ``timeout`` that is not a number of seconds above 0 (``math.inf``: none).
    """

    name: str = attrs.field(validator=validator(check_text))
    handler: Callable[..., Any]
    mode: ViewMode = attrs.field(default=ViewMode.SCALAR, converter=ViewMode)
    scope: ViewScope | None = attrs.field(
        default=None, converter=attrs.converters.optional(ViewScope)
    )
    timeout: float = attrs.field(default=5.0, validator=validator(check_seconds))
    is_async: bool = attrs.field(init=False, eq=False, repr=False)

    @is_async.default
    def _handler_is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.handler)


def view(
    name: str | None = None,
    *,
    mode: ViewMode | str = ViewMode.SCALAR,
    scope: ViewScope | str | None = None,
    timeout: float = 5.0,
) -> Callable[[Handler], Handler]:
    """Declare a store method as a view workers can call.

    The method is called as ``handler(self, params, ctx)`` (``params`` is the dict the
    worker passed, a list of them in batch mode; ``ctx`` a `Context` with the calling
    session) and may be sync or async. It runs in the task answering the worker, not in
    the store's actor: views read, they do not write. Raises `ValueError` for an unknown
    mode or scope, a ``name`` that is not None or a non-empty str, or a ``timeout`` that is
    not a number of seconds above 0, when the class is defined.
    """
    check_text("name", name, optional=True)

    def declare(handler: Handler) -> Handler:
        handler.__slither_view__ = View(  # type: ignore[attr-defined]
            name or handler.__name__, handler, mode, scope, timeout
        )
        return handler

    return declare


class RunningStore(Protocol):
    """What the view registry and the store directory need of a store: its name, its
    actor's ref (is it alive, what is it called) and its class's views. `Store` is one;
    this protocol keeps them from importing it back."""

    views: ClassVar[dict[str, View]]

    @property
    def name(self) -> str: ...

    @property
    def ref(self) -> ActorRef: ...


@attrs.frozen
class _Bound:
    store: RunningStore
    view: View


@attrs.define(eq=False)
class ViewRegistry:
    """Which views are reachable: global ones, and per session the session ones."""

    default_scope: ViewScope = attrs.field(default=ViewScope.SESSION, converter=ViewScope)
    _global: dict[str, _Bound] = attrs.field(factory=dict, init=False)
    _sessions: dict[str, dict[str, _Bound]] = attrs.field(factory=dict, init=False)

    def scope_of(self, declared: View) -> ViewScope:
        return declared.scope if declared.scope is not None else self.default_scope

    def add_store(self, store: RunningStore) -> None:
        """Register the global views of ``store`` as it starts, and point the sessions that
        used an earlier incarnation of it (a restart) at this one."""
        mine = {
            declared.name: declared
            for declared in type(store).views.values()
            if self.scope_of(declared) is ViewScope.GLOBAL
        }
        for name in mine:  # all checked before any is added
            taken = self._global.get(name)
            if taken is not None and taken.store is not store:
                raise ValueError(
                    f"a global view named {name!r} already comes from store {taken.store.name!r}"
                )
        for name, declared in mine.items():
            self._global[name] = _Bound(store, declared)
        for views in self._sessions.values():
            for name, bound in list(views.items()):
                if bound.store.name == store.name and bound.store is not store:
                    views[name] = _Bound(store, bound.view)

    def remove_store(self, store: RunningStore) -> None:
        """Forget the global views of ``store`` as it exits. Sessions keep theirs: calls to
        them fail with `ViewNotFound` until the store is back (see `add_store`)."""
        for name in [name for name, bound in self._global.items() if bound.store is store]:
            del self._global[name]

    @contextmanager
    def session(self, session_id: str, stores: Iterable[RunningStore]) -> Iterator[None]:
        """Make the session views of ``stores`` reachable by ``session_id``'s calls while
        the block runs; they are removed when it ends, however it ends. A ``session_id``
        that is not a non-empty str raises `ValueError`."""
        check_text("session_id", session_id)
        views = {
            declared.name: _Bound(store, declared)
            for store in stores
            for declared in type(store).views.values()
            if self.scope_of(declared) is ViewScope.SESSION
        }
        if session_id in self._sessions:
            raise ValueError(f"session {session_id!r} already has its views registered")
        self._sessions[session_id] = views
        try:
            yield
        finally:
            del self._sessions[session_id]

    def _find(self, name: str, session_id: str | None) -> _Bound:
        if session_id is not None:
            bound = self._sessions.get(session_id, {}).get(name)
            if bound is not None and bound.store.ref.alive:
                return bound
            if bound is not None:  # its store is restarting, or has stopped
                raise ViewNotFound(name, session_id)
        bound = self._global.get(name)
        if bound is not None:
            return bound
        if any(name in views for other, views in self._sessions.items() if other != session_id):
            raise ViewRefused(name, session_id)
        raise ViewNotFound(name, session_id)

    async def resolve(self, name: str, params: dict[str, Any], session_id: str | None) -> Any:
        """Answer a worker's ``call_view(name, **params)`` made in ``session_id``'s call.

        Raises `ViewNotFound`, `ViewRefused` (another session's view), `ViewTimeout`, or
        what the handler raised; the worker receives it as a `ViewError` of that type.
        """
        bound = self._find(name, session_id)
        if not telemetry.is_observed(_VIEW_SPAN):
            return await self._run(bound, params, session_id)
        metadata = {
            "view": name,
            "store": bound.store.name,
            "session_id": session_id,
            "scope": self.scope_of(bound.view).value,
            "mode": bound.view.mode.value,
        }
        with telemetry.span(_VIEW_SPAN, metadata):
            return await self._run(bound, params, session_id)

    async def _run(self, bound: _Bound, params: dict[str, Any], session_id: str | None) -> Any:
        declared = bound.view
        name = declared.name
        context = Context(session_id=session_id or "", metadata={"view": name})
        argument: Any = params
        if declared.mode is ViewMode.BATCH:
            argument = params.get("items")
            if not isinstance(argument, list):
                raise TypeError(f"batch view {name!r} takes items=[params, ...]")
        if declared.is_async:
            with trio.move_on_after(declared.timeout) as scope:
                reply = await declared.handler(bound.store, argument, context)
            if scope.cancelled_caught:
                raise ViewTimeout(name, declared.timeout)
        else:
            # A sync handler cannot be interrupted; one that ran too long is reported so.
            # It blocks the thread, so the time it took is the wall clock's, not Trio's.
            started = time.monotonic()
            reply = declared.handler(bound.store, argument, context)
            if time.monotonic() - started > declared.timeout:
                raise ViewTimeout(name, declared.timeout)
        if declared.mode is ViewMode.BATCH and (
            not isinstance(reply, list) or len(reply) != len(argument)
        ):
            raise TypeError(f"batch view {name!r} must answer a list of {len(argument)} replies")
        return reply
