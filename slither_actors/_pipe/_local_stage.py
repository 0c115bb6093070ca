"""The actor of a local stage: the stage's handler run in the parent on each item, one or
several at a time, or its batch handler on a few items at once.

A sync handler that keeps to one item at a time runs over a whole chunk in one C-level
``map``, with no await and no bookkeeping per item; what it returns is looked at once per
chunk (the set of the outcomes' types), and plain new payloads become the payload column
of the chunk's results, which keep its ids and metas: no `Item` is made for a payload
handler. Only an outcome that is not a plain payload (`SkipItem`,
`RouteTo`, `FailItem`, an `Item`, an awaitable) or a handler that raises is dealt with on
its own; the handler then goes on from the next item.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors._dispatch import Retry
from slither_actors._dispatch._batch import Batch
from slither_actors._pipe._outbox import Chunk, Outbox
from slither_actors._pipe._stage_actors import CHUNK_SPAN, STAGE_SPAN, StageActor
from slither_actors._pipe._stages import Cardinality, FailItem, LocalStage, RouteTo, SkipItem
from slither_actors.errors import ItemFailed
from slither_actors.item import DEFAULT_ROUTE, Item

__all__ = ["LocalStageActor"]


@attrs.define(eq=False)
class LocalStageActor(StageActor):
    """Runs the stage's handler on each item (or its batch handler on a few at once)."""

    spec: LocalStage = attrs.field(init=False)  # the stage, as the local stage it is
    # Whether the handler runs over a whole chunk at once: sync, one item at a time, one
    # result per item. Turned off for good once it returns an awaitable.
    by_chunk: bool = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        assert isinstance(self.stage, LocalStage)
        spec = self.spec = self.stage
        self.by_chunk = (
            spec.handler is not None
            and not spec.in_thread
            and spec.concurrency == 1
            and spec.cardinality is Cardinality.ONE
            and not inspect.iscoroutinefunction(spec.handler)
        )

    async def consume(self) -> None:
        if self.spec.batch_handler is not None:
            await self._consume_batches()
        elif self.spec.concurrency > 1:
            await self._consume_concurrently()
        else:
            await super().consume()

    async def _consume_concurrently(self) -> None:
        """``concurrency`` tasks take the inbox's items one by one (their order is not kept)."""
        deal, dealt = trio.open_memory_channel[Item](0)
        async with trio.open_nursery() as nursery:
            for _ in range(self.spec.concurrency):
                nursery.start_soon(self._take_dealt, dealt.clone(), self.new_outbox())
            dealt.close()
            async with deal:
                while (chunk := await self.next_chunk()) is not None:
                    for item in chunk:
                        await deal.send(item)

    async def _take_dealt(self, dealt: trio.MemoryReceiveChannel[Item], outbox: Outbox) -> None:
        async with dealt:
            async for item in dealt:
                await self.handle_one(item, outbox)

    async def handle_chunk(self, chunk: Chunk, outbox: Outbox) -> None:
        if not self.by_chunk or telemetry.is_observed(STAGE_SPAN):
            await super().handle_chunk(chunk, outbox)
            return
        handler = self.spec.handler
        assert handler is not None
        if self.spec.takes == "payload":
            calls: Callable[[int], Any] = _payload_calls(handler, chunk)
        else:
            calls = _item_calls(handler, chunk, self.run.stage_contexts[self.stage.name])
        total = len(chunk)
        while self.handed < total:
            start = self.handed
            outcomes, failure = self.pass_from(start, calls(start))
            await self._settle(chunk, start, outcomes, outbox, retried=True)
            if failure is not None:
                await self._after_error(chunk.item_at(self.handed), failure, 1, outbox)
                self.handed += 1

    async def _consume_batches(self) -> None:
        outbox = self.new_outbox()
        size = self.spec.batch_size
        while (chunk := await self.take_chunk()) is not None:
            if telemetry.is_observed(CHUNK_SPAN):
                with telemetry.span(CHUNK_SPAN, self.chunk_metadata(chunk)):
                    await self._handle_slices(chunk, size, outbox)
            else:
                await self._handle_slices(chunk, size, outbox)
            self.holding = Batch([], [])
            await outbox.flush()

    async def _handle_slices(self, chunk: Chunk, size: int, outbox: Outbox) -> None:
        """Run the batch handler on ``chunk`` a slice of ``size`` items at a time."""
        for start in range(0, len(chunk), size):
            self.begun = min(start + size, len(chunk))
            if telemetry.is_observed(STAGE_SPAN):
                metadata = {"pipe": self.run.pipe.name(), "stage": self.stage.name}
                with telemetry.span(STAGE_SPAN, {**metadata, "size": self.begun - start}):
                    await self._handle_batch(chunk, start, outbox)
            else:
                await self._handle_batch(chunk, start, outbox)

    async def _handle_batch(self, chunk: Chunk, start: int, outbox: Outbox) -> None:
        """Run the batch handler on ``chunk[start:begun]`` and settle what it returns."""
        batch_handler = self.spec.batch_handler
        assert batch_handler is not None
        batch = chunk.part(start, self.begun)
        try:
            if self.spec.takes == "payload":
                outcomes = batch_handler(batch.payloads)
            else:
                outcomes = batch_handler(batch.items(), self.run.stage_contexts[self.stage.name])
            if inspect.isawaitable(outcomes):
                outcomes = await outcomes
            if not isinstance(outcomes, list) or len(outcomes) != len(batch):
                got = len(outcomes) if isinstance(outcomes, list) else type(outcomes).__name__
                problem = f"the batch handler returned {got} results for {len(batch)} items"
                raise TypeError(problem)
        except Exception as error:
            for item in batch.items():
                await self.failed(item, error, outbox)
                self.handed += 1
            return
        await self._settle(chunk, start, outcomes, outbox, retried=False)

    async def _settle(
        self, chunk: Chunk, start: int, outcomes: list[Any], outbox: Outbox, *, retried: bool
    ) -> None:
        """Hand on what the handler made of ``chunk[start:]``, one outcome per item, and
        move `handed` past them. Plain payloads go on together; the others one by one,
        a `FailItem` retried under a `Retry` policy if ``retried`` (a handler's, not a
        batch handler's), and an awaitable awaited if ``retried``."""
        if not outcomes:
            return
        if self.spec.cardinality is Cardinality.ONE and _all_plain(outcomes, retried):
            outbox.pass_on(chunk.part(start, start + len(outcomes)).with_payloads(outcomes))
            self.handed = start + len(outcomes)
            return
        plain: list[Any] = []  # outcomes of a run of items, from ``handed``, not sent on yet
        for position, outcome in enumerate(outcomes, start):
            kind = type(outcome)
            if self.spec.cardinality is Cardinality.ONE and not _special(kind, retried):
                plain.append(outcome)
                continue
            if plain:
                outbox.pass_on(chunk.part(self.handed, position).with_payloads(plain))
                plain = []
            self.handed = position
            item = chunk.item_at(position)
            if retried and hasattr(kind, "__await__"):
                self.by_chunk = False  # an async handler: from now on, one item at a time
                try:
                    outcome = await outcome
                except Exception as error:
                    await self._after_error(item, error, 1, outbox)
                else:
                    await self._after_outcome(item, outcome, outbox)
            elif isinstance(outcome, FailItem):
                if retried:
                    await self._after_error(item, _as_error(outcome), 1, outbox)
                else:
                    await self.failed(item, _as_error(outcome), outbox)
            else:
                await self._hand_on(item, outcome, outbox)
            self.handed = position + 1
        if plain:
            end = self.handed + len(plain)
            outbox.pass_on(chunk.part(self.handed, end).with_payloads(plain))
            self.handed = end

    async def handle(self, item: Item, outbox: Outbox) -> None:
        try:
            outcome = await self._outcome(item)
        except Exception as error:
            await self._after_error(item, error, 1, outbox)
            return
        await self._after_outcome(item, outcome, outbox)

    async def _after_outcome(self, item: Item, outcome: Any, outbox: Outbox) -> None:
        """Hand on ``outcome``, what the handler returned for ``item`` at its first try, or
        deal with its failure if it is a `FailItem`."""
        if isinstance(outcome, FailItem):
            await self._after_error(item, _as_error(outcome), 1, outbox)
        else:
            await self._hand_on(item, outcome, outbox)

    async def _after_error(
        self, item: Item, error: BaseException, attempt: int, outbox: Outbox
    ) -> None:
        """``item`` failed with ``error`` at ``attempt``: try it again while the policy
        says so (after its backoff), else apply the policy."""
        policy = self.policy
        while isinstance(policy, Retry) and policy.retries(error) and attempt < policy.max_attempts:
            await trio.sleep(policy.backoff.delay(attempt))
            attempt += 1
            try:
                outcome = await self._outcome(item)
            except Exception as again:
                error = again
                continue
            if isinstance(outcome, FailItem):
                error = _as_error(outcome)
                continue
            await self._hand_on(item, outcome, outbox)
            return
        await self.failed(item, error, outbox, attempt)

    async def _outcome(self, item: Item) -> Any:
        """What the handler returns for ``item`` (awaited, if it is an awaitable)."""
        handler = self.spec.handler
        assert handler is not None
        if self.spec.takes == "payload":
            arguments: tuple[Any, ...] = (item.payload,)
        else:
            arguments = (item, self.run.stage_contexts[self.stage.name])
        if self.spec.in_thread:
            return await trio.to_thread.run_sync(handler, *arguments)
        outcome = handler(*arguments)
        if hasattr(type(outcome), "__await__"):
            outcome = await outcome
        return outcome

    async def _routed(self, item: Item, destination: str, moved: Item, outbox: Outbox) -> None:
        """Send ``moved`` to ``destination``; one the stage cannot reach fails ``item``."""
        if not self.run.reaches(self.stage.name, destination):
            problem = f"routed to {destination!r}, which is neither an output nor a later stage"
            await self.failed(item, ValueError(problem), outbox)
            return
        outbox.send_to(destination, moved)

    async def _hand_on(self, item: Item, outcome: Any, outbox: Outbox) -> None:
        """Send on what the handler made of ``item``."""
        if type(outcome) not in _SPECIAL and self.spec.cardinality is Cardinality.ONE:
            outbox.forward(item.update_payload(outcome))  # the common case: a new payload
            return
        name = self.stage.name
        if isinstance(outcome, SkipItem):
            self.run.record(name, item, outcome.reason or "skipped by the handler", skipped=True)
        elif isinstance(outcome, RouteTo):
            await self._routed(item, outcome.destination, outcome.applied_to(item), outbox)
        elif self.spec.cardinality is Cardinality.MANY:
            if not isinstance(outcome, list):
                problem = f"a 'many' handler returns a list, not {type(outcome).__name__}"
                await self.failed(item, TypeError(problem), outbox)
                return
            if not outcome:  # no children: the item ends here, and says so
                self.run.record(name, item, "fanned out to no items", skipped=True)
            for value in outcome:
                child = _child(item, value)
                if child.route == DEFAULT_ROUTE:
                    outbox.forward(child)
                else:
                    await self._routed(child, child.route, child, outbox)
        elif type(outcome) is Item:  # its payload, meta and route; the id stays the input's
            if outcome.id != item.id:
                outcome = Item(item.id, outcome.payload, outcome.meta, outcome.route)
            if outcome.route == DEFAULT_ROUTE:
                outbox.forward(outcome)
            else:
                await self._routed(item, outcome.route, outcome, outbox)
        else:
            outbox.forward(item.update_payload(outcome))


