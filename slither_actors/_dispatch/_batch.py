"""`Batch`: items kept as columns (ids, payloads, metas, routes), the unit that dispatch's
runner and a pipe's stages pass around.

Plain payloads need no `Item` of their own on the way: a batch holds their ids and the
payloads, and an item is made only where one is read (a handler that takes items, an
error record, an iteration). On the trivial workload an `Item` per input item cost as
much as the whole trip through the pool (see docs/performance.md).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from slither_actors.item import DEFAULT_ROUTE, NO_META, Item, new_ids

__all__ = ["Batch"]

_chain = itertools.chain.from_iterable


@attrs.define(slots=True, eq=False)
class Batch:
    """Items by column. ``metas`` is None when no item has a meta; ``routes`` is None when
    every item has the route ``route``. ``ids`` is a `range` when the ids follow one
    another (fresh ids do), which costs nothing per item to keep."""

    ids: Sequence[int]
    payloads: list[Any]
    metas: list[Mapping[str, Any]] | None = None
    routes: list[str] | None = None
    route: str = DEFAULT_ROUTE

    @classmethod
    def of_values(cls, values: list[Any]) -> Batch:
        """A batch of input values: payloads get fresh ids, `Item`s keep theirs."""
        if Item in map(type, values):  # a C-level scan: no Python call per value
            return cls.of_items(
                [value if type(value) is Item else Item.wrap(value) for value in values]
            )
        return cls(_compact(new_ids(len(values)), fresh=True), values)

    @classmethod
    def of_items(cls, items: list[Item]) -> Batch:
        """A batch of the given items (``metas`` and ``routes`` None where they can be)."""
        ids, payloads = [item.id for item in items], [item.payload for item in items]
        metas = [item.meta for item in items]
        routes = [item.route for item in items]
        batch = cls(ids, payloads, metas, routes)
        if all(meta is NO_META for meta in metas):
            batch.metas = None
        if routes and routes.count(routes[0]) == len(routes):
            batch.routes, batch.route = None, routes[0]
        return batch

    @classmethod
    def of_item(cls, item: Item) -> Batch:
        """A batch of the one ``item``."""
        metas = None if item.meta is NO_META else [item.meta]
        return cls([item.id], [item.payload], metas, None, item.route)

    @classmethod
    def concat(cls, batches: Sequence[Batch]) -> Batch:
        """One batch holding the items of ``batches``, in order."""
        if len(batches) == 1:
            return batches[0]
        joined = _joined_ranges([batch.ids for batch in batches])
        ids = joined if joined is not None else _compact(list(_chain(b.ids for b in batches)))
        payloads = list(_chain(batch.payloads for batch in batches))
        metas: list[Mapping[str, Any]] | None = None
        if any(batch.metas is not None for batch in batches):
            metas = list(_chain(batch.meta_column() for batch in batches))
        first = batches[0].route if batches else DEFAULT_ROUTE
        if all(batch.routes is None and batch.route == first for batch in batches):
            return cls(ids, payloads, metas, None, first)
        return cls(ids, payloads, metas, list(_chain(batch.route_column() for batch in batches)))

    def __len__(self) -> int:
        return len(self.ids)

    def meta_column(self) -> list[Mapping[str, Any]]:
        """Each item's meta."""
        return self.metas if self.metas is not None else [NO_META] * len(self.ids)

    def route_column(self) -> list[str]:
        """Each item's route."""
        return self.routes if self.routes is not None else [self.route] * len(self.ids)

    def with_payloads(self, values: list[Any]) -> Batch:
        """The results of this batch: the same ids, metas and routes, with new payloads."""
        return Batch(self.ids, values, self.metas, self.routes, self.route)

    def with_route(self, route: str) -> Batch:
        """This batch with every item's route ``route``."""
        return Batch(self.ids, self.payloads, self.metas, None, route)

    def with_meta(self, meta: Mapping[str, Any]) -> Batch:
        """This batch with ``meta`` merged into every item's meta (``meta`` wins)."""
        if self.metas is None:
            shared: Mapping[str, Any] = MappingProxyType(dict(meta))  # items never change it
            return Batch(self.ids, self.payloads, [shared] * len(self.ids), self.routes, self.route)
        metas: list[Mapping[str, Any]] = [MappingProxyType({**old, **meta}) for old in self.metas]
        return Batch(self.ids, self.payloads, metas, self.routes, self.route)

    def item_at(self, index: int) -> Item:
        """The item at ``index`` of this batch."""
        meta = NO_META if self.metas is None else self.metas[index]
        route = self.route if self.routes is None else self.routes[index]
        return Item(self.ids[index], self.payloads[index], meta, route)

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
            self.route,
        )

    def select(self, chosen: Sequence[bool]) -> Batch:
        """The items for which ``chosen`` holds, in order (picked in C)."""
        compress = itertools.compress
        return Batch(
            list(compress(self.ids, chosen)),
            list(compress(self.payloads, chosen)),
            None if self.metas is None else list(compress(self.metas, chosen)),
            None if self.routes is None else list(compress(self.routes, chosen)),
            self.route,
        )

    def items(self) -> list[Item]:
        """The batch's items."""
        return self.results(self.payloads)

    def results(self, values: list[Any]) -> list[Item]:
        """One item per value: the item's id, meta and route with the value as payload."""
        metas = itertools.repeat(NO_META) if self.metas is None else self.metas
        routes = itertools.repeat(self.route) if self.routes is None else self.routes
        return Item.from_columns(self.ids, values, metas, routes)


def _joined_ranges(parts: list[Sequence[int]]) -> range | None:
    """``parts`` as one range, if each is a range of step 1 that starts where the one
    before stops; else None."""
    ranges = [part for part in parts if type(part) is range and part.step == 1]
    if len(ranges) != len(parts):
        return None
    for before, after in itertools.pairwise(ranges):
        if before.stop != after.start:
            return None
    return range(ranges[0].start, ranges[-1].stop)


def _compact(ids: list[int], *, fresh: bool = False) -> Sequence[int]:
    """``ids`` as a `range` when each follows the one before, else as they are.

    ``fresh`` ids are unique and ascending (drawn together from one counter), so their
    first and last tell; others are compared one by one (in C).
    """
    if not ids or ids[-1] - ids[0] != len(ids) - 1:
        return ids
    block = range(ids[0], ids[-1] + 1)
    return block if fresh or ids == list(block) else ids
