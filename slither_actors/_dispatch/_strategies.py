"""Batching strategies: how a stream of items is cut into batches, one item at a time.

A strategy is a frozen description; `batcher` makes the stateful part for one run. Feed it
items with `Batcher.add` (it returns the batches those items completed) and call
`Batcher.flush` at the end of the input for what is left. Nothing here needs the whole
input: a strategy holds at most what its next batches need.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol

import attrs

from slither_actors._checks import (
    check_callable,
    check_count,
    check_number,
    check_object,
    validator,
)
from slither_actors.item import Item

__all__ = [
    "BatchStrategy",
    "Batcher",
    "FixedBatch",
    "KeyPartition",
    "WeightedBatch",
    "check_strategy",
    "split",
]


class Batcher(Protocol):
    """The stateful half of a strategy, for one run."""

    def add(self, item: Item) -> list[list[Item]]:
        """Take one item; return the batches it completed (often none)."""
        ...

    def flush(self) -> list[list[Item]]:
        """The input has ended: return the partial batches still held."""
        ...


class BatchStrategy(Protocol):
    """Anything with a `batcher` method making a fresh `Batcher`."""

    def batcher(self) -> Batcher: ...


def check_strategy(name: str, value: Any) -> BatchStrategy:
    """``value`` as a strategy: an object (not a class) with a ``batcher`` method; else
    `ValueError` naming ``name``."""
    wanted = "a batching strategy such as FixedBatch(64) (an object with a batcher() method)"
    strategy: BatchStrategy = check_object(name, value, wanted, methods=("batcher",))
    return strategy


_count = validator(check_count)


@attrs.frozen
class FixedBatch:
    """Batches of ``batch_size`` items; the last one may be smaller.

    Raises `ValueError` unless ``batch_size`` is an int of 1 or more.
    """

    batch_size: int = attrs.field(validator=_count)

    def batcher(self) -> Batcher:
        return _FixedBatcher(self.batch_size)


class _FixedBatcher:
    def __init__(self, size: int) -> None:
        self._size = size
        self._batch: list[Item] = []

    def add(self, item: Item) -> list[list[Item]]:
        self._batch.append(item)
        if len(self._batch) < self._size:
            return []
        batch, self._batch = self._batch, []
        return [batch]

    def flush(self) -> list[list[Item]]:
        batch, self._batch = self._batch, []
        return [batch] if batch else []


@attrs.frozen
class WeightedBatch:
    """Batches whose items' weights add up to at most ``max_weight``.

    An item that would push a batch over the limit starts the next batch; an item heavier
    than the limit on its own travels alone. ``weight`` is called with each item's payload.
    Raises `ValueError` unless ``max_weight`` is a finite number above 0 (an infinite one
    would hold the whole input in one batch) and ``weight`` is callable.
    """

    max_weight: float = attrs.field(validator=validator(check_number))
    weight: Callable[[Any], float] = attrs.field(default=len, validator=validator(check_callable))

    def batcher(self) -> Batcher:
        return _WeightedBatcher(self.max_weight, self.weight)


class _WeightedBatcher:
    def __init__(self, limit: float, weight: Callable[[Any], float]) -> None:
        self._limit = limit
        self._weight = weight
        self._batch: list[Item] = []
        self._total = 0.0

    def add(self, item: Item) -> list[list[Item]]:
        weight = self._weight(item.payload)
        done: list[list[Item]] = []
        if self._batch and self._total + weight > self._limit:
            done.append(self._batch)
            self._batch, self._total = [], 0.0
        self._batch.append(item)
        self._total += weight
        if self._total >= self._limit:  # full, or one item over the limit on its own
            done.append(self._batch)
            self._batch, self._total = [], 0.0
        return done

    def flush(self) -> list[list[Item]]:
        batch, self._batch, self._total = self._batch, [], 0.0
        return [batch] if batch else []


@attrs.frozen
class KeyPartition:
    """Batches of items that share a key, ``key(payload)``, in input order within a key.

    A key's batch leaves when it holds ``max_batch`` items. So that many keys cannot hold
    the whole input back, at most ``max_held`` items wait in partial batches (default
    eight full batches' worth); past that, the largest partial batch leaves early. Raises
    `ValueError` unless ``key`` is callable and the sizes are ints of 1 or more.
    """

    key: Callable[[Any], Hashable] = attrs.field(validator=validator(check_callable))
    max_batch: int = attrs.field(default=64, validator=_count)
    max_held: int | None = attrs.field(default=None, validator=attrs.validators.optional(_count))

    def batcher(self) -> Batcher:
        held = self.max_held if self.max_held is not None else 8 * self.max_batch
        return _KeyBatcher(self.key, self.max_batch, held)


class _KeyBatcher:
    def __init__(self, key: Callable[[Any], Hashable], size: int, held: int) -> None:
        self._key = key
        self._size = size
        self._held_limit = held
        self._groups: dict[Hashable, list[Item]] = {}  # first seen first
        self._held = 0

    def add(self, item: Item) -> list[list[Item]]:
        key = self._key(item.payload)
        group = self._groups.setdefault(key, [])
        group.append(item)
        self._held += 1
        if len(group) >= self._size:
            del self._groups[key]
            self._held -= len(group)
            return [group]
        if self._held > self._held_limit:
            largest = max(self._groups, key=lambda name: len(self._groups[name]))
            early = self._groups.pop(largest)
            self._held -= len(early)
            return [early]
        return []

    def flush(self) -> list[list[Item]]:
        groups, self._groups, self._held = list(self._groups.values()), {}, 0
        return groups


def split(strategy: BatchStrategy, items: Iterable[Any]) -> list[list[Item]]:
    """Cut ``items`` (payloads or `Item`s) into batches with ``strategy`` (for a list at hand)."""
    batcher = check_strategy("strategy", strategy).batcher()
    batches: list[list[Item]] = []
    for item in items:
        batches.extend(batcher.add(item if isinstance(item, Item) else Item.wrap(item)))
    batches.extend(batcher.flush())
    return batches
