"""`Item`: one unit of work flowing through dispatch and pipes, with a stable id."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from slither_actors._checks import check_instance, check_text

__all__ = ["DEFAULT_ROUTE", "NO_META", "Item", "new_ids"]

DEFAULT_ROUTE = "default"
# The meta of an item without any: one read-only empty mapping shared by all of them.
NO_META: Mapping[str, Any] = MappingProxyType({})

# itertools.count is advanced atomically under the GIL, so ids stay unique even when items
# are wrapped from worker threads.
_ids = itertools.count(1)
_next_id = _ids.__next__


def new_ids(count: int) -> list[int]:
    """``count`` fresh ids, unique and ascending (drawn in C, without a Python call each)."""
    return list(itertools.islice(_ids, count))


@attrs.frozen(slots=True)
class Item:
    """A payload with an id, metadata and a route, as it travels through a run.

    Items are immutable: `update_payload`, `put_meta` and `with_route` return new items.
    The id identifies the input item for its whole journey, so results, error records and
    fan-out children can always be traced back to it. The items made here carry ``meta``
    as a read-only mapping; an item built with a dict of your own must not have it changed
    in place either.

    The constructor does not check its arguments, as it runs for every result item;
    `wrap` and `with_route` do, and raise `ValueError` for a ``route`` that is not a
    non-empty str or a ``meta`` that is not a mapping.
    """

    id: int
    payload: Any
    meta: Mapping[str, Any] = attrs.field(default=NO_META, repr=lambda meta: repr(dict(meta)))
    route: str = DEFAULT_ROUTE

    @classmethod
    def wrap(
        cls,
        payload: Any,
        meta: Mapping[str, Any] | None = None,
        route: str = DEFAULT_ROUTE,
    ) -> Item:
        """Wrap one payload in a new item with a fresh, unique id."""
        if route is not DEFAULT_ROUTE and (type(route) is not str or not route):
            check_text("route", route)
        if meta and not isinstance(meta, Mapping):
            check_instance("meta", meta, Mapping)
        return cls(_next_id(), payload, MappingProxyType(dict(meta)) if meta else NO_META, route)

    @classmethod
    def wrap_many(cls, payloads: Iterable[Any]) -> list[Item]:
        """Wrap each payload in a new item; the ids are unique and ascending in input order."""
        if not isinstance(payloads, list | tuple):
            payloads = list(payloads)
        # One C-level map: no Python call per item but the constructor's own.
        ids = new_ids(len(payloads))
        return list(
            map(cls, ids, payloads, itertools.repeat(NO_META), itertools.repeat(DEFAULT_ROUTE))
        )

    def update_payload(self, payload: Any) -> Item:
        """A copy with a new payload; id, meta and route are kept."""
        return Item(self.id, payload, self.meta, self.route)

    def put_meta(self, meta: Mapping[str, Any]) -> Item:
        """A copy whose meta is this item's meta merged with ``meta`` (``meta`` wins)."""
        return Item(self.id, self.payload, MappingProxyType({**self.meta, **meta}), self.route)

    def with_route(self, route: str) -> Item:
        """A copy with a new route; id, payload and meta are kept."""
        if type(route) is not str or not route:
            check_text("route", route)
        return Item(self.id, self.payload, self.meta, route)
