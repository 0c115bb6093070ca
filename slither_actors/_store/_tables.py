"""Table kinds for stores: set, ordered_set, bag and duplicate_bag, with ETS-like reads.

A table is read directly, synchronously, from the Trio thread. Set and ordered_set tables
are dicts underneath, so ``table.get(key)`` is a C-level dict lookup. Writes are methods
with a leading underscore: only the owning store calls them, from its actor, so writes are
serialized while reads need no lock.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import attrs

from slither_actors._checks import check_text, validator

__all__ = [
    "ANY",
    "BagTable",
    "DuplicateBagTable",
    "OrderedSetTable",
    "SetTable",
    "Table",
    "TableKind",
    "TableLoader",
    "matches",
]

Accumulator = TypeVar("Accumulator")


class TableKind(enum.Enum):
    """What a key holds: one value (``set``, ``ordered_set``) or several (``bag`` keeps
    distinct values, ``duplicate_bag`` keeps every value)."""

    SET = "set"
    ORDERED_SET = "ordered_set"
    BAG = "bag"
    DUPLICATE_BAG = "duplicate_bag"


class _Any:
    """The wildcard of `match` patterns: matches any value."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


def matches(pattern: Any, value: Any) -> bool:
    """Whether ``value`` fits ``pattern``.

    `ANY` fits anything; a dict pattern fits a dict holding at least its keys with fitting
    values; a list or tuple pattern fits a sequence of the same length, element by element;
    anything else must be equal.
    """
    if pattern is ANY:
        return True
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches(part, value[key]) for key, part in pattern.items()
        )
    if isinstance(pattern, list | tuple):
        return (
            isinstance(value, list | tuple)
            and len(value) == len(pattern)
            and all(matches(part, item) for part, item in zip(pattern, value, strict=True))
        )
    return bool(pattern == value)


@attrs.frozen
class Table:
    """A table a store declares: its name and its kind (a `TableKind` or its value).
    Raises `ValueError` for a ``name`` that is not a non-empty str or an unknown kind."""

    name: str = attrs.field(validator=validator(check_text))
    kind: TableKind = attrs.field(default=TableKind.SET, converter=TableKind)

    def create(self, store: str) -> StoreTable:
        """A new, empty table of this kind."""
        table: StoreTable = _CLASSES[self.kind](store, self.name)
        return table


class _Reads:
    """Reads every table kind shares, written once over `items`."""

    store: str
    name: str

    def items(self) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def fetch(self, key: Any) -> Any:
        """The value for ``key`` (the first, for a bag); `KeyError` naming the table if none."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(f"no key {key!r} in table {self.name!r} of store {self.store!r}")
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        raise NotImplementedError

    def match(self, key: Any = ANY, value: Any = ANY) -> list[tuple[Any, Any]]:
        """Every (key, value) whose key and value fit the patterns (see `matches`)."""
        return [
            (item_key, item_value)
            for item_key, item_value in self.items()
            if matches(key, item_key) and matches(value, item_value)
        ]

    def select(self, predicate: Callable[[Any, Any], bool]) -> list[tuple[Any, Any]]:
        """Every (key, value) for which ``predicate(key, value)`` is true."""
        return [(key, value) for key, value in self.items() if predicate(key, value)]

    def fold(
        self, function: Callable[[Accumulator, Any, Any], Accumulator], initial: Accumulator
    ) -> Accumulator:
        """``function(accumulator, key, value)`` over every object, from ``initial``."""
        accumulator = initial
        for key, value in self.items():
            accumulator = function(accumulator, key, value)
        return accumulator


_MISSING: Any = object()


class SetTable(dict[Any, Any], _Reads):
    """One value per key. It is a dict: ``get``, ``in``, ``len`` and iteration are dict's own.

    Do not write to it: writes go through the store (`Store.put` and friends).
    """

    def __init__(self, store: str, name: str) -> None:
        super().__init__()
        self.store = store
        self.name = name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.store}.{self.name} ({len(self)} objects)>"

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        return iter(dict.items(self))

    def lookup(self, key: Any) -> list[Any]:
        """All values for ``key``: a list of at most one here."""
        return [self[key]] if key in self else []

    def size(self) -> int:
        """How many objects the table holds."""
        return len(self)

    def _put(self, key: Any, value: Any) -> None:
        dict.__setitem__(self, key, value)

    def _delete(self, key: Any) -> bool:
        return dict.pop(self, key, _MISSING) is not _MISSING

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"write to table {self.name!r} through its store, not directly")

    # Reads are dict's own; every way dict offers to write is closed.
    __setitem__ = __delitem__ = __ior__ = _refuse
    update = pop = popitem = clear = setdefault = _refuse


class OrderedSetTable(SetTable):
    """One value per key, keys kept in order: `keys`, iteration and `range` are sorted."""

    def __init__(self, store: str, name: str) -> None:
        super().__init__(store, name)
        self._sorted: list[Any] = []

    def keys(self) -> list[Any]:  # type: ignore[override]
        """The keys, in order."""
        return list(self._sorted)

    def __iter__(self) -> Iterator[Any]:
        return iter(list(self._sorted))

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        return ((key, dict.__getitem__(self, key)) for key in list(self._sorted))

    def range(
        self, start: Any = None, stop: Any = None, *, inclusive: bool = False
    ) -> list[tuple[Any, Any]]:
        """(key, value) for keys from ``start`` (included) to ``stop`` (excluded, or
        included with ``inclusive``), in order; None leaves that end open."""
        low = 0 if start is None else bisect.bisect_left(self._sorted, start)
        if stop is None:
            high = len(self._sorted)
        elif inclusive:
            high = bisect.bisect_right(self._sorted, stop)
        else:
            high = bisect.bisect_left(self._sorted, stop)
        return [(key, dict.__getitem__(self, key)) for key in self._sorted[low:high]]

    def first(self) -> Any:
        """The smallest key, or None for an empty table."""
        return self._sorted[0] if self._sorted else None

    def last(self) -> Any:
        """The largest key, or None for an empty table."""
        return self._sorted[-1] if self._sorted else None

    def check_order(self, keys: list[Any]) -> None:
        """Raise `TypeError` now if ``keys`` cannot be ordered among themselves and with
        the table's keys, so that a bulk write fails before it has written anything."""
        sorted(keys)
        for key in keys:
            bisect.bisect_left(self._sorted, key)

    def _put(self, key: Any, value: Any) -> None:
        if key not in self:
            bisect.insort(self._sorted, key)
        dict.__setitem__(self, key, value)

    def _delete(self, key: Any) -> bool:
        if dict.pop(self, key, _MISSING) is _MISSING:
            return False
        del self._sorted[bisect.bisect_left(self._sorted, key)]
        return True


