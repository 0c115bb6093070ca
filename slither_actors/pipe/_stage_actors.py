"""What every stage actor shares, and the actor of a router stage.

A stage actor reads its inbox a chunk at a time in a helper task, handles each item, puts
what it makes into an `Outbox`, and stops once the inbox has ended, closing the channels
it sent on. If the actor crashes, nothing it held vanishes: the items it was working on,
and those it had made but not sent, become error records; the items it had taken but not
begun go back to the run, for its restarted self to take first, before its inbox.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
import trio

from slither_actors import telemetry
from slither_actors.core import Actor, ExitReason, Reason
from slither_actors.dispatching import Halt, Retry, Skip
from slither_actors.dispatching._policies import describe
from slither_actors.item import Item
from slither_actors.pipe._definition import StagePolicy, ToOutput
from slither_actors.pipe._run import CHUNK, Chunk, Outbox, Run
from slither_actors.pipe._stages import RouterStage, Stage

__all__ = ["RouterStageActor", "StageActor"]

STAGE_SPAN = ("slither", "pipe", "stage")


@attrs.define(eq=False)
class StageActor(Actor):
    """Reads the inbox, hands each item to `handle`, and keeps count of what it holds."""

    mailbox_size: ClassVar[int] = 8  # control messages only: items come through the inbox

    run: Run
    stage: Stage
    in_hand: dict[int, Item] = attrs.Factory(dict)  # taken from the inbox, not yet handled
    started: set[int] = attrs.Factory(set)  # of those, the ones being worked on
    outboxes: list[Outbox] = attrs.Factory(list)

    async def init(self) -> None:
        self.start_soon(self._work)

    async def _work(self) -> None:
        await self.consume()
        for outbox in self.outboxes:
            await outbox.flush()
        self.run.links[self.stage.name].close()  # the inbox has ended and all is handed on
        self.stop()

    def new_outbox(self) -> Outbox:
        """An outbox of this stage's, known to `terminate`."""
        outbox = self.run.outbox(self.stage.name)
        self.outboxes.append(outbox)
        self.start_soon(outbox.keep_flushing)
        return outbox

    async def next_chunk(self) -> Chunk | None:
        """The next chunk of the inbox (what an earlier incarnation left first), noted as in
        hand; None once the inbox has ended."""
        chunk = self.run.leftovers.pop(self.stage.name, None)
        if chunk is None:
            try:
                chunk = await self.run.inboxes[self.stage.name].receive()
            except trio.EndOfChannel:
                return None
        for item in chunk:
            self.in_hand[item.id] = item
        return chunk

    async def consume(self) -> None:
        """Handle every item of the inbox, one after another."""
        outbox = self.new_outbox()
        in_hand, started, handle = self.in_hand, self.started, self.handle
        while (chunk := await self.next_chunk()) is not None:
            if telemetry.is_observed(STAGE_SPAN):
                for item in chunk:
                    await self.handle_one(item, outbox)
                await outbox.flush()
                continue
            for item in chunk:  # the same as handle_one, without a span: the hot path
                started.add(item.id)
                await handle(item, outbox)
                del in_hand[item.id]
                started.discard(item.id)
                if outbox.count >= CHUNK:
                    await outbox.flush()
            await outbox.flush()

    async def handle_one(self, item: Item, outbox: Outbox) -> None:
        """`handle` ``item`` (inside a stage span when someone listens), then send what has
        gathered once a chunk is full (what waits longer goes out anyway: see `Outbox`)."""
        self.started.add(item.id)
        if telemetry.is_observed(STAGE_SPAN):
            metadata = {"pipe": self.run.pipe.name(), "stage": self.stage.name, "size": 1}
            with telemetry.span(STAGE_SPAN, metadata):
                await self.handle(item, outbox)
        else:
            await self.handle(item, outbox)
        del self.in_hand[item.id]
        self.started.discard(item.id)
        if outbox.count >= CHUNK:
            await outbox.flush()

    async def handle(self, item: Item, outbox: Outbox) -> None:
        """Do this stage's work on ``item``, noting the results in ``outbox``."""
        raise NotImplementedError

    async def terminate(self, reason: Reason) -> None:
        if isinstance(reason, ExitReason):
            return  # stopped (the run is over, or halted): nothing was lost by a crash
        because = f"the stage crashed: {describe(reason)}"
        untouched = [item for item in self.in_hand.values() if item.id not in self.started]
        if untouched:
            self.run.leftovers[self.stage.name] = untouched
        for item in self.in_hand.values():
            if item.id in self.started:
                self.run.record(self.stage.name, item, because)
        for outbox in self.outboxes:
            for item in outbox.unsent():
                self.run.record(self.stage.name, item, because)
        self.in_hand.clear()

    @property
    def policy(self) -> StagePolicy:
        """This stage's error policy."""
        return self.run.pipe.policies[self.stage.name]

    async def failed(
        self, item: Item, error: BaseException, outbox: Outbox, attempts: int = 1
    ) -> None:
        """Apply the stage's policy to ``item``, which failed with ``error``."""
        policy = self.policy
        if isinstance(policy, Retry):
            policy = policy.then
        if isinstance(policy, Skip):
            self.run.record(self.stage.name, item, error, attempts=attempts, skipped=True)
        elif isinstance(policy, ToOutput):
            marked = item.put_meta({"error": describe(error), "stage": self.stage.name})
            outbox.send_to(policy.output, marked)
        else:
            assert isinstance(policy, Halt)
            self.run.halt(self.stage.name, item.id, error)
            await trio.sleep_forever()  # the halt cancels the run, this task included


@attrs.define(eq=False)
class RouterStageActor(StageActor):
    """Sends each item to the first route whose predicate holds (else ``default``)."""

    async def handle(self, item: Item, outbox: Outbox) -> None:
        assert isinstance(self.stage, RouterStage)
        try:
            destination = self.run.routes_of(self.stage, item)
        except Exception as error:
            await self.failed(item, error, outbox)
            return
        outbox.send_to(destination, item)
