"""`Intake`: the input of a dispatch run, read lazily and cut into batches.

The input is a list or any iterable (a list's slices are cut in bulk), an async iterable,
a `Receiver` (a channel, read item by item, where a partial batch may leave after
``linger``) or a `BatchReceiver` (a pipe stage's inbox, handing over columns). Cut batches
wait in `ready` until a lane of the runner takes one.
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import attrs
import trio

from slither_actors._dispatch._batch import Batch
from slither_actors._dispatch._strategies import BatchStrategy, FixedBatch
from slither_actors.item import Item

__all__ = ["BatchReceiver", "Intake", "Receiver"]


@runtime_checkable
class Receiver(Protocol):
    """An input read with ``await receive()`` until `trio.EndOfChannel`, or without waiting
    with ``receive_nowait()`` (`trio.WouldBlock` when nothing is there): a trio channel."""

    async def receive(self) -> Any: ...

    def receive_nowait(self) -> Any: ...


@runtime_checkable
class BatchReceiver(Protocol):
    """An input that hands over items as columns, up to ``limit`` at a time (at least one):
    ``await receive_batch(limit)`` until `trio.EndOfChannel`, or ``receive_batch_nowait``
    (`trio.WouldBlock` when nothing is there). A pipe stage's inbox is one."""

    async def receive_batch(self, limit: int) -> Batch: ...

    def receive_batch_nowait(self, limit: int) -> Batch: ...


