"""The actors that run a pipe's local and router stages, and what they share.

A stage actor reads its inbox in helper tasks (its lanes), hands each item on, and stops
once the inbox has ended and every lane is done, closing the channels it sent on. The
items a lane holds are noted, so that if the actor crashes they become error records
rather than vanish; the items still in the inbox wait there for the restarted actor.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import attrs
import trio

from slither_actors import telemetry
from slither_actors.core import Actor, ExitReason, Reason
from slither_actors.dispatching import Halt, Retry, Skip
from slither_actors.dispatching._policies import describe
from slither_actors.errors import ItemFailed
from slither_actors.item import DEFAULT_ROUTE, Item
from slither_actors.pipe._definition import StagePolicy, ToOutput
from slither_actors.pipe._run import Run
from slither_actors.pipe._stages import (
    Cardinality,
    FailItem,
    LocalStage,
    RouterStage,
    RouteTo,
    SkipItem,
    Stage,
)

__all__ = ["LocalStageActor", "RouterStageActor", "StageActor"]

_STAGE_SPAN = ("slither", "pipe", "stage")


@attrs.define(eq=False)
class StageActor(Actor):
    """What every stage actor does: lanes over the inbox, and the items in hand."""

    mailbox_size: ClassVar[int] = 8  # control messages only: items come through the inbox

    run: Run
    stage: Stage
    in_hand: dict[int, Item] = attrs.Factory(dict)
    _lanes_running: int = 0

    @property
    def lanes(self) -> int:
        """How many helper tasks read the inbox."""
        return 1

    async def init(self) -> None:
        self._lanes_running = self.lanes
        for _ in range(self.lanes):
            self.start_soon(self._lane)

    async def _lane(self) -> None:
        await self.consume()
        self._lanes_running -= 1
        if self._lanes_running == 0:  # the inbox has ended and all is handed on
            self.run.links[self.stage.name].close()
            self.stop()

    async def consume(self) -> None:
        """Take items from the inbox until it ends, handling each."""
        inbox = self.run.inboxes[self.stage.name]
        while True:
            try:
                item = await inbox.receive()
            except trio.EndOfChannel:
                return
            self.in_hand[item.id] = item
            await self.observed(item, 1)
            del self.in_hand[item.id]

    async def observed(self, item: Item, size: int) -> None:
        """`handle` ``item``, inside a stage span when someone listens."""
        if not telemetry.is_observed(_STAGE_SPAN):
            await self.handle(item)
            return
        metadata = {"pipe": self.run.pipe.name(), "stage": self.stage.name, "size": size}
        with telemetry.span(_STAGE_SPAN, metadata):
            await self.handle(item)

    async def handle(self, item: Item) -> None:
        raise NotImplementedError

    async def terminate(self, reason: Reason) -> None:
        if isinstance(reason, ExitReason):
            return  # stopped (the run is over, or halted): nothing was lost by a crash
        for item in self.in_hand.values():
            self.run.record(self.stage.name, item, f"the stage crashed: {describe(reason)}")
        self.in_hand.clear()

    @property
    def policy(self) -> StagePolicy:
        """This stage's error policy."""
        return self.run.pipe.policies[self.stage.name]

    async def failed(self, item: Item, error: BaseException, attempts: int = 1) -> None:
        """Apply the stage's policy to ``item``, which failed with ``error``."""
        policy = self.policy
        if isinstance(policy, Retry):
            policy = policy.then
        if isinstance(policy, Skip):
            self.run.record(self.stage.name, item, error, attempts=attempts, skipped=True)
        elif isinstance(policy, ToOutput):
            marked = item.put_meta({"error": describe(error), "stage": self.stage.name})
            await self.run.send_to(self.stage.name, policy.output, marked)
        else:
            assert isinstance(policy, Halt)
            self.run.halt(self.stage.name, item.id, error)
            await trio.sleep_forever()  # the halt cancels the run, this task included


@attrs.define(eq=False)
class RouterStageActor(StageActor):
    """Sends each item to the first route whose predicate holds (else ``default``)."""

    async def handle(self, item: Item) -> None:
        assert isinstance(self.stage, RouterStage)
        try:
            destination = self.run.routes_of(self.stage, item)
        except Exception as error:
            await self.failed(item, error)
            return
        await self.run.send_to(self.stage.name, destination, item)


