"""`StoreDirectory`: the running stores of a runtime, found by name."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs

from slither_actors.errors import NameTaken, UnknownStore

if TYPE_CHECKING:
    from slither_actors.store._store import Store
    from slither_actors.store._views import ViewRegistry

__all__ = ["StoreDirectory", "active_stores"]


@attrs.define(eq=False)
class StoreDirectory:
    """The running stores of a runtime, by name."""

    _stores: dict[str, Store] = attrs.Factory(dict)

    def add(self, store: Store) -> None:
        """Enter ``store`` under its name; `NameTaken` if a live store holds the name."""
        holder = self._stores.get(store.name)
        if holder is not None and holder is not store and holder.ref.alive:
            raise NameTaken(store.name, holder.ref.label)
        self._stores[store.name] = store

    def remove(self, store: Store) -> None:
        """Forget ``store`` (not a newer store under the same name)."""
        if self._stores.get(store.name) is store:
            del self._stores[store.name]

    def get(self, name: str) -> Store:
        """The running store ``name``; `UnknownStore` if there is none."""
        store = self._stores.get(name)
        if store is None:
            raise UnknownStore(name, sorted(self._stores))
        return store

    def names(self) -> list[str]:
        """The names of the running stores, sorted."""
        return sorted(self._stores)


# Set by the runtime for every task in it: its stores, and the registry of their views.
active_stores: ContextVar[tuple[StoreDirectory, ViewRegistry] | None] = ContextVar(
    "slither_actors_stores", default=None
)
