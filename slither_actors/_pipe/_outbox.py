"""What a pipe's stages send on: each stage's `Outbox`, the channels it sends on, and the
run's watch over them.

A stage notes what it makes in its outbox, as columns (`Batch`es), and the outbox sends a
chunk per destination when the stage says so (`flush`), or once the oldest noted item has
waited `FLUSH_AFTER` seconds, whatever the stage is doing: one watch per run
(`Outboxes.watch`) looks every `FLUSH_AFTER` seconds while items keep coming, and wakes the
outboxes that are due.

A send or receive that need not wait goes without a trip through Trio's scheduler
(`send_chunk`, `receive_chunk`): such a trip costs more than a light stage's work on a
whole chunk.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio

from slither_actors._core import Signal
from slither_actors._dispatch._batch import Batch
from slither_actors._pipe._definition import DEFAULT_OUTPUT
from slither_actors.item import DEFAULT_ROUTE, Item

__all__ = [
    "FLUSH_AFTER",
    "Chunk",
    "Exits",
    "Outbox",
    "Outboxes",
    "StageLinks",
    "receive_chunk",
    "send_chunk",
]

FLUSH_AFTER = 0.005  # seconds an item may wait in an outbox while its stage works on

# What travels into a stage's inbox: items as columns, each with the default route.
Chunk = Batch
# What leaves the pipe, in the order it left: runs of items, each with the output they
# leave through (which is their route).
Exits = list[tuple[str, Batch]]


@attrs.define(eq=False)
class StageLinks:
    """The channels one stage sends on: its own clones, closed when the stage is done."""

    inboxes: dict[str, trio.MemorySendChannel[Chunk]]  # later stages, by name
    exits: trio.MemorySendChannel[Exits]
    closed: bool = False

    def close(self) -> None:
        """The stage is done: it sends nothing more."""
        if self.closed:
            return
        self.closed = True
        for channel in self.inboxes.values():
            channel.close()
        self.exits.close()


@attrs.define(eq=False)
class Outboxes:
    """Every outbox of a run, and the one watch that sends what has waited too long."""

    members: list[Outbox] = attrs.Factory(list)
    noted: Signal = attrs.Factory(Signal)  # items were noted into an empty outbox
    rounds: int = 0  # how often that happened

    def add(self, outbox: Outbox) -> None:
        self.members.append(outbox)

    def remove(self, outbox: Outbox) -> None:
        """Forget ``outbox``: what it held has been dealt with (its stage crashed)."""
        self.members.remove(outbox)

    async def watch(self) -> None:
        """Wake the outboxes whose oldest item has waited `FLUSH_AFTER` seconds, looking
        every `FLUSH_AFTER` seconds while items keep being noted, and sleeping once a whole
        period has passed with none (run as a task of the run).

        One watch for the run, not a timer per outbox or per chunk: a wake-up per chunk
        cost more than a light stage's work on the chunk, and one per outbox per period
        more than the watch."""
        while True:
            await self.noted.wait()
            seen = -1
            while self.rounds != seen or any(outbox.count for outbox in self.members):
                seen = self.rounds
                await trio.sleep(FLUSH_AFTER)
                now = trio.current_time()
                for outbox in self.members:
                    outbox.wake_if_due(now)

    def unsent_exits(self) -> Exits:
        """What every outbox has noted, or is sending, for the outputs."""
        return [exit for outbox in self.members for exit in outbox.unsent_exits()]


@attrs.define(eq=False)
class Outbox:
    """What one stage has made and not sent yet, by destination, sent a chunk at a time.

    The items are noted as columns (`Batch`es): `pass_on` and `send_all` note a run of
    them, `forward` and `send_to` one; `flush` sends. The items noted and the chunks being
    sent are known until they are through, so that a stage actor that crashes can record
    them rather than lose them (`unsent`).
    """

    stage: str
    links: StageLinks
    following: str | None
    output_names: tuple[str, ...]  # the pipe's outputs
    chunk_sizes: dict[str, int]  # the most items a chunk into each stage's inbox holds
    delivered: dict[str, int]  # the run's count of items that left, by output
    watch: Outboxes  # the run's outboxes, which this one belongs to
    to_stages: dict[str, list[Batch]] = attrs.Factory(dict)
    to_exits: list[tuple[str, list[Batch]]] = attrs.Factory(list)
    sending: list[Chunk | Exits] = attrs.Factory(list)
    count: int = 0
    since: float = 0.0  # when the oldest noted item was noted
    _sends: trio.Lock = attrs.Factory(trio.Lock)  # one flush at a time keeps chunks in order
    _due: Signal = attrs.Factory(Signal)  # set by the run's watch: the oldest has waited

    def forward(self, item: Item) -> None:
        """Send ``item`` on: where its route says, else to the next stage (after the last,
        to the ``default`` output)."""
        if item.route != DEFAULT_ROUTE or self.following is None:
            self.send_to(item.route, item)  # after the last stage: the default output
        else:
            self._note(self.following, Batch.of_item(item))

    def send_to(self, destination: str, item: Item) -> None:
        """Send ``item`` to ``destination``, an output (``default`` too) or a later stage
        (see `Run.reaches`). A route to a stage ends there: past it, the item flows on."""
        self.send_all(destination, Batch.of_item(item))

    def pass_on(self, items: Batch) -> None:
        """Send ``items`` to the next stage (after the last, to the ``default`` output)."""
        if not items:
            return
        if self.following is None:
            self._note_exits(DEFAULT_OUTPUT, items)
        else:
            self._note(self.following, items)

    def send_all(self, destination: str, items: Batch) -> None:
        """`send_to` for each of ``items``."""
        if not items:
            return
        if destination in self.output_names:
            self._note_exits(destination, items)
        else:
            self._note(destination, items)

    def _note(self, stage: str, items: Batch) -> None:
        if items.routes is not None or items.route != DEFAULT_ROUTE:
            items = items.with_route(DEFAULT_ROUTE)  # as every item of an inbox has
        noted = self.to_stages.get(stage)
        if noted is None:
            self.to_stages[stage] = [items]
        else:
            noted.append(items)
        self._noted(len(items.payloads))

    def _note_exits(self, output: str, items: Batch) -> None:
        if items.routes is not None or items.route != output:
            items = items.with_route(output)  # what leaves through an output has its name
        to_exits = self.to_exits
        if to_exits and to_exits[-1][0] == output:
            to_exits[-1][1].append(items)
        else:
            to_exits.append((output, [items]))
        self._noted(len(items.payloads))

    def _noted(self, count: int) -> None:
        if not self.count:
            self.since = trio.current_time()
            self.watch.rounds += 1
            self.watch.noted.set()
        self.count += count

    async def keep_flushing(self) -> None:
        """Send what has waited `FLUSH_AFTER` seconds, however long the stage's work on
        the next items takes, when the run's `Outboxes.watch` says so (run as a helper
        task of the stage actor, so that a crash of the stage stops its sends too)."""
        while True:
            await self._due.wait()
            if self.count and self.since + FLUSH_AFTER <= trio.current_time():
                await self.flush()

    def wake_if_due(self, now: float) -> None:
        """Have `keep_flushing` send what has waited `FLUSH_AFTER` seconds by ``now``."""
        if self.count and self.since + FLUSH_AFTER <= now:
            self._due.set()

    async def flush(self) -> None:
        """Send everything noted, a chunk per destination.

        It waits only for what it must: another flush of this outbox, or a destination
        with no room. Each wait through Trio's scheduler costs more than the work of a
        light stage on a whole chunk, and the stage waits once a chunk anyway, for its
        inbox."""
        if not self.count:
            return
        sends = self._sends
        try:
            sends.acquire_nowait()
        except trio.WouldBlock:
            await sends.acquire()
        try:
            await self._send_noted()
        finally:
            sends.release()

    async def _send_noted(self) -> None:
        if not self.count:  # another flush sent it while this one waited its turn
            return
        to_stages, to_exits = self.to_stages, self.to_exits
        self.to_stages, self.to_exits, self.count = {}, [], 0
        # Known as being sent until each is through: a send cut short by a crash leaves its
        # chunk here, for the crashed actor to record (see `unsent`).
        outgoing: list[tuple[trio.MemorySendChannel[Any], Chunk | Exits]] = []
        for stage, parts in to_stages.items():
            channel, items = self.links.inboxes[stage], Batch.concat(parts)
            size = self.chunk_sizes[stage]
            outgoing += [
                (channel, items.part(start, start + size) if len(items) > size else items)
                for start in range(0, len(items), size)
            ]
        exits: Exits = [(output, Batch.concat(parts)) for output, parts in to_exits]
        if exits:
            outgoing.append((self.links.exits, exits))
        self.sending.extend(chunk for _, chunk in outgoing)
        for channel, chunk in outgoing:
            await send_chunk(channel, chunk)  # no room: backpressure, a chunk at a time
            self.sending = [each for each in self.sending if each is not chunk]
        delivered = self.delivered
        for output, items in exits:
            delivered[output] = delivered.get(output, 0) + len(items.payloads)

    def unsent_exits(self) -> Exits:
        """The items noted or being sent to outputs, not yet through, by output."""
        exits = [(output, Batch.concat(parts)) for output, parts in self.to_exits]
        for chunk in self.sending:
            if not isinstance(chunk, Batch):
                exits += chunk
        return exits

    def unsent(self) -> list[Item]:
        """Every item noted or being sent, not yet through."""
        batches = [part for parts in self.to_stages.values() for part in parts]
        batches += [part for _, parts in self.to_exits for part in parts]
        for chunk in self.sending:
            if isinstance(chunk, Batch):
                batches.append(chunk)
            else:  # runs of items leaving the pipe
                batches += [items for _, items in chunk]
        return [item for batch in batches for item in batch.items()]


async def send_chunk(channel: trio.MemorySendChannel[Any], chunk: Any) -> None:
    """Send ``chunk``: at once if there is room, else once there is (backpressure).

    A send that need not wait does not go through Trio's scheduler (``send`` always
    does), which costs more than a light stage's work on a whole chunk."""
    try:
        channel.send_nowait(chunk)
    except trio.WouldBlock:
        await channel.send(chunk)


async def receive_chunk(channel: trio.MemoryReceiveChannel[Any]) -> Any:
    """The next chunk of ``channel``: at once if one is there, else once one is (as
    `send_chunk`, without a trip through the scheduler when it need not wait). Raises
    `trio.EndOfChannel` once the channel has ended."""
    try:
        return channel.receive_nowait()
    except trio.WouldBlock:
        return await channel.receive()
