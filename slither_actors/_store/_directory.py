"""`StoreDirectory`: the running stores of a runtime, found by name; `ActiveStores`: those
of the runtime a task runs in, with the registry of their views."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Generic, TypeVar

import attrs

from slither_actors._store._views import RunningStore, ViewRegistry
from slither_actors.errors import NameTaken, UnknownStore

__all__ = ["ActiveStores", "StoreDirectory", "active_stores"]

AStore = TypeVar("AStore", bound=RunningStore)


@attrs.define(eq=False)
class StoreDirectory(Generic[AStore]):
    """The running stores of a runtime, by name."""

    _stores: dict[str, AStore] = attrs.Factory(dict)

    def add(self, store: AStore) -> None:
        """Enter ``store`` under its name; `NameTaken` if a live store holds the name."""
        holder = self._stores.get(store.name)
        if holder is not None and holder is not store and holder.ref.alive:
            raise NameTaken(store.name, holder.ref.label)
        self._stores[store.name] = store

    def remove(self, store: AStore) -> None:
        """Forget ``store`` (not a newer store under the same name)."""
        if self._stores.get(store.name) is store:
            del self._stores[store.name]

    def get(self, name: str) -> AStore:
        """The running store ``name``; `UnknownStore` if there is none."""
        store = self._stores.get(name)
        if store is None:
            raise UnknownStore(name, sorted(self._stores))
        return store

    def names(self) -> list[str]:
        """The names of the running stores, sorted."""
        return sorted(self._stores)


@attrs.frozen
class ActiveStores:
    """The stores of a runtime, and the registry of their views."""

    directory: StoreDirectory[Any]
    views: ViewRegistry


# Set by the runtime for every task in it.
active_stores: ContextVar[ActiveStores | None] = ContextVar("slither_actors_stores", default=None)
