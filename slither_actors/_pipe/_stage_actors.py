"""What every stage actor shares, and the actor of a router stage.

A stage actor reads its inbox a chunk at a time in a helper task, handles each item, puts
what it makes into an `Outbox`, and stops once the inbox has ended, closing the channels
it sent on. If the actor crashes, nothing it held vanishes: the items it was working on,
and those it had made but not sent, become error records; the items it had taken but not
begun go back to the run, for its restarted self to take first, before its inbox.

A stage that works through a chunk in order keeps count of it with two numbers, not per
item: the chunk's items before ``begun`` have been begun, those before ``handed`` have been
handed on (to the outbox, or to the records). Work done with no await in between, such as
a router's predicates over a whole chunk, then costs no bookkeeping per item: no other
task runs, so no crash can come, until the stage awaits again.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import attrs
import trio

from slither_actors import telemetry
from slither_actors._core import Actor, ExitReason, Reason
from slither_actors._dispatch import Halt, Retry, Skip
from slither_actors._dispatch._batch import Batch
from slither_actors._dispatch._policies import describe
from slither_actors._pipe._definition import DEFAULT_OUTPUT, StagePolicy, ToOutput
from slither_actors._pipe._outbox import Chunk, Outbox
from slither_actors._pipe._run import CHUNK, Run
from slither_actors._pipe._stages import RouterStage, Stage
from slither_actors.item import DEFAULT_ROUTE, Item

__all__ = ["CHUNK_SPAN", "STAGE_SPAN", "RouterStageActor", "StageActor"]

STAGE_SPAN = ("slither", "pipe", "stage")
CHUNK_SPAN = ("slither", "pipe", "chunk")  # around each chunk a stage works through in order


def _no_items() -> Batch:
    return Batch([], [])


@attrs.define(eq=False)
class StageActor(Actor):
    """Reads the inbox, hands each item to `handle`, and keeps count of what it holds."""

    mailbox_size: ClassVar[int] = 8  # control messages only: items come through the inbox

    run: Run
    stage: Stage
    # Items taken one by one (a worker stage's, or those dealt to concurrent tasks): taken
    # from the inbox and not yet handled, and of those, the ones being worked on.
    in_hand: dict[int, Item] = attrs.Factory(dict)
    started: set[int] = attrs.Factory(set)
    # The chunk being worked through in order (see the module's docstring).
    holding: Chunk = attrs.Factory(_no_items)
    begun: int = 0
    handed: int = 0
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

    def receive_nowait(self) -> Chunk:
        """The next chunk without a wait, what an earlier incarnation left first:
        `trio.WouldBlock` if none is there, `trio.EndOfChannel` once the inbox has ended."""
        name = self.stage.name
        chunk = self.run.leftovers.pop(name, None)
        if chunk is not None:
            return chunk
        chunk = self.run.inboxes[name].receive_nowait()
        taken = self.run.taken
        taken[name] = taken.get(name, 0) + len(chunk.payloads)
        return chunk

    async def receive(self) -> Chunk:
        """The next chunk, once there is one (see `receive_nowait`).

        A chunk that is waiting is taken without a trip through Trio's scheduler, which
        costs more than a light stage's work on it; the stage still waits whenever its
        inbox is empty or the next one full, so a chain of bounded inboxes keeps it from
        running far ahead of the others."""
        try:
            return self.receive_nowait()
        except trio.WouldBlock:
            name = self.stage.name
            chunk = await self.run.inboxes[name].receive()
            taken = self.run.taken
            taken[name] = taken.get(name, 0) + len(chunk.payloads)
            return chunk

    async def _receive(self) -> Chunk | None:
        """`receive`, or None once the inbox has ended."""
        try:
            return await self.receive()
        except trio.EndOfChannel:
            return None

    async def take_chunk(self) -> Chunk | None:
        """The next chunk, held to be worked through in order (none of it begun yet)."""
        self.holding, self.begun, self.handed = _no_items(), 0, 0
        chunk = await self._receive()
        if chunk is not None:
            self.holding = chunk
        return chunk

    async def next_chunk(self) -> list[Item] | None:
        """The items of the next chunk, each noted as in hand, for items handled out of
        order."""
        chunk = await self._receive()
        if chunk is None:
            return None
        items = chunk.items()
        for item in items:
            self.in_hand[item.id] = item
        return items

    async def consume(self) -> None:
        """Handle every chunk of the inbox, one after another."""
        outbox = self.new_outbox()
        while (chunk := await self.take_chunk()) is not None:
            if telemetry.is_observed(CHUNK_SPAN):
                with telemetry.span(CHUNK_SPAN, self.chunk_metadata(chunk)):
                    await self.handle_chunk(chunk, outbox)
            else:
                await self.handle_chunk(chunk, outbox)
            self.holding = _no_items()
            await outbox.flush()

    def chunk_metadata(self, chunk: Chunk) -> dict[str, Any]:
        """The metadata of a chunk span: the pipe, the stage, the chunk's size and its first
        item's id (which tells two chunks of one stage apart)."""
        return {
            "pipe": self.run.pipe.name(),
            "stage": self.stage.name,
            "size": len(chunk.payloads),
            "first_id": chunk.ids[0] if len(chunk.ids) else None,
        }

    async def handle_chunk(self, chunk: Chunk, outbox: Outbox) -> None:
        """Handle the items of ``chunk`` one after another (inside a stage span each when
        someone listens), sending on what has gathered whenever a chunk is full."""
        for position, item in enumerate(chunk.items()):
            self.begun = position + 1
            await self.handle_in_span(item, outbox)
            self.handed = position + 1
            if outbox.count >= CHUNK:
                await outbox.flush()

    async def handle_one(self, item: Item, outbox: Outbox) -> None:
        """`handle` ``item``, one of those in hand, then send what has gathered once a chunk
        is full (what waits longer goes out anyway: see `Outbox`)."""
        self.started.add(item.id)
        await self.handle_in_span(item, outbox)
        del self.in_hand[item.id]
        self.started.discard(item.id)
        if outbox.count >= CHUNK:
            await outbox.flush()

    def pass_from(self, start: int, results: Iterable[Any]) -> tuple[list[Any], Exception | None]:
        """Run ``results``, a lazy pass of the stage's work over the chunk from ``start``
        (a C-level ``map``): what it gave before the first item that raised, and what that
        item raised (None if none did). `begun` moves past every item the pass reached."""
        outcomes: list[Any] = []
        failure: Exception | None = None
        try:
            # An item that raises stops the pass there; what came before is kept.
            outcomes.extend(results)
        except Exception as error:
            failure = error
        # Each pass makes progress (an outcome or a failure), or its caller's loop would spin.
        assert outcomes or failure is not None
        self.begun = start + len(outcomes) + (failure is not None)
        return outcomes, failure

    async def handle_in_span(self, item: Item, outbox: Outbox) -> None:
        """`handle` ``item``, inside a stage span when someone listens."""
        if telemetry.is_observed(STAGE_SPAN):
            metadata = {"pipe": self.run.pipe.name(), "stage": self.stage.name, "size": 1}
            with telemetry.span(STAGE_SPAN, metadata):
                await self.handle(item, outbox)
        else:
            await self.handle(item, outbox)

    async def handle(self, item: Item, outbox: Outbox) -> None:
        """Do this stage's work on ``item``, noting the results in ``outbox``."""
        raise NotImplementedError

    async def terminate(self, reason: Reason) -> None:
        if isinstance(reason, ExitReason):
            return  # stopped (the run is over, or halted): nothing was lost by a crash
        because = f"the stage crashed: {describe(reason)}"
        holding, name = self.holding, self.stage.name
        untouched = [holding.part(self.begun, len(holding))]
        waiting = [item for item in self.in_hand.values() if item.id not in self.started]
        if waiting:
            untouched.append(Batch.of_items(waiting).with_route(DEFAULT_ROUTE))
        untouched += self.untouched()
        leftovers = Batch.concat(untouched)
        if leftovers:
            self.run.leftovers[name] = leftovers
        self.run.record_all(name, holding.part(self.handed, self.begun).items(), because)
        started = [item for item in self.in_hand.values() if item.id in self.started]
        self.run.record_all(name, started, because)
        for batch in self.begun_elsewhere():
            self.run.record_all(name, batch.items(), because)
        for outbox in self.outboxes:
            self.run.record_all(name, outbox.unsent(), because)
            self.run.outboxes.remove(outbox)  # what it held is recorded: it is done with
        self.outboxes.clear()
        self.in_hand.clear()
        self.holding = _no_items()

    def untouched(self) -> list[Batch]:
        """Items this stage took and has not begun, kept somewhere of its own (see
        `terminate`), to go back to the run."""
        return []

    def begun_elsewhere(self) -> list[Batch]:
        """Items this stage has begun and not handed on, kept somewhere of its own (see
        `terminate`), to be recorded."""
        return []

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
    """Sends each item to the first route whose predicate holds (else ``default``).

    Unobserved, a chunk's predicates run over the whole chunk at once, and its items go
    to each destination together, in their order; a predicate that raises fails its item
    alone. Observed, each item is routed inside a stage span of its own."""

    spec: RouterStage = attrs.field(init=False)  # the stage, as the router it is

    def __attrs_post_init__(self) -> None:
        assert isinstance(self.stage, RouterStage)
        self.spec = self.stage

    async def handle_chunk(self, chunk: Chunk, outbox: Outbox) -> None:
        if telemetry.is_observed(STAGE_SPAN):
            await super().handle_chunk(chunk, outbox)
            return
        values: list[Any] = chunk.payloads if self.spec.takes == "payload" else chunk.items()
        total = len(chunk)
        while self.handed < total:
            start = self.handed
            # A predicate that raises fails its item alone.
            destinations, failure = self.pass_from(start, self._choose(values[start:]))
            chosen = len(destinations)
            _send_by_destination(outbox, chunk.part(start, start + chosen), destinations)
            self.handed = start + chosen
            if failure is not None:
                await self.failed(chunk.item_at(self.handed), failure, outbox)
                self.handed += 1

    def _choose(self, values: list[Any]) -> Iterator[str]:
        """The destination of each of ``values``, lazily, in C where there is one route."""
        routes = self.spec.routes
        if len(routes) == 1:
            ((predicate, destination),) = routes
            pick = {True: destination, False: DEFAULT_OUTPUT}.__getitem__
            return map(pick, map(operator.truth, map(predicate, values)))
        return map(self.run.routes_of, itertools.repeat(self.spec), values)

    async def handle(self, item: Item, outbox: Outbox) -> None:
        value = item.payload if self.spec.takes == "payload" else item
        try:
            destination = self.run.routes_of(self.spec, value)
        except Exception as error:
            await self.failed(item, error, outbox)
            return
        outbox.send_to(destination, item)


def _send_by_destination(outbox: Outbox, items: Batch, destinations: list[str]) -> None:
    """Send each of ``items`` to its destination: those bound for one place together, in
    their order."""
    if not items:
        return
    first = destinations[0]
    if destinations.count(first) == len(destinations):
        outbox.send_all(first, items)
        return
    for destination in dict.fromkeys(destinations):
        bound = list(map(operator.eq, destinations, itertools.repeat(destination)))
        outbox.send_all(destination, items.select(bound))