@attrs.define(eq=False)
class LocalStageActor(StageActor):
    """Runs the stage's handler on each item (or its batch handler on a few at once)."""

    @property
    def lanes(self) -> int:
        assert isinstance(self.stage, LocalStage)
        return self.stage.concurrency

    async def consume(self) -> None:
        assert isinstance(self.stage, LocalStage)
        if self.stage.batch_handler is None:
            await super().consume()
            return
        inbox = self.run.inboxes[self.stage.name]
        while True:
            try:
                batch = [await inbox.receive()]
            except trio.EndOfChannel:
                return
            while len(batch) < self.stage.batch_size:  # and whatever else is waiting
                try:
                    batch.append(inbox.receive_nowait())
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
            for item in batch:
                self.in_hand[item.id] = item
            await self._observed_batch(batch)
            for item in batch:
                self.in_hand.pop(item.id, None)

    async def handle(self, item: Item) -> None:
        attempt = 1
        while True:
            try:
                outcome = await self._call(item)
            except Exception as error:
                if not await self._retrying(error, attempt):
                    await self.failed(item, error, attempt)
                    return
                attempt += 1
                continue
            if isinstance(outcome, FailItem):
                rejection = _as_error(outcome)
                if await self._retrying(rejection, attempt):
                    attempt += 1
                    continue
                await self.failed(item, rejection, attempt)
                return
            await self._hand_on(item, outcome)
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
        stage = self.stage
        assert isinstance(stage, LocalStage) and stage.handler is not None
        context = self.run.stage_contexts[stage.name]
        if stage.in_thread:
            return await trio.to_thread.run_sync(stage.handler, item, context)
        outcome = stage.handler(item, context)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        return outcome

    async def _observed_batch(self, batch: list[Item]) -> None:
        if not telemetry.is_observed(_STAGE_SPAN):
            await self._handle_batch(batch)
            return
        metadata = {"pipe": self.run.pipe.name(), "stage": self.stage.name, "size": len(batch)}
        with telemetry.span(_STAGE_SPAN, metadata):
            await self._handle_batch(batch)

    async def _handle_batch(self, batch: list[Item]) -> None:
        stage = self.stage
        assert isinstance(stage, LocalStage) and stage.batch_handler is not None
        context = self.run.stage_contexts[stage.name]
        try:
            outcomes = stage.batch_handler(batch, context)
            if inspect.isawaitable(outcomes):
                outcomes = await outcomes
            if not isinstance(outcomes, list) or len(outcomes) != len(batch):
                got = len(outcomes) if isinstance(outcomes, list) else type(outcomes).__name__
                problem = f"the batch handler returned {got} results for {len(batch)} items"
                raise TypeError(problem)
        except Exception as error:
            for item in batch:
                await self.failed(item, error)
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, FailItem):
                await self.failed(item, _as_error(outcome))
            else:
                await self._hand_on(item, outcome)

    async def _routed(self, item: Item, destination: str, moved: Item) -> None:
        """Send ``moved`` to ``destination``; one the stage cannot reach fails ``item``."""
        if not self.run.reaches(self.stage.name, destination):
            problem = f"routed to {destination!r}, which is neither an output nor a later stage"
            await self.failed(item, ValueError(problem))
            return
        await self.run.send_to(self.stage.name, destination, moved)

    async def _hand_on(self, item: Item, outcome: Any) -> None:
        """Send on what the handler made of ``item``."""
        stage = self.stage
        assert isinstance(stage, LocalStage)
        name = stage.name
        if isinstance(outcome, SkipItem):
            self.run.record(name, item, outcome.reason or "skipped by the handler", skipped=True)
        elif isinstance(outcome, RouteTo):
            await self._routed(item, outcome.destination, outcome.applied_to(item))
        elif stage.cardinality is Cardinality.MANY:
            if not isinstance(outcome, list):
                problem = f"a 'many' handler returns a list, not {type(outcome).__name__}"
                await self.failed(item, TypeError(problem))
                return
            if not outcome:  # no children: the item ends here, and says so
                self.run.record(name, item, "fanned out to no items", skipped=True)
            for child in outcome:
                await self.run.forward(name, _child(item, child))
        elif type(outcome) is Item:  # its payload, meta and route; the id stays the input's
            if outcome.id != item.id:
                outcome = Item(item.id, outcome.payload, outcome.meta, outcome.route)
            if outcome.route == DEFAULT_ROUTE:
                await self.run.forward(name, outcome)
            else:
                await self._routed(item, outcome.route, outcome)
        else:
            await self.run.forward(name, item.update_payload(outcome))


def _child(parent: Item, value: Any) -> Item:
    """A fan-out child of ``parent``: a fresh id, the parent's meta plus ``parent_id``."""
    meta = {**parent.meta, "parent_id": parent.id}
    if type(value) is Item:  # its payload, meta and route, under a fresh id of its own
        return Item.wrap(value.payload, meta={**value.meta, **meta}, route=value.route)
    return Item.wrap(value, meta=meta, route=parent.route)


def _as_error(outcome: FailItem) -> BaseException:
    if isinstance(outcome.reason, BaseException):
        return outcome.reason
    return ItemFailed(outcome.reason)
