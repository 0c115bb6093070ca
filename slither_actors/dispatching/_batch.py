"""`Batch`: one batch's items kept as columns (ids, payloads, metas, routes).

Plain payloads need no `Item` of their own on the way out: a batch of them holds their new
ids and the payloads, and items are made once, for the results (or for a policy that needs
the input items). On the trivial workload an `Item` per input item cost as much as the
whole trip through the pool (see docs/dispatch.md, Performance).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from slither_actors.item import DEFAULT_ROUTE, NO_META, Item, new_ids

__all__ = ["Batch"]


@attrs.define(slots=True, eq=False)
class Batch:
    """The items of one batch, by column. ``metas`` and ``routes`` are None when every
    item has no meta and the default route. ``ids`` is a `range` when the ids follow one
    another (fresh ids do), which costs nothing per item to keep."""

    ids: Sequence[int]
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
        return cls(_compact(new_ids(len(values)), fresh=True), values)

    @classmethod
    def concat(cls, batches: Sequence[Batch]) -> Batch:
        """One batch holding the items of ``batches``, in order."""
        if len(batches) == 1:
            return batches[0]
        ids = _compact([id_ for batch in batches for id_ in batch.ids])
        payloads = [payload for batch in batches for payload in batch.payloads]
        if all(batch.metas is None and batch.routes is None for batch in batches):
            return cls(ids, payloads)
        metas = [meta for batch in batches for meta in batch.meta_column()]
        routes = [route for batch in batches for route in batch.route_column()]
        return cls(ids, payloads, metas, routes)

    def meta_column(self) -> list[Mapping[str, Any]]:
        """Each item's meta (a repeat of the empty one when none has any)."""
        return self.metas if self.metas is not None else [NO_META] * len(self.ids)

    def route_column(self) -> list[str]:
        """Each item's route."""
        return self.routes if self.routes is not None else [DEFAULT_ROUTE] * len(self.ids)

    def with_payloads(self, values: list[Any]) -> Batch:
        """The results of this batch: the same ids, metas and routes, with new payloads."""
        return Batch(self.ids, values, self.metas, self.routes)

    def with_meta(self, meta: Mapping[str, Any]) -> Batch:
        """This batch with ``meta`` merged into every item's meta (``meta`` wins)."""
        if self.metas is None:
            shared: Mapping[str, Any] = MappingProxyType(dict(meta))  # items never change it
            return Batch(self.ids, self.payloads, [shared] * len(self.ids), self.route_column())
        metas: list[Mapping[str, Any]] = [MappingProxyType({**old, **meta}) for old in self.metas]
        return Batch(self.ids, self.payloads, metas, self.route_column())

    def item_at(self, index: int) -> Item:
        """The item at ``index`` of this batch."""
        if self.metas is None or self.routes is None:
            return Item(self.ids[index], self.payloads[index], NO_META, DEFAULT_ROUTE)
        return Item(self.ids[index], self.payloads[index], self.metas[index], self.routes[index])

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
        return self.part(0, middle), self.part(middle, len(self.ids))

    def part(self, start: int, stop: int) -> Batch:
        """The items from ``start`` to ``stop`` (excluded), as a batch."""
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


def _compact(ids: list[int], *, fresh: bool = False) -> Sequence[int]:
    """``ids`` as a `range` when each follows the one before, else as they are.

    ``fresh`` ids are unique and ascending (drawn together from one counter), so their
    first and last tell; others are compared one by one (in C).
    """
    if not ids or ids[-1] - ids[0] != len(ids) - 1:
        return ids
    block = range(ids[0], ids[-1] + 1)
    return block if fresh or ids == list(block) else ids