class BagTable(_Reads):
    """Several distinct values per key, in insertion order."""

    duplicates = False

    def __init__(self, store: str, name: str) -> None:
        self.store = store
        self.name = name
        self._values: dict[Any, list[Any]] = {}
        self._size = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.store}.{self.name} ({self._size} objects)>"

    def __contains__(self, key: Any) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return self._size

    def get(self, key: Any, default: Any = None) -> Any:
        """The first value stored for ``key`` (use `lookup` for all of them), or ``default``."""
        values = self._values.get(key)
        return values[0] if values else default

    def lookup(self, key: Any) -> list[Any]:
        """All values for ``key``, in insertion order."""
        return list(self._values.get(key, ()))

    def keys(self) -> list[Any]:
        """The keys that hold at least one value."""
        return list(self._values)

    def items(self) -> Iterator[tuple[Any, Any]]:
        return ((key, value) for key, values in list(self._values.items()) for value in values)

    def size(self) -> int:
        """How many objects (key, value pairs) the table holds."""
        return self._size

    def _put(self, key: Any, value: Any) -> None:
        values = self._values.setdefault(key, [])
        if self.duplicates or value not in values:
            values.append(value)
            self._size += 1

    def _delete(self, key: Any) -> bool:
        values = self._values.pop(key, None)
        if values is None:
            return False
        self._size -= len(values)
        return True


class DuplicateBagTable(BagTable):
    """Several values per key, duplicates included, in insertion order."""

    duplicates = True


StoreTable = SetTable | BagTable

_CLASSES: dict[TableKind, type[Any]] = {
    TableKind.SET: SetTable,
    TableKind.ORDERED_SET: OrderedSetTable,
    TableKind.BAG: BagTable,
    TableKind.DUPLICATE_BAG: DuplicateBagTable,
}


def fill(table: StoreTable, items: Iterable[tuple[Any, Any]]) -> int:
    """Put every (key, value) of ``items`` into ``table``; return how many were given."""
    count = 0
    for key, value in items:
        table._put(key, value)
        count += 1
    return count


class TableLoader:
    """What `Store.load` writes a fresh table through (readers do not see it yet)."""

    def __init__(self, table: StoreTable) -> None:
        self.table = table

    def put(self, key: Any, value: Any) -> None:
        """Add ``value`` under ``key`` (for a set table: replace it)."""
        self.table._put(key, value)

    def put_many(self, items: Iterable[tuple[Any, Any]]) -> int:
        """Add every (key, value) of ``items``; return how many."""
        return fill(self.table, items)