@attrs.define(eq=False)
class Intake:
    """The input of one run, and the batches cut from it that no lane has taken yet."""

    strategy: BatchStrategy
    # Seconds a partial batch may wait, from its first item, for more items from a
    # `Receiver` input (None: until the batch is full or the input ends).
    linger: float | None = None
    ready: collections.deque[Batch] = attrs.Factory(collections.deque)
    exhausted: bool = False
    # The input, in the one field that fits its kind (sorted out once: an isinstance check
    # against the Receiver protocol costs more than cutting a batch).
    _received: Receiver | None = None
    _batches_received: BatchReceiver | None = None
    _async_source: AsyncIterator[Any] | None = None
    _source: Iterator[Any] | None = None
    _held: int = 0  # items taken from the input that are in no batch yet
    _held_since: float = 0.0  # when the first of them was taken
    _source_lock: trio.Lock = attrs.Factory(trio.Lock)
    _batcher: Any = None
    _pending: list[Any] = attrs.Factory(list)  # FixedBatch: values of the batch being cut
    _pending_parts: list[Batch] = attrs.Factory(list)  # the same, from a BatchReceiver
    _in_batcher: dict[int, Item] = attrs.Factory(dict)  # other strategies: items held there

    def open(self, items: Iterable[Any] | AsyncIterable[Any] | Receiver | BatchReceiver) -> None:
        """Read ``items`` from now on."""
        if isinstance(items, BatchReceiver):
            self._batches_received = items
        elif isinstance(items, Receiver):
            self._received = items
        elif isinstance(items, AsyncIterable):
            self._async_source = aiter(items)
        else:
            self._source = iter(items)
        self._batcher = self.strategy.batcher()

    def held(self) -> list[Batch]:
        """Every item taken from the input that no lane has taken: cut or not."""
        held = [*self._pending_parts, *self.ready]
        if self._pending:
            held.append(Batch.of_values(self._pending))
        if self._in_batcher:
            held.append(Batch.of_items(list(self._in_batcher.values())))
        return held

    def cut_now(self) -> None:
        """Cut a batch if it can be done without waiting: a list's next slice, or columns
        already in a `BatchReceiver`, under `FixedBatch`."""
        if self.exhausted or not isinstance(self.strategy, FixedBatch):
            return
        if self._batches_received is not None and not self._source_lock.locked():
            self._cut_batches_nowait(self._batches_received)
        elif self._source is not None and not self._pending:
            self._cut_slice(self._source, self.strategy.batch_size)

    async def cut(self) -> None:
        """Take input until at least one batch is cut, or the input ends."""
        lock = self._source_lock
        if self._batches_received is not None or self._received is not None:
            try:  # the lock is free, as a rule: no trip through the scheduler for it
                lock.acquire_nowait()
            except trio.WouldBlock:
                await lock.acquire()
            try:
                if self._batches_received is not None:
                    await self._cut_batches(self._batches_received)
                else:
                    assert self._received is not None
                    await self._cut_received(self._received)
            finally:
                lock.release()
            return
        if self._async_source is not None:
            async with self._source_lock:  # one lane at a time pulls an async input
                while not self.ready and not self.exhausted:
                    try:
                        value = await anext(self._async_source)
                    except StopAsyncIteration:
                        self._end_of_input()
                    else:
                        self._add(value)
            return
        source = self._source
        assert source is not None
        if isinstance(self.strategy, FixedBatch) and not self._pending:
            self._cut_slice(source, self.strategy.batch_size)
            return
        while not self.ready and not self.exhausted:
            try:
                value = next(source)
            except StopIteration:
                self._end_of_input()
            else:
                self._add(value)

    def _cut_slice(self, source: Iterator[Any], size: int) -> None:
        """The common case in bulk: a slice of a sync input becomes a batch at once."""
        chunk = list(itertools.islice(source, size))
        if chunk:
            self.ready.append(Batch.of_values(chunk))
        if len(chunk) < size:
            self.exhausted = True

    async def _cut_received(self, source: Receiver) -> None:
        while not self.ready and not self.exhausted:
            try:  # what is there already is taken without a wait, so without a timer
                value = source.receive_nowait()
            except trio.WouldBlock:
                pass
            except trio.EndOfChannel:
                self._end_of_input()
                continue
            else:
                self._add(value)
                continue
            with trio.move_on_at(self._linger_deadline()):
                try:
                    value = await source.receive()
                except trio.EndOfChannel:
                    self._end_of_input()
                else:
                    self._add(value)
                continue
            self._flush()  # the linger is over: a partial batch leaves as it is

    async def _cut_batches(self, source: BatchReceiver) -> None:
        """`_cut_received` for an input that hands over columns: under `FixedBatch`, a
        batch is cut from them with no call per item."""
        while not self.ready and not self.exhausted:
            room = max(1, self._room())  # never asks for none
            try:  # what is there already is taken without a wait, so without a timer
                self._add_part(source.receive_batch_nowait(room))
                continue
            except trio.WouldBlock:
                pass
            except trio.EndOfChannel:
                self._end_of_input()
                continue
            with trio.move_on_at(self._linger_deadline()):
                try:
                    self._add_part(await source.receive_batch(room))
                except trio.EndOfChannel:
                    self._end_of_input()
                continue
            self._flush()  # the linger is over: a partial batch leaves as it is

    def _cut_batches_nowait(self, source: BatchReceiver) -> None:
        """`_cut_batches` as far as it goes without a wait."""
        while not self.ready and not self.exhausted:
            try:
                self._add_part(source.receive_batch_nowait(max(1, self._room())))
            except trio.WouldBlock:
                return
            except trio.EndOfChannel:
                self._end_of_input()

    def _room(self) -> int:
        """How many items the batch being cut may still take (one at a time, but under
        `FixedBatch`)."""
        if isinstance(self.strategy, FixedBatch):
            return self.strategy.batch_size - self._held
        return 1

    def _linger_deadline(self) -> float:
        if self._held and self.linger is not None:
            return self._held_since + self.linger
        return math.inf

    def _add_part(self, part: Batch) -> None:
        """`_add` for a run of items as columns (at most `_room` of them)."""
        if not isinstance(self.strategy, FixedBatch):
            for item in part.items():
                self._add(item)
            return
        if not self._held:
            self._held_since = trio.current_time()
        self._held += len(part)
        self._pending_parts.append(part)
        if self._held >= self.strategy.batch_size:
            self.ready.append(Batch.concat(self._pending_parts))
            self._pending_parts = []
            self._held = 0

    def _add(self, value: Any) -> None:
        if not self._held:
            self._held_since = trio.current_time()
        self._held += 1
        if isinstance(self.strategy, FixedBatch):  # values wait as they are, not as Items
            self._pending.append(value)
            if len(self._pending) >= self.strategy.batch_size:
                self.ready.append(Batch.of_values(self._pending))
                self._pending = []
                self._held = 0
            return
        item = value if type(value) is Item else Item.wrap(value)
        self._in_batcher[item.id] = item
        for batch in self._batcher.add(item):
            self._cut_from_batcher(batch)

    def _cut_from_batcher(self, items: list[Item]) -> None:
        for item in items:
            self._in_batcher.pop(item.id, None)
        self.ready.append(Batch.of_items(items))
        self._held -= len(items)

    def _end_of_input(self) -> None:
        self._flush()
        self.exhausted = True

    def _flush(self) -> None:
        """Every item held in a partial batch leaves, in the batches it is in."""
        if self._pending:
            self.ready.append(Batch.of_values(self._pending))
            self._pending = []
        if self._pending_parts:
            self.ready.append(Batch.concat(self._pending_parts))
            self._pending_parts = []
        for batch in self._batcher.flush():
            self._cut_from_batcher(batch)
        self._held = 0
