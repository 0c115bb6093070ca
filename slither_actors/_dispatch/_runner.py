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

from collections.abc import AsyncIterable, Awaitable, Callable, Container, Iterable
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors._core import Signal, open_own_nursery
from slither_actors._dispatch._batch import Batch
from slither_actors._dispatch._execution import BATCH_SPAN, execute_batch, results_of
from slither_actors._dispatch._executors import Executor
from slither_actors._dispatch._intake import BatchReceiver, Intake, Receiver
from slither_actors._dispatch._policies import ErrorPolicy, Halt, Recover, Retry, Skip, describe
from slither_actors._dispatch._strategies import BatchStrategy
from slither_actors.config import Ordering
from slither_actors.context import Context

__all__ = ["WINDOW", "BatchReceiver", "Emit", "Halted", "Receiver", "Runner", "Skipped"]

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
    _intake: Intake = attrs.field(init=False)  # the input, cut into batches
    _running: dict[int, Batch] = attrs.Factory(dict)  # batches in a lane, by ref
    _next_ref: int = 1
    _next_to_emit: int = 1
    _unemitted: int = 0
    _finished: dict[int, Batch] = attrs.Factory(dict)
    _window: Signal = attrs.Factory(Signal)
    _emit: Emit | None = None
    _emitting: bool = False
    _window_size: int = 0  # batches taken and not handed on, at most

    def __attrs_post_init__(self) -> None:
        self._intake = Intake(self.strategy, self.linger)

    async def run(
        self, items: Iterable[Any] | AsyncIterable[Any] | Receiver | BatchReceiver, emit: Emit
    ) -> None:
        """Process every item, handing finished items to ``emit`` batch by batch.

        ``items`` is an iterable, an async iterable, a `Receiver` (a channel: read with
        ``receive()`` until `trio.EndOfChannel`, which is what lets a partial batch go after
        ``linger`` without losing an item) or a `BatchReceiver`. Raises `Halted` when the
        policy halts (the other batches in flight are cancelled).
        """
        self._intake.open(items)
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

    @property
    def batches_out(self) -> int:
        """How many batches are in a lane now (at most ``max_in_flight``)."""
        return len(self._running)

    def held(self, handed: Container[int] = ()) -> list[Batch]:
        """Every item taken from the input and not handed on yet (the batches ``handed``,
        being handed on, excepted): cut or not, running, or finished."""
        held = [*self._intake.held(), *self._running.values()]
        held += [batch for ref, batch in self._finished.items() if ref not in handed]
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
        batch is cut or can be cut at once); else None, and `_take` waits."""
        if self._unemitted >= self._window_size:
            return None
        intake = self._intake
        if not intake.ready:
            intake.cut_now()
            if not intake.ready:
                return None
        return self._numbered(intake.ready.popleft())

    def _numbered(self, batch: Batch) -> tuple[int, Batch]:
        """``batch``, numbered and counted in the window."""
        ref = self._next_ref
        self._next_ref += 1
        self._unemitted += 1
        return ref, batch

    async def _take(self) -> tuple[int, Batch] | None:
        intake = self._intake
        while True:
            if self._unemitted >= self._window_size:
                await self._window.wait()
                continue
            if intake.ready:
                return self._numbered(intake.ready.popleft())
            if intake.exhausted:
                return None
            await intake.cut()

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
        if isinstance(policy, Recover):
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
