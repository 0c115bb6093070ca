"""The bounded runner under dispatch: lazy input, bounded batches out, order, policies.

``max_in_flight`` lanes each take a batch, run it through the executor under the error
policy, and hand its items on, so at most ``max_in_flight`` batches are out at once.
Batches are cut from the input only when a lane is free to take one, and a lane takes none
while ``WINDOW * max_in_flight`` batches are taken but not yet handed on (out, or finished
and waiting for an earlier one to keep the order). So the runner holds at most about
``WINDOW * max_in_flight * batch_size`` items beyond what its consumer has taken, however
long the input.

A window of twice the lanes lets a lane that finished ahead of an earlier batch go on with
the next one while the earlier one runs: with a window of exactly ``max_in_flight``, it
waited, and the wait and wake-up cost more than the batch's own bookkeeping (10 % of the
parent's time per item on the trivial workload of bench/dispatch.py).
"""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import attrs
import trio

from slither_actors import telemetry
from slither_actors._core import Signal, open_own_nursery
from slither_actors._dispatch._batch import Batch
from slither_actors._dispatch._execution import BATCH_SPAN, execute_batch, results_of
from slither_actors._dispatch._executors import Executor
from slither_actors._dispatch._policies import ErrorPolicy, Halt, Retry, Route, Skip, describe
from slither_actors._dispatch._strategies import BatchStrategy, FixedBatch
from slither_actors.config import Ordering
from slither_actors.context import Context
from slither_actors.item import Item

__all__ = ["WINDOW", "BatchReceiver", "Halted", "Receiver", "Runner", "Skipped"]

WINDOW = 2  # batches taken and not handed on, at most, per lane


class Halted(Exception):
    """A lane met a failure under `Halt`: the run stops."""

    def __init__(self, reason: BaseException, batch_ref: int, item_id: int) -> None:
        self.reason = reason
        self.batch_ref = batch_ref
        self.item_id = item_id  # the first item of the batch (or half) that failed
        self.completed: list[Batch] = []  # parts of the halted batch that did complete
        # What else failed in the run as it halted (the input, say): not lost, but raised
        # along with the halt's own error (see `with_the_rest`).
        also: list[BaseException] = []
        self.also = also
        super().__init__(describe(reason))

    def with_the_rest(self, error: BaseException, what: str) -> BaseException:
        """``error``, the halt as its caller reports it, alone; or, if more failed as the
        run halted, a group of it and the rest, so that nothing is dropped."""
        if not self.also:
            return error
        return BaseExceptionGroup(f"{what} halted, and more failed", [error, *self.also])


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


# Takes the items a `Skip` policy dropped, with the error and the attempts made, in place
# of handing them on marked as skipped.
Skipped = Callable[[Batch, BaseException, int], None]


# Takes a finished batch's ref and its results, as columns; batches come in ref order under
# `Ordering.PRESERVE`.
Emit = Callable[[int, Batch], Awaitable[None]]


