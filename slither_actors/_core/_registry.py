"""`Registry`: unique names for live actors, resolving to each name's current incarnation."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs
import trio

from slither_actors._checks import check_seconds, check_text
from slither_actors.errors import NameNotFound, NameTaken, NoRuntime

if TYPE_CHECKING:
    from slither_actors._core._ref import ActorRef

__all__ = ["Registry", "current_registry", "use_registry"]


@attrs.define(eq=False)
class Registry:
    """Names → live actors. An actor started with a name registers itself once its
    ``init`` has run and unregisters as it exits, so after a supervisor restarts it the
    name resolves to the new incarnation.

    Everything here is synchronous except `wait_for`; it runs in the Trio thread only.
    """

    _refs: dict[str, ActorRef] = attrs.field(factory=dict, init=False)
    _waiters: dict[str, trio.Event] = attrs.field(factory=dict, init=False)

    def register(self, name: str, ref: ActorRef) -> None:
        """Register ``ref`` as ``name``; raise `NameTaken` if a live actor holds the name,
        and `ValueError` if ``name`` is not a non-empty str."""
        check_text("name", name)
        holder = self._refs.get(name)
        if holder is not None and holder.alive and holder is not ref:
            raise NameTaken(name, holder.label)
        self._refs[name] = ref
        waiter = self._waiters.pop(name, None)
        if waiter is not None:
            waiter.set()

    def unregister(self, name: str, ref: ActorRef) -> None:
        """Remove ``name`` if it still points at ``ref`` (a newer incarnation is kept)."""
        if self._refs.get(name) is ref:
            del self._refs[name]

    def whereis(self, name: str) -> ActorRef | None:
        """The live actor registered as ``name``, or None."""
        ref = self._refs.get(name)
        return ref if ref is not None and ref.alive else None

    def lookup(self, name: str) -> ActorRef:
        """The live actor registered as ``name``; raise `NameNotFound` if there is none."""
        ref = self.whereis(name)
        if ref is None:
            raise NameNotFound(name)
        return ref

    async def wait_for(self, name: str, timeout: float | None = None) -> ActorRef:
        """Wait until a live actor is registered as ``name`` (e.g. while it restarts).

        Raises `NameNotFound` if none appears within ``timeout`` seconds (0: look once,
        do not wait), and `ValueError` for a ``name`` that is not a non-empty str or a
        ``timeout`` that is not None or a number of seconds, 0 or more.
        """
        check_text("name", name)
        seconds = math.inf if timeout is None else check_seconds("timeout", timeout, zero=True)
        with trio.move_on_after(seconds):
            while (ref := self.whereis(name)) is None:
                waiter = self._waiters.setdefault(name, trio.Event())
                await waiter.wait()
            return ref
        raise NameNotFound(name)

    def names(self) -> list[str]:
        """The names that currently resolve to a live actor."""
        return [name for name, ref in self._refs.items() if ref.alive]


_current: ContextVar[Registry | None] = ContextVar("slither_actors_registry", default=None)


def current_registry() -> Registry:
    """The registry of the runtime this task runs in; raise `NoRuntime` outside one."""
    registry = _current.get()
    if registry is None:
        raise NoRuntime(
            "naming an actor needs a registry: run inside open_runtime() "
            "or pass registry= explicitly"
        )
    return registry


@contextmanager
def use_registry(registry: Registry) -> Iterator[Registry]:
    """Make ``registry`` the current one for this task and the tasks it starts."""
    token = _current.set(registry)
    try:
        yield registry
    finally:
        _current.reset(token)
