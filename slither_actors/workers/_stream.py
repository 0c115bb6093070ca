"""`CallStream`: many batches to one target in flight at once, outcomes as they come.

The pool's fast path for fan-out. No task waits per batch: each worker's own reader
settles a batch, hands its outcome over and, from a plain iterable of batches, writes the
next batch to a worker on the spot, as a hand-written pipe loop would. The consumer wakes
once for however many outcomes have arrived. Every buffer is bounded: at most
``max_in_flight`` batches are out, and at most as many outcomes wait to be taken.
"""

from __future__ import annotations

import collections
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Sequence,
)
from typing import Any

import attrs
import trio

from slither_actors.core import Signal
from slither_actors.errors import SlitherError
from slither_actors.workers._state import PendingCall, PoolState
from slither_actors.workers.protocol import encode_call

__all__ = ["BatchOutcome", "CallStream"]


@attrs.frozen
class BatchOutcome:
    """One batch's fate: ``results`` (one per payload) or the ``error`` that ended it.

    ``index`` counts the batches of the stream from 0 in the order they were taken from
    the input.
    """

    index: int
    payloads: list[Any]
    results: list[Any] | None = None
    error: BaseException | None = None


@attrs.define(eq=False)
class CallStream:
    """Batches in flight to one target; iterate it for their outcomes."""

    state: PoolState
    target: str
    tool: bool
    session_id: str | None
    timeout: float
    max_in_flight: int
    ordered: bool
    _source: Iterator[Sequence[Any]] | AsyncIterator[Sequence[Any]] | None = None
    _exhausted: bool = False
    _source_error: BaseException | None = None
    _taken: int = 0  # batches taken from the input
    _next_to_yield: int = 0
    _in_flight: dict[int, tuple[int, list[Any], PendingCall]] = attrs.Factory(dict)
    _ready: dict[int, BatchOutcome] = attrs.Factory(dict)  # index -> outcome
    _arrival: collections.deque[int] = attrs.Factory(collections.deque)
    _wakeup: Signal = attrs.Factory(Signal)
    _sync_source: bool = False
    _closed: bool = False
    # Set to take every outcome where it settles instead of queueing it for iteration;
    # `finished` is then set once the input is exhausted and nothing is in flight.
    on_outcome: Callable[[BatchOutcome], None] | None = None
    finished: trio.Event = attrs.Factory(trio.Event)

    def feed_from(self, batches: Iterable[Sequence[Any]] | AsyncIterable[Sequence[Any]]) -> None:
        """Take batches from ``batches`` as room frees up (lazily: never more than needed)."""
        if isinstance(batches, AsyncIterable):
            self._source = aiter(batches)
        else:
            self._source = iter(batches)
            self._sync_source = True

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def _room(self) -> bool:
        return (
            not self._closed
            and len(self._in_flight) < self.max_in_flight
            and len(self._ready) < self.max_in_flight
        )

    def submit(self, payloads: Sequence[Any]) -> int:
        """Send one batch now (or queue it in the pool); return its index."""
        index = self._taken
        self._taken += 1
        items = payloads if type(payloads) is list else list(payloads)
        state = self.state
        call_id = state.call_ids()
        frame = encode_call(
            call_id, self.target, self.tool, items, self.session_id, state.settings.max_frame
        )
        pending = PendingCall(
            call_id, self.target, frame, self.session_id, has_waiter=False, timeout=self.timeout
        )
        pending.on_settle = self._settled
        self._in_flight[call_id] = (index, items, pending)
        state.deadlines.add(pending, trio.current_time() + self.timeout)
        try:
            state.dispatch(pending)
        except SlitherError as error:
            pending.fail(error)
        return index

    def _fill(self) -> None:
        """Take batches from a plain iterable while there is room (runs inside readers)."""
        if not self._sync_source:
            return
        source = self._source
        assert isinstance(source, Iterator)
        while not self._exhausted and self._room():
            try:
                batch = next(source)
            except StopIteration:
                self._exhausted = True
            except Exception as error:  # the input itself failed: stop feeding, tell the consumer
                self._exhausted = True
                self._source_error = error
                self._wake()
                self.finished.set()
            else:
                self.submit(batch)
        if self._exhausted and not self._in_flight:
            self.finished.set()

    def _settled(self, pending: PendingCall) -> None:
        """A batch settled (called where it settled, usually in a worker's reader)."""
        if pending.requeued:
            pending.requeued = False
            self.state.dispatch(pending, accepted=True)
            return
        index, payloads, _ = self._in_flight.pop(pending.call_id)
        results = pending.value if pending.error is None else None
        outcome = BatchOutcome(index, payloads, results, pending.error)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        else:
            self._ready[index] = outcome
            self._arrival.append(index)
            self._wake()
        self._fill()
        if self._exhausted and not self._in_flight:
            self.finished.set()

    def _wake(self) -> None:
        self._wakeup.set()

    def _take_ready(self) -> BatchOutcome | None:
        if self.ordered:
            return self._ready.pop(self._next_to_yield, None)
        while self._arrival:
            outcome = self._ready.pop(self._arrival.popleft(), None)
            if outcome is not None:
                return outcome
        return None

    def __aiter__(self) -> CallStream:
        return self

    async def __anext__(self) -> BatchOutcome:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            outcome = self._take_ready()
            if outcome is not None:
                self._next_to_yield += 1
                self._fill()
                return outcome
            if self._source_error is not None:
                error, self._source_error = self._source_error, None
                raise error
            self._fill()
            if isinstance(self._source, AsyncIterator) and not self._exhausted and self._room():
                try:
                    self.submit(await anext(self._source))
                except StopAsyncIteration:
                    self._exhausted = True
                continue
            if self._exhausted and not self._in_flight and not self._ready:
                raise StopAsyncIteration
            await self._wakeup.wait()

    async def run_to_end(self) -> None:
        """With ``on_outcome`` set: feed every batch and wait until all have settled.

        Raises what the input raised, if it did.
        """
        if isinstance(self._source, AsyncIterator):
            while not self._exhausted:
                if self._room():
                    try:
                        self.submit(await anext(self._source))
                    except StopAsyncIteration:
                        self._exhausted = True
                else:
                    await self._wakeup.wait()
        else:
            self._fill()
        if self._exhausted and not self._in_flight:
            self.finished.set()
        await self.finished.wait()
        if self._source_error is not None:
            raise self._source_error

    def close(self) -> None:
        """Stop: take no more batches; batches in flight run on, their results dropped."""
        self._closed = True
        for _, _, pending in self._in_flight.values():
            pending.on_settle = None
            self.state.withdraw(pending)
        self._in_flight.clear()
        self._ready.clear()