@attrs.define(eq=False)
class Runner:
    """One run: an input, an executor, a strategy, a window, an order and a policy."""

    executor: Executor
    strategy: BatchStrategy
    max_in_flight: int
    ordering: Ordering
    policy: ErrorPolicy
    timeout: float | None
    context: Context
    # Seconds a partial batch may wait, from its first item, for more items from a
    # `Receiver` input (None: until the batch is full or the input ends).
    linger: float | None = None
    # If set, items skipped under the policy go here rather than on, marked (see `Skipped`).
    skipped: Skipped | None = None
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
    _running: dict[int, Batch] = attrs.Factory(dict)  # batches in a lane, by ref
    _ready: collections.deque[Batch] = attrs.Factory(collections.deque)
    _exhausted: bool = False
    _next_ref: int = 1
    _next_to_emit: int = 1
    _unemitted: int = 0
    _finished: dict[int, Batch] = attrs.Factory(dict)
    _window: Signal = attrs.Factory(Signal)
    _emit: Emit | None = None
    _emitting: bool = False
    _window_size: int = 0  # batches taken and not handed on, at most

    async def run(
        self, items: Iterable[Any] | AsyncIterable[Any] | Receiver | BatchReceiver, emit: Emit
    ) -> None:
        """Process every item, handing finished items to ``emit`` batch by batch.

        ``items`` is an iterable, an async iterable, a `Receiver` (a channel: read with
        ``receive()`` until `trio.EndOfChannel`, which is what lets a partial batch go after
        ``linger`` without losing an item) or a `BatchReceiver`. Raises `Halted` when the
        policy halts (the other batches in flight are cancelled).
        """
        if isinstance(items, BatchReceiver):
            self._batches_received = items
        elif isinstance(items, Receiver):
            self._received = items
        elif isinstance(items, AsyncIterable):
            self._async_source = aiter(items)
        else:
            self._source = iter(items)
        self._batcher = self.strategy.batcher()
        self._emit = emit
        self._window_size = WINDOW * self.max_in_flight
        try:
            async with open_own_nursery() as nursery:
                for _ in range(self.max_in_flight):
                    nursery.start_soon(self._lane)
        except BaseExceptionGroup as group:
            halted, rest = group.split(Halted)
            if halted is None:
                raise
            first = _first(halted)  # two lanes halted at once: the first tells
            if rest is not None:  # and whatever else failed goes along with it
                first.also.extend(rest.exceptions)
            raise first from None

    def unfinished(self, halted: Halted | None = None) -> list[tuple[int, Batch]]:
        """Batches that completed but were not handed on, as ``(ref, results)``, with the
        results of the ``halted`` batch that completed before it halted."""
        batches = list(self._finished.items())
        if halted is not None and halted.completed:
            batches.append((halted.batch_ref, Batch.concat(halted.completed)))
        return batches

    def held(self, handed: int | None = None) -> list[Batch]:
        """Every item taken from the input and not handed on yet (the batch ``handed``, being
        handed on, excepted): cut or not, running, or finished."""
        held = [*self._pending_parts, *self._ready, *self._running.values()]
        if self._pending:
            held.append(Batch.of_values(self._pending))
        if self._in_batcher:
            held.append(Batch.of_items(list(self._in_batcher.values())))
        held += [batch for ref, batch in self._finished.items() if ref != handed]
        return held

    # --- lanes ----------------------------------------------------------------------------

    async def _lane(self) -> None:
        # The common case runs inline: a payload executor, no retries, nobody listening to
        # batch spans. Each coroutine level left out saves its frame on every await.
        execute_payloads = getattr(self.executor, "execute_payloads", None)
        plain = not isinstance(self.policy, Retry)
        running = self._running
        while (taken := self._take_at_once() or await self._take()) is not None:
            ref, batch = taken
            running[ref] = batch
            if plain and execute_payloads is not None and not telemetry.is_observed(BATCH_SPAN):
                try:
                    results = await execute_payloads(batch.payloads, self.context, self.timeout)
                    done = results_of(self.executor, ref, batch, results)
                except Exception as error:
                    done = self._failed(self.policy, ref, batch, error, 1)
            else:
                done = await self._process(ref, batch)
            del running[ref]
            await self._hand_on(ref, done)

    def _take_at_once(self) -> tuple[int, Batch] | None:
        """The next batch if it can be had without waiting (the window has room, and a
        batch is cut or a list's slice makes one); else None, and `_take` waits."""
        if self._unemitted >= self._window_size:
            return None
        if not self._ready:
            if self._exhausted or not isinstance(self.strategy, FixedBatch):
                return None
            if self._batches_received is not None and not self._source_lock.locked():
                self._cut_batches_nowait(self._batches_received)
            elif self._source is not None and not self._pending:
                self._cut_slice(self._source, self.strategy.batch_size)
            if not self._ready:
                return None
        return self._pop_ready()

    def _pop_ready(self) -> tuple[int, Batch]:
        """The first cut batch, numbered and counted in the window."""
        ref = self._next_ref
        self._next_ref += 1
        self._unemitted += 1
        return ref, self._ready.popleft()

    async def _take(self) -> tuple[int, Batch] | None:
        while True:
            if self._unemitted >= self._window_size:
                await self._window.wait()
                continue
            if self._ready:
                return self._pop_ready()
            if self._exhausted:
                return None
            await self._cut()

    async def _cut(self) -> None:
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
                while not self._ready and not self._exhausted:
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
        while not self._ready and not self._exhausted:
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
            self._ready.append(Batch.of_values(chunk))
        if len(chunk) < size:
            self._exhausted = True

    async def _cut_received(self, source: Receiver) -> None:
        while not self._ready and not self._exhausted:
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
        while not self._ready and not self._exhausted:
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
        while not self._ready and not self._exhausted:
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
            self._ready.append(Batch.concat(self._pending_parts))
            self._pending_parts = []
            self._held = 0

    def _add(self, value: Any) -> None:
        if not self._held:
            self._held_since = trio.current_time()
        self._held += 1
        if isinstance(self.strategy, FixedBatch):  # values wait as they are, not as Items
            self._pending.append(value)
            if len(self._pending) >= self.strategy.batch_size:
                self._ready.append(Batch.of_values(self._pending))
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
        self._ready.append(Batch.of_items(items))
        self._held -= len(items)

    def _end_of_input(self) -> None:
        self._flush()
        self._exhausted = True

    def _flush(self) -> None:
        """Every item held in a partial batch leaves, in the batches it is in."""
        if self._pending:
            self._ready.append(Batch.of_values(self._pending))
            self._pending = []
        if self._pending_parts:
            self._ready.append(Batch.concat(self._pending_parts))
            self._pending_parts = []
        for batch in self._batcher.flush():
            self._cut_from_batcher(batch)
        self._held = 0

    async def _hand_on(self, ref: int, done: Batch) -> None:
        # A batch stays in `_finished` until the hand-over is through, so that a run halted
        # meanwhile still counts it among the completed (`unfinished`).
        self._finished[ref] = done
        if self.ordering is Ordering.AS_COMPLETED:
            self._unemitted -= 1
            self._window.set()
            if done:
                assert self._emit is not None
                await self._emit(ref, done)
            del self._finished[ref]
            return
        if ref != self._next_to_emit or self._emitting:
            # An earlier batch is still out, or another lane is handing batches on: either
            # way that lane hands this one on after its own, and this lane moves on.
            return
        self._emitting = True
        try:
            assert self._emit is not None
            while (batch := self._finished.get(self._next_to_emit)) is not None:
                emitted = self._next_to_emit
                self._next_to_emit += 1
                self._unemitted -= 1
                self._window.set()
                if batch:
                    await self._emit(emitted, batch)
                del self._finished[emitted]
        finally:
            self._emitting = False

    # --- one batch, under the policy ------------------------------------------------------

    async def _process(self, ref: int, batch: Batch) -> Batch:
        policy = self.policy
        if isinstance(policy, Retry):
            return await self._retry(ref, batch, policy, 1)
        try:
            return await self._execute(ref, batch, 1)
        except Exception as error:
            return self._failed(policy, ref, batch, error, 1)

    async def _retry(self, ref: int, batch: Batch, policy: Retry, attempt: int) -> Batch:
        while True:
            try:
                return await self._execute(ref, batch, attempt)
            except Exception as error:
                if not policy.retries(error):
                    return self._failed(policy.then, ref, batch, error, attempt)
                if policy.isolate and len(batch) > 1:
                    # Halves, each tried on its own: good items are not held hostage.
                    front, back = batch.halves()
                    first = await self._retry(ref, front, policy, attempt)
                    try:
                        second = await self._retry(ref, back, policy, attempt)
                    except Halted as halted:
                        halted.completed.insert(0, first)  # the first half did complete
                        raise
                    return Batch.concat([first, second])
                if attempt >= policy.max_attempts:
                    return self._failed(policy.then, ref, batch, error, attempt)
                await trio.sleep(policy.backoff.delay(attempt))
                attempt += 1

    def _failed(
        self,
        policy: ErrorPolicy,
        ref: int,
        batch: Batch,
        error: BaseException,
        attempts: int,
    ) -> Batch:
        if isinstance(policy, Skip):
            if self.skipped is not None:
                self.skipped(batch, error, attempts)
                return batch.part(0, 0)
            marks = {"skipped": True, "error": describe(error), "attempts": attempts}
            return batch.with_meta(marks)
        if isinstance(policy, Route):
            try:
                return Batch.of_items([policy.function(item, error) for item in batch.items()])
            except Exception as route_error:  # the route itself failed: nowhere to go
                route_error.__context__ = error
                raise Halted(route_error, ref, batch.ids[0]) from None
        assert isinstance(policy, Halt)
        raise Halted(error, ref, batch.ids[0])

    async def _execute(self, ref: int, batch: Batch, attempt: int) -> Batch:
        return await execute_batch(self.executor, ref, batch, self.context, self.timeout, attempt)


def _first(group: BaseExceptionGroup[Halted]) -> Halted:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    assert isinstance(leaf, Halted)
    return leaf
