"""`Item`: one unit of work flowing through dispatch and pipes, with a stable id."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from slither_actors._checks import check_instance, check_text

try:  # the C getter of namedtuple's fields
    from _collections import _tuplegetter as _field  # type: ignore[import-not-found]
except ImportError:  # another interpreter: a property does the same, a little slower

    def _field(index: int, doc: str) -> Any:
        return property(operator.itemgetter(index), doc=doc)


__all__ = ["DEFAULT_ROUTE", "NO_META", "Item", "new_ids"]

DEFAULT_ROUTE = "default"
# The meta of an item without any: one read-only empty mapping shared by all of them.
NO_META: Mapping[str, Any] = MappingProxyType({})

# itertools.count is advanced atomically under the GIL, so ids stay unique even when items
# are wrapped from worker threads.
_ids = itertools.count(1)
_next_id = _ids.__next__
_make = tuple.__new__  # makes an Item from a tuple of its fields, in C
_tuple_eq: Callable[[Any, Any], bool] = tuple.__eq__


def new_ids(count: int) -> list[int]:
    """``count`` fresh ids, unique and ascending (drawn in C, without a Python call each)."""
    return list(itertools.islice(_ids, count))


class Item(tuple[int, Any, Mapping[str, Any], str]):
    """A payload with an id, metadata and a route, as it travels through a run.

    Items are immutable: `update_payload`, `put_meta` and `with_route` return new items.
    The id identifies the input item for its whole journey, so results, error records and
    fan-out children can always be traced back to it. The items made here carry ``meta``
    as a read-only mapping; an item built with a dict of your own must not have it changed
    in place either. Two items are equal when their four fields are; an item is equal to
    nothing else, and is neither iterable nor indexable.

    The constructor does not check its arguments, as it runs for every result item;
    `wrap` and `with_route` do, and raise `ValueError` for a ``route`` that is not a
    non-empty str or a ``meta`` that is not a mapping.

    Underneath, an item is a tuple of its fields, read by C-level getters, so that a run
    makes its items from columns with no Python call per item (`from_columns`): a quarter
    of what a frozen attrs class cost (see docs/performance.md). The tuple's own surface
    (iteration, length, indexing, comparison with tuples) is closed.
    """

    __slots__ = ()
    __match_args__ = ("id", "payload", "meta", "route")

    if TYPE_CHECKING:

        @property
        def id(self) -> int: ...

        @property
        def payload(self) -> Any: ...

        @property
        def meta(self) -> Mapping[str, Any]: ...

        @property
        def route(self) -> str: ...

    else:
        id = _field(0, "The id: the input item's, for its whole journey.")
        payload = _field(1, "The payload.")
        meta = _field(2, "The metadata, a read-only mapping.")
        route = _field(3, "Where the item goes next: an output or stage name, or 'default'.")

    def __new__(
        cls,
        id: int,
        payload: Any,
        meta: Mapping[str, Any] = NO_META,
        route: str = DEFAULT_ROUTE,
    ) -> Item:
        return _make(cls, (id, payload, meta, route))

    @classmethod
    def from_columns(
        cls,
        ids: Iterable[int],
        payloads: Iterable[Any],
        metas: Iterable[Mapping[str, Any]],
        routes: Iterable[str],
    ) -> list[Item]:
        """One item per position of the columns, made in C (no Python call per item)."""
        # Not strict: a column the same for every item comes as an endless repeat.
        rows = zip(ids, payloads, metas, routes, strict=False)
        return list(map(_make, itertools.repeat(cls), rows))

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
        meta = MappingProxyType(dict(meta)) if meta else NO_META
        return _make(cls, (_next_id(), payload, meta, route))

    @classmethod
    def wrap_many(cls, payloads: Iterable[Any]) -> list[Item]:
        """Wrap each payload in a new item; the ids are unique and ascending in input order."""
        if not isinstance(payloads, list | tuple):
            payloads = list(payloads)
        ids = new_ids(len(payloads))
        return cls.from_columns(
            ids, payloads, itertools.repeat(NO_META), itertools.repeat(DEFAULT_ROUTE)
        )

    def update_payload(self, payload: Any) -> Item:
        """A copy with a new payload; id, meta and route are kept."""
        return _make(Item, (self.id, payload, self.meta, self.route))

    def put_meta(self, meta: Mapping[str, Any]) -> Item:
        """A copy whose meta is this item's meta merged with ``meta`` (``meta`` wins)."""
        merged = MappingProxyType({**self.meta, **meta})
        return _make(Item, (self.id, self.payload, merged, self.route))

    def with_route(self, route: str) -> Item:
        """A copy with a new route; id, payload and meta are kept."""
        if type(route) is not str or not route:
            check_text("route", route)
        return _make(Item, (self.id, self.payload, self.meta, route))

    # --- what an item is, and what the tuple underneath is not ----------------------------

    def __repr__(self) -> str:
        return (
            f"Item(id={self.id!r}, payload={self.payload!r}, meta={dict(self.meta)!r}, "
            f"route={self.route!r})"
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):  # a plain tuple of the same fields is no item
            return False if isinstance(other, tuple) else NotImplemented
        return _tuple_eq(self, other)

    def __ne__(self, other: object) -> bool:
        if type(other) is not type(self):
            return True if isinstance(other, tuple) else NotImplemented
        return not _tuple_eq(self, other)

    __hash__ = tuple.__hash__  # by value; an item whose meta is a mapping has none

    def __reduce__(self) -> tuple[Any, tuple[int, Any, dict[str, Any], str]]:
        # The read-only meta travels as a dict (a mappingproxy does not pickle).
        return (_restored, (self.id, self.payload, dict(self.meta), self.route))

    def __bool__(self) -> bool:
        return True

    def __iter__(self) -> Iterator[Any]:
        raise TypeError("'Item' object is not iterable: read its fields by name")

    def __len__(self) -> int:
        raise TypeError("object of type 'Item' has no len()")

    def __getitem__(self, index: Any) -> Any:
        raise TypeError("'Item' object is not subscriptable: read its fields by name")

    def __contains__(self, value: object) -> bool:
        raise TypeError("argument of type 'Item' is not iterable")

    def _no_tuple_operation(self, other: Any) -> Any:
        return NotImplemented

    __lt__ = __le__ = __gt__ = __ge__ = _no_tuple_operation
    __add__ = __mul__ = __rmul__ = _no_tuple_operation


def _restored(id: int, payload: Any, meta: dict[str, Any], route: str) -> Item:
    """An item as pickled (see `Item.__reduce__`), its meta read-only again."""
    return _make(Item, (id, payload, MappingProxyType(meta) if meta else NO_META, route))
