"""`Batch`: one batch's items kept as columns (ids, payloads, metas, routes).

Plain payloads need no `Item` of their own on the way out: a batch of them holds their new
ids and the payloads, and items are made once, for the results (or for a policy that needs
the input items). On the trivial workload an `Item` per input item cost as much as the
whole trip through the pool (see docs/dispatch.md, Performance).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import attrs

from slither_actors.item import DEFAULT_ROUTE, NO_META, Item, new_ids

__all__ = ["Batch"]


@attrs.define(slots=True, eq=False)
class Batch:
    """The items of one batch, by column. ``metas`` and ``routes`` are None when every
    input was a plain payload (no meta, the default route)."""

    ids: list[int]
    payloads: list[Any]
    metas: list[Mapping[str, Any]] | None = None
    routes: list[str] | None = None

    @classmethod
    def of_values(cls, values: list[Any]) -> Batch:
        """A batch of input values: payloads get fresh ids, `Item`s keep theirs."""
        if Item in map(type, values):  # a C-level scan: no Python call per value
            return cls.of_items(
                [value if type(value) is Item else Item.wrap(value) for value in values]
            )
        return cls(new_ids(len(values)), values)

    @classmethod
    def of_items(cls, items: list[Item]) -> Batch:
        """A batch of the given items."""
        return cls(
            [item.id for item in items],
            [item.payload for item in items],
            [item.meta for item in items],
            [item.route for item in items],
        )

    def __len__(self) -> int:
        return len(self.ids)

    def halves(self) -> tuple[Batch, Batch]:
        """The first and the second half (the first is the smaller one if odd)."""
        middle = len(self.ids) // 2
        return self._slice(0, middle), self._slice(middle, len(self.ids))

    def _slice(self, start: int, stop: int) -> Batch:
        return Batch(
            self.ids[start:stop],
            self.payloads[start:stop],
            None if self.metas is None else self.metas[start:stop],
            None if self.routes is None else self.routes[start:stop],
        )

    def items(self) -> list[Item]:
        """The batch's input items."""
        return self.results(self.payloads)

    def results(self, values: list[Any]) -> list[Item]:
        """One item per value: the input item's id, meta and route with the value as payload."""
        if self.metas is None or self.routes is None:
            metas, routes = itertools.repeat(NO_META), itertools.repeat(DEFAULT_ROUTE)
            return list(map(Item, self.ids, values, metas, routes))
        return list(map(Item, self.ids, values, self.metas, self.routes))
