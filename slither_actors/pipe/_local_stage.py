"""The actor of a local stage: the stage's handler run in the parent on each item, one or
several at a time, or its batch handler on a few items at once."""

from __future__ import annotations

import inspect
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors.dispatching import Retry
from slither_actors.errors import ItemFailed
from slither_actors.item import DEFAULT_ROUTE, Item
from slither_actors.pipe._run import Outbox
from slither_actors.pipe._stage_actors import STAGE_SPAN, StageActor
from slither_actors.pipe._stages import Cardinality, FailItem, LocalStage, RouteTo, SkipItem

__all__ = ["LocalStageActor"]


@attrs.define(eq=False)
class LocalStageActor(StageActor):
    """Runs the stage's handler on each item (or its batch handler on a few at once)."""

    spec: LocalStage = attrs.field(init=False)  # the stage, as the local stage it is

    def __attrs_post_init__(self) -> None:
        assert isinstance(self.stage, LocalStage)
        self.spec = self.stage

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

    async def _consume_batches(self) -> None:
        outbox = self.new_outbox()
        size = self.spec.batch_size
        while (chunk := await self.next_chunk()) is not None:
            for start in range(0, len(chunk), size):
                batch = chunk[start : start + size]
                self.started.update(item.id for item in batch)
                if telemetry.is_observed(STAGE_SPAN):
                    metadata = {"pipe": self.run.pipe.name(), "stage": self.stage.name}
                    with telemetry.span(STAGE_SPAN, {**metadata, "size": len(batch)}):
                        await self._handle_batch(batch, outbox)
                else:
                    await self._handle_batch(batch, outbox)
                for item in batch:
                    del self.in_hand[item.id]
                    self.started.discard(item.id)
            await outbox.flush()

    async def handle(self, item: Item, outbox: Outbox) -> None:
        attempt = 1
        while True:
            try:
                outcome = await self._call(item)
            except Exception as error:
                if not await self._retrying(error, attempt):
                    await self.failed(item, error, outbox, attempt)
                    return
                attempt += 1
                continue
            if isinstance(outcome, FailItem):
                rejection = _as_error(outcome)
                if await self._retrying(rejection, attempt):
                    attempt += 1
                    continue
                await self.failed(item, rejection, outbox, attempt)
                return
            await self._hand_on(item, outcome, outbox)
            return

    async def _retrying(self, error: BaseException, attempt: int) -> bool:
        """Whether to try again after ``error`` (having waited the backoff if so)."""
        policy = self.policy
        if not isinstance(policy, Retry) or not policy.retries(error):
            return False
        if attempt >= policy.max_attempts:
            return False
        await trio.sleep(policy.backoff.delay(attempt))
        return True

    async def _call(self, item: Item) -> Any:
        handler = self.spec.handler
        assert handler is not None
        context = self.run.stage_contexts[self.stage.name]
        if self.spec.in_thread:
            return await trio.to_thread.run_sync(handler, item, context)
        outcome = handler(item, context)
        if inspect.iscoroutine(outcome) or hasattr(type(outcome), "__await__"):
            outcome = await outcome
        return outcome

    async def _handle_batch(self, batch: list[Item], outbox: Outbox) -> None:
        batch_handler = self.spec.batch_handler
        assert batch_handler is not None
        context = self.run.stage_contexts[self.stage.name]
        try:
            outcomes = batch_handler(batch, context)
            if inspect.isawaitable(outcomes):
                outcomes = await outcomes
            if not isinstance(outcomes, list) or len(outcomes) != len(batch):
                got = len(outcomes) if isinstance(outcomes, list) else type(outcomes).__name__
                problem = f"the batch handler returned {got} results for {len(batch)} items"
                raise TypeError(problem)
        except Exception as error:
            for item in batch:
                await self.failed(item, error, outbox)
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, FailItem):
                await self.failed(item, _as_error(outcome), outbox)
            else:
                await self._hand_on(item, outcome, outbox)

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


# What a handler may return besides a plain new payload.
_SPECIAL = frozenset({SkipItem, RouteTo, Item})


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
