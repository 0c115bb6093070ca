"""The actor that runs a pipe's worker stage: its inbox batched and dispatched to a pool."""

from __future__ import annotations

import collections
import itertools
import operator
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors._dispatch import Halt, Recover, Retry, Skip, ToolExecutor, WorkerExecutor
from slither_actors._dispatch._batch import Batch
from slither_actors._dispatch._executors import PayloadExecutor
from slither_actors._dispatch._policies import ErrorPolicy, describe
from slither_actors._dispatch._runner import Halted, Runner
from slither_actors._pipe._definition import ToOutput
from slither_actors._pipe._outbox import Outbox
from slither_actors._pipe._run import CHUNK
from slither_actors._pipe._stage_actors import StageActor
from slither_actors._pipe._stages import WorkerStage
from slither_actors.config import Ordering, settings_in_use
from slither_actors.context import Context
from slither_actors.item import DEFAULT_ROUTE, Item

__all__ = ["WorkerStageActor"]

_STAGE_SPAN = ("slither", "pipe", "stage")


@attrs.define(eq=False)
class _Taken:
    """The stage's inbox as the runner reads it, as columns, up to a batch's room at a time
    (what a crashed incarnation left comes first). What is there already comes without a
    wait, so a linger that has run out cuts a partial batch only when nothing is waiting.
    What is taken from the inbox and not yet given to the runner is `waiting`."""

    actor: StageActor
    waiting: collections.deque[Batch] = attrs.Factory(collections.deque)

    def receive_batch_nowait(self, limit: int) -> Batch:
        if not self.waiting:
            self.waiting.append(self.actor.receive_nowait())
        return self._give(limit)

    async def receive_batch(self, limit: int) -> Batch:
        if not self.waiting:
            self.waiting.append(await self.actor.receive())
        return self._give(limit)

    def _give(self, limit: int) -> Batch:
        chunk = self.waiting.popleft()
        size = len(chunk.payloads)
        if size <= limit:
            return chunk
        self.waiting.appendleft(chunk.part(limit, size))
        return chunk.part(0, limit)


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
    """Batches the inbox and dispatches the batches, at most ``max_in_flight`` at once.

    The runner holds what it has taken until it hands it on (see `Runner.held`); what a
    crash leaves there is recorded, and what is still waiting in `_Taken` goes back to the
    run."""

    _outbox: Outbox | None = None
    _taken: _Taken | None = None
    _runner: Runner | None = None
    # The refs of the batches being handed on (more than one when they finish out of order).
    _handing_on: set[int] = attrs.Factory(set)

    async def consume(self) -> None:
        stage = self.stage
        assert isinstance(stage, WorkerStage)
        defaults = settings_in_use().dispatch
        self._runner = runner = Runner(
            executor=_StageExecutor(_executor(stage), self.run.pipe.name(), stage.name),
            strategy=stage.batching(defaults.batch_size),
            max_in_flight=stage.max_in_flight or defaults.max_in_flight,
            ordering=Ordering.PRESERVE if stage.preserve_order else Ordering.AS_COMPLETED,
            policy=self._dispatch_policy(),
            timeout=stage.timeout,
            context=self.run.stage_contexts[stage.name],
            linger=stage.linger,
            skipped=self._skipped,
        )
        self.run.runners[stage.name] = runner
        self._outbox = self.new_outbox()
        self._taken = _Taken(self)
        try:
            await runner.run(self._taken, self._emit)
        except Halted as halted:
            self.run.halt(stage.name, halted.item_id, halted.reason, also=halted.also)
            await trio.sleep_forever()  # the halt cancels the run, this task included

    def untouched(self) -> list[Batch]:
        return list(self._taken.waiting) if self._taken is not None else []

    def begun_elsewhere(self) -> list[Batch]:
        return self._runner.held(self._handing_on) if self._runner is not None else []

    def _skipped(self, batch: Batch, error: BaseException, attempts: int) -> None:
        self.run.record_all(self.stage.name, batch.items(), error, attempts=attempts, skipped=True)

    async def _emit(self, ref: int, batch: Batch) -> None:
        outbox = self._outbox
        assert outbox is not None
        self._handing_on.add(ref)  # from here on, the outbox knows these items
        routes = batch.routes
        if routes is None and batch.route == DEFAULT_ROUTE:
            outbox.pass_on(batch)  # the common batch: every result on to the next stage
        elif routes is None:
            outbox.send_all(batch.route, batch)
        else:  # routed by the policy: each route's items together, in their order
            for route in dict.fromkeys(routes):
                chosen = list(map(operator.eq, routes, itertools.repeat(route)))
                outbox.send_all(route, batch.select(chosen))
        try:
            if outbox.count >= CHUNK or self._idle():
                await outbox.flush()
        finally:
            self._handing_on.discard(ref)

    def _idle(self) -> bool:
        """Whether nothing waits to be batched: then results go on at once, as the next
        ones may be long in coming. Under load they gather into chunks of `CHUNK` (or
        until they have waited `FLUSH_AFTER`), which costs the stages after this one
        less per item."""
        taken = self._taken
        if taken is not None and taken.waiting:
            return False
        inbox = self.run.inboxes[self.stage.name]
        return not inbox.statistics().current_buffer_used

    def _dispatch_policy(self) -> ErrorPolicy:
        policy = self.policy
        if isinstance(policy, Halt | Skip | Retry):
            return policy
        assert isinstance(policy, ToOutput)
        output, stage = policy.output, self.stage.name

        def to_output(item: Item, error: BaseException) -> Item:
            return item.put_meta({"error": describe(error), "stage": stage}).with_route(output)

        return Recover(to_output)


def _executor(stage: WorkerStage) -> WorkerExecutor | ToolExecutor:
    if stage.tool is not None:
        return ToolExecutor(stage.tool, stage.pool)
    assert stage.module is not None and stage.function is not None
    return WorkerExecutor(stage.module, stage.function, stage.pool)
