"""What an `Item` costs, beside the immutable shapes it could have taken.

Measured in one run, on 100,000 items: making them from columns (ids, payloads, metas,
routes, as `Results` and the pipe's stages do), reading one field of each, their size, and
whether the garbage collector tracks them. The contenders:

- ``attrs frozen`` (slots): what `slither_actors.Item` was, made by ``map`` over the columns
  (one call of its generated ``__init__`` per item);
- ``__slots__ + __new__``: a plain class, made frozen by a ``__setattr__`` that refuses;
- ``tuple + itemgetter``: a tuple subclass whose fields are properties over
  ``operator.itemgetter``, made by a Python ``__new__``: cheaper to make, slower to read;
- ``Item``, what `slither_actors.Item` is: a tuple subclass whose fields are read by the C
  getters namedtuple uses, made by ``Item.from_columns`` (``tuple.__new__`` mapped over the
  zipped columns: no Python call per item), its tuple surface (iteration, length, indexing,
  equality with plain tuples) closed;
- ``Item(...)``, one at a time: its ``__new__`` called per item, for scale;
- no item at all: the columns `Results` keeps (a list of payloads), for scale.

Run it from the repository root: ``python bench/items.py`` (a few seconds). Nothing is
asserted: this is a report; the medians of 7 repeats are printed, with ratios to attrs.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import sys
import timeit
from operator import itemgetter
from types import MappingProxyType
from typing import Any

import attrs

from slither_actors import Item

COUNT = 100_000
NO_META = MappingProxyType({})


@attrs.frozen(slots=True)
class AttrsItem:
    """The `Item` of before: a frozen attrs class."""

    id: int
    payload: Any
    meta: Any = NO_META
    route: str = "default"


class SlotsItem:
    """A frozen item made with ``object.__setattr__`` in ``__new__``."""

    __slots__ = ("id", "meta", "payload", "route")

    def __new__(cls, id: int, payload: Any, meta: Any = NO_META, route: str = "default") -> Any:
        self = object.__new__(cls)
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "meta", meta)
        object.__setattr__(self, "route", route)
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")


class TupleItem(tuple):  # type: ignore[type-arg]
    """An item that is a tuple of its four fields."""

    __slots__ = ()

    def __new__(cls, id: int, payload: Any, meta: Any = NO_META, route: str = "default") -> Any:
        return tuple.__new__(cls, (id, payload, meta, route))

    id = property(itemgetter(0))
    payload = property(itemgetter(1))
    meta = property(itemgetter(2))
    route = property(itemgetter(3))


def median_seconds(function: Any) -> float:
    return statistics.median(timeit.repeat(function, number=1, repeat=7)) / COUNT


def main() -> None:
    ids, payloads = list(range(COUNT)), list(range(COUNT))
    rows = []
    metas, routes = itertools.repeat(NO_META), itertools.repeat("default")

    def mapped(kind: Any) -> Any:
        return lambda: list(map(kind, ids, payloads, metas, routes))

    for name, make in (
        ("attrs frozen", mapped(AttrsItem)),
        ("__slots__ + __new__", mapped(SlotsItem)),
        ("tuple + itemgetter", mapped(TupleItem)),
        ("Item (from_columns)", lambda: Item.from_columns(ids, payloads, metas, routes)),
        ("Item(...) one by one", mapped(Item)),
    ):
        items = make()
        made = median_seconds(make)
        read = median_seconds(lambda items=items: [item.payload for item in items])
        rows.append((name, made, read, sys.getsizeof(items[0]), gc.is_tracked(items[0])))
    columns = median_seconds(lambda: list(payloads))
    print(f"Python {sys.version.split()[0]}; {COUNT:,} items; medians of 7 repeats")
    print(f"  {'shape':<22}{'make':>12}{'vs attrs':>10}{'read':>12}{'vs attrs':>10}  size  GC")
    base_made, base_read = rows[0][1], rows[0][2]
    for name, made, read, size, tracked in rows:
        print(
            f"  {name:<22}{made * 1e9:>9.0f} ns{made / base_made:>9.2f}x"
            f"{read * 1e9:>9.0f} ns{read / base_read:>9.2f}x  {size:>3} B  {tracked}"
        )
    print(f"  {'columns (no item)':<22}{columns * 1e9:>9.0f} ns{columns / base_made:>9.2f}x")


if __name__ == "__main__":
    main()
