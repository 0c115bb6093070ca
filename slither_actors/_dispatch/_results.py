"""`Results`: what `dispatch` returns and what a pipe's output holds, a sequence of items
kept as columns.

Each finished batch stays as it came back: its ids (a `range` for fresh ones), the list of
payloads the worker returned, and metas and routes only where some item has them. An `Item`
is made only when one is asked for (an index, an iteration); ``payloads()`` and ``ids()``
never make one. A million trivial results held this way take about a third of the memory
of a million `Item`s, and nothing for the garbage collector to walk.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

from slither_actors._dispatch._batch import Batch
from slither_actors.item import Item

__all__ = ["Results"]

_SHOWN = 20  # a repr lists the items of results up to this long


class Results(Sequence[Item]):
    """The result items of a dispatch, or the items of a pipe's output, in order: a
    read-only sequence of `Item`s.

    Index, slice, iterate, ``len``, ``in`` and ``==`` (with another `Results` or a
    list of items) work as on a list of items; ``+`` with a list gives a list. The fast
    accessors skip the items altogether:

    - ``payloads()``: the result payloads, as a list;
    - ``ids()``: the ids, as a list (each result keeps its input item's id);
    - ``items()``: the items, as a list (what a list of results used to be);
    - ``chunks()``: one `Results` per batch, in order.
    """

    __slots__ = ("_batches", "_starts")

    def __init__(self, batches: Iterable[Batch] = ()) -> None:
        self._batches = [batch for batch in batches if batch.payloads]
        lengths = itertools.accumulate(len(batch.payloads) for batch in self._batches)
        self._starts = [0, *lengths]  # where each batch starts, then the total

    def _add(self, batch: Batch) -> None:
        """Hold ``batch`` after the batches held already (for the result of a run under way)."""
        if batch.payloads:
            self._batches.append(batch)
            self._starts.append(self._starts[-1] + len(batch.payloads))

    def __len__(self) -> int:
        return self._starts[-1]

    @overload
    def __getitem__(self, index: int) -> Item: ...

    @overload
    def __getitem__(self, index: slice) -> list[Item]: ...

    def __getitem__(self, index: int | slice) -> Item | list[Item]:
        if isinstance(index, slice):
            return self.items()[index]
        if not isinstance(index, int):
            raise TypeError(
                f"Results indices must be int or slice, not {type(index).__name__}"
            )
        length = len(self)
        position = index + length if index < 0 else index
        if not 0 <= position < length:
            raise IndexError(f"Results index {index} out of range ({length} items)")
        batch = bisect.bisect_right(self._starts, position) - 1
        return self._batches[batch].item_at(position - self._starts[batch])

    def __iter__(self) -> Iterator[Item]:
        for batch in self._batches:
            yield from batch.results(batch.payloads)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Results | list) or type(other) is tuple:  # not an Item
            return len(self) == len(other) and self.items() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a sequence compared by value

    def __add__(self, other: Any) -> list[Item]:
        if isinstance(other, Results | list) or type(other) is tuple:
            return self.items() + list(other)
        return NotImplemented

    def __radd__(self, other: Any) -> list[Item]:
        if isinstance(other, list) or type(other) is tuple:
            return list(other) + self.items()
        return NotImplemented

    def __repr__(self) -> str:
        if len(self) <= _SHOWN:
            return f"Results({self.items()!r})"
        return f"<Results of {len(self)} items in {len(self._batches)} batches>"

    def payloads(self) -> list[Any]:
        """The result payloads, in order, without making an `Item` for any of them."""
        return list(itertools.chain.from_iterable(batch.payloads for batch in self._batches))

    def ids(self) -> list[int]:
        """The ids of the results, in order (each its input item's id)."""
        return list(itertools.chain.from_iterable(batch.ids for batch in self._batches))

    def items(self) -> list[Item]:
        """The results as a list of `Item`s."""
        return [item for batch in self._batches for item in batch.results(batch.payloads)]

    def chunks(self) -> list[Results]:
        """The results batch by batch, each a `Results` of its own."""
        return [Results([batch]) for batch in self._batches]
