"""The actor that runs a pipe's worker stage: its inbox batched and dispatched to a pool."""

from __future__ import annotations

import collections
import itertools
import operator
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors.config import Ordering, settings_in_use
from slither_actors.context import Context
from slither_actors.dispatching import Halt, Retry, Route, Skip, ToolExecutor, WorkerExecutor
from slither_actors.dispatching._batch import Batch
from slither_actors.dispatching._executors import PayloadExecutor
from slither_actors.dispatching._policies import ErrorPolicy, describe
from slither_actors.dispatching._runner import Halted, Runner
from slither_actors.item import DEFAULT_ROUTE, Item
from slither_actors.pipe._definition import ToOutput
from slither_actors.pipe._run import Outbox
from slither_actors.pipe._stage_actors import StageActor
from slither_actors.pipe._stages import WorkerStage

__all__ = ["WorkerStageActor"]

_STAGE_SPAN = ("slither", "pipe", "stage")
_ID = operator.attrgetter("id")


@attrs.define(eq=False)
class _Taken:
    """The stage's inbox as the runner reads it, an item at a time, each chunk noted as in
    hand when it is taken (what a crashed incarnation left comes first). What is there
    already comes without a wait, so a linger that has run out cuts a partial batch only
    when nothing is waiting."""

    actor: StageActor
    taken: collections.deque[Item] = attrs.Factory(collections.deque)

    def receive_nowait(self) -> Item:
        if not self.taken:
            actor = self.actor
            chunk = actor.run.leftovers.pop(actor.stage.name, None)
            self._take(chunk or actor.run.inboxes[actor.stage.name].receive_nowait())
        return self._give()

    def receive_some_nowait(self, limit: int) -> list[Item]:
        """Up to ``limit`` items (at least one) without a wait; `trio.WouldBlock` if none."""
        if not self.taken:
            actor = self.actor
            chunk = actor.run.leftovers.pop(actor.stage.name, None)
            self._take(chunk or actor.run.inboxes[actor.stage.name].receive_nowait())
        taken = self.taken
        if limit >= len(taken):
            given = list(taken)
            taken.clear()
        else:
            given = [taken.popleft() for _ in range(limit)]
        self.actor.started.update(map(_ID, given))  # the runner has them
        return given

    async def receive(self) -> Item:
        try:
            return self.receive_nowait()
        except trio.WouldBlock:
            self._take(await self.actor.run.inboxes[self.actor.stage.name].receive())
            return self._give()

    def _take(self, chunk: list[Item]) -> None:
        self.actor.in_hand.update(zip(map(_ID, chunk), chunk, strict=True))
        self.taken.extend(chunk)

    def _give(self) -> Item:
        item = self.taken.popleft()
        self.actor.started.add(item.id)  # the runner has it: in a batch, or about to be
        return item


@attrs.define(eq=False)
class _StageExecutor(PayloadExecutor):
    """The stage's executor, each batch inside a pipe stage span when someone listens."""

    inner: WorkerExecutor | ToolExecutor
    pipe: str
    stage: str

    @property
    def name(self) -> str:
        return self.inner.name

    async def execute_payloads(
        self, payloads: list[Any], context: Context, timeout: float | None
    ) -> list[Any]:
        if not telemetry.is_observed(_STAGE_SPAN):
            return await self.inner.execute_payloads(payloads, context, timeout)
        metadata = {"pipe": self.pipe, "stage": self.stage, "size": len(payloads)}
        with telemetry.span(_STAGE_SPAN, metadata) as span:
            results = await self.inner.execute_payloads(payloads, context, timeout)
            span.measurements["count"] = len(results) if isinstance(results, list) else 0
        return results


@attrs.define(eq=False)
class WorkerStageActor(StageActor):
    """Batches the inbox and dispatches the batches, at most ``max_in_flight`` at once."""

    _outbox: Outbox | None = None

    async def consume(self) -> None:
        stage = self.stage
        assert isinstance(stage, WorkerStage)
        defaults = settings_in_use().dispatch
        runner = Runner(
            executor=_StageExecutor(_executor(stage), self.run.pipe.name(), stage.name),
            strategy=stage.batching(defaults.batch_size),
            max_in_flight=stage.max_in_flight or defaults.max_in_flight,
            ordering=Ordering.PRESERVE if stage.preserve_order else Ordering.AS_COMPLETED,
            policy=self._dispatch_policy(),
            timeout=stage.timeout,
            context=self.run.stage_contexts[stage.name],
            linger=stage.linger,
        )
        self._outbox = self.new_outbox()
        try:
            await runner.run(_Taken(self), self._emit)
        except Halted as halted:
            self.run.halt(stage.name, halted.item_id, halted.reason)
            await trio.sleep_forever()  # the halt cancels the run, this task included

    async def _emit(self, ref: int, batch: Batch) -> None:
        name, outbox = self.stage.name, self._outbox
        assert outbox is not None
        items = batch.items()
        # Each item's original (the item as it came in), out of hand, in one C-level pass.
        originals = list(map(self.in_hand.pop, batch.ids, items))
        self.started.difference_update(batch.ids)
        routes, metas = batch.route_column(), batch.meta_column()
        if routes.count(DEFAULT_ROUTE) == len(routes) and not any(
            map(operator.contains, metas, itertools.repeat("skipped"))
        ):
            outbox.pass_on(items)  # the common batch: every result on to the next stage
        else:
            for item, original in zip(items, originals, strict=True):
                if item.meta.get("skipped") and not original.meta.get("skipped"):
                    reason = str(item.meta.get("error", "skipped"))
                    attempts = int(item.meta.get("attempts", 1))
                    self.run.record(name, original, reason, attempts=attempts, skipped=True)
                else:
                    outbox.forward(item)
        await outbox.flush()

    def _dispatch_policy(self) -> ErrorPolicy:
        policy = self.policy
        if isinstance(policy, Halt | Skip | Retry):
            return policy
        assert isinstance(policy, ToOutput)
        output, stage = policy.output, self.stage.name

        def to_output(item: Item, error: BaseException) -> Item:
            return item.put_meta({"error": describe(error), "stage": stage}).with_route(output)

        return Route(to_output)


def _executor(stage: WorkerStage) -> WorkerExecutor | ToolExecutor:
    if stage.tool is not None:
        return ToolExecutor(stage.tool, stage.pool)
    assert stage.module is not None and stage.function is not None
    return WorkerExecutor(stage.module, stage.function, stage.pool)