# What a handler may return besides a plain new payload (and `FailItem`).
_SPECIAL = frozenset({SkipItem, RouteTo, Item})


def _special(kind: type, retried: bool) -> bool:
    """Whether an outcome of type ``kind`` is more than a new payload (an awaitable is,
    from a handler whose awaitables are awaited)."""
    return (
        kind in _SPECIAL or issubclass(kind, FailItem) or (retried and hasattr(kind, "__await__"))
    )


def _all_plain(outcomes: list[Any], retried: bool) -> bool:
    """Whether every outcome is a plain new payload: one look per type, not per outcome."""
    return not any(_special(kind, retried) for kind in set(map(type, outcomes)))


def _payload_calls(handler: Callable[[Any], Any], chunk: Chunk) -> Callable[[int], Any]:
    """The handler's outcomes for the payloads of ``chunk`` from a position on, lazily."""
    payloads = chunk.payloads
    return lambda start: map(handler, payloads[start:] if start else payloads)


def _item_calls(
    handler: Callable[[Item, Any], Any], chunk: Chunk, context: Any
) -> Callable[[int], Any]:
    """The handler's outcomes for the items of ``chunk`` from a position on, lazily."""
    items = chunk.items()
    return lambda start: map(handler, items[start:] if start else items, itertools.repeat(context))


def _child(parent: Item, value: Any) -> Item:
    """A fan-out child of ``parent``: a fresh id, the parent's meta plus ``parent_id``."""
    meta = {**parent.meta, "parent_id": parent.id}
    if type(value) is Item:  # its payload, meta and route, under a fresh id of its own
        child = Item.wrap(value.payload, meta={**value.meta, **meta})
        # Its route as it is, unchecked: one that names nothing fails this child under the
        # stage's policy (see `_routed`), where a check here would crash the stage.
        return Item(child.id, child.payload, child.meta, value.route)
    return Item.wrap(value, meta=meta, route=parent.route)


def _as_error(outcome: FailItem) -> BaseException:
    if isinstance(outcome.reason, BaseException):
        return outcome.reason
    return ItemFailed(outcome.reason)
