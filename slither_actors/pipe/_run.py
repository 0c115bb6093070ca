"""One run of a pipe: its channels, where an item goes next, its records, how it halts.

Every stage has a bounded inbox. Items travel between stages in chunks (lists of up to
`CHUNK` items, one channel message each): a trip through a Trio channel costs far more
than the work of a light stage, so moving items one by one made the channels the pipe's
bottleneck. A stage puts what it makes into an `Outbox`, which sends a chunk per
destination once enough has gathered, a little time has passed, or its input chunk is
done. The run owns the channels, not the stage actors, so a stage actor that crashes and
is restarted finds its inbox as it was. Each producer holds its own clone of the channels
it sends on; an inbox ends when all its producers are done, and the run ends when every
clone of the exit channel is closed.

Every item in an inbox has the default route: a route to a later stage ends there (see
`Outbox.send_to`). So a stage that keeps an item's id and meta can send a whole chunk of
results on at once (`Outbox.pass_on`), with no look at each item's route.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, MutableSequence
from typing import Any

import attrs
import trio

from slither_actors.context import Context
from slither_actors.core import Signal, SupervisorRef
from slither_actors.dispatching._policies import describe
from slither_actors.errors import PipeError
from slither_actors.item import DEFAULT_ROUTE, Item
from slither_actors.pipe._definition import DEFAULT_OUTPUT, Pipe
from slither_actors.pipe._stages import RouterStage

__all__ = ["ErrorRecord", "PipeResult", "Run", "StageLinks"]

DEFAULT_BUFFER = 64  # items a stage's inbox holds
CHUNK = 64  # items that travel together, at most
FLUSH_AFTER = 0.005  # seconds an item may wait in an outbox while its stage works on

Chunk = list[Item]
# What leaves the pipe, in the order it left: runs of items, each with the output they
# leave through.
Exits = list[tuple[str, list[Item]]]


@attrs.frozen
class ErrorRecord:
    """Why an item did not reach an output: the stage, the reason, how many attempts.

    ``skipped`` is True for an item dropped on purpose (a skip policy, or `SkipItem`).
    """

    item: Item
    stage: str
    reason: str
    attempts: int = 1
    skipped: bool = False
    error: BaseException | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def item_id(self) -> int:
        """The id of the item that failed."""
        return self.item.id


@attrs.define
class PipeResult:
    """What a run produced: the items of each output (every declared output present, in
    the order items arrived) and the error records of the items that reached none."""

    outputs: dict[str, list[Item]]
    errors: list[ErrorRecord]

    def __getitem__(self, output: str) -> list[Item]:
        return self.outputs[output]

    def payloads(self, output: str = DEFAULT_OUTPUT) -> list[Any]:
        """The payloads of the items of ``output``."""
        return [item.payload for item in self.outputs[output]]


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
class Run:
    """The shared state of one run of ``pipe``."""

    pipe: type[Pipe]
    context: Context
    links: dict[str, StageLinks]
    inboxes: dict[str, trio.MemoryReceiveChannel[Chunk]]
    feed: trio.MemorySendChannel[Chunk]  # the first stage's inbox, for the input
    exits: trio.MemoryReceiveChannel[Exits]
    following: dict[str, str | None]  # the stage after each stage (None after the last)
    stage_contexts: dict[str, Context]  # what each stage's handlers and executors see
    # Every record, for a run; the latest ones only, for a long-running pipe.
    errors: MutableSequence[ErrorRecord] = attrs.Factory(list)
    on_error: Callable[[ErrorRecord], None] | None = None
    delivered: dict[str, int] = attrs.Factory(dict)  # items that left, by output
    halted: PipeError | None = None
    supervisor: SupervisorRef | None = None  # of the stage actors, once they have started
    # Items a crashed stage actor had taken but not begun: its next incarnation takes them
    # before anything else from its inbox.
    leftovers: dict[str, Chunk] = attrs.Factory(dict)
    cancel_scope: trio.CancelScope = attrs.Factory(trio.CancelScope)

    @classmethod
    def open(
        cls,
        pipe: type[Pipe],
        context: Context,
        errors: MutableSequence[ErrorRecord] | None = None,
        on_error: Callable[[ErrorRecord], None] | None = None,
    ) -> Run:
        """Make the channels of a run of ``pipe``; its records go into ``errors`` (a new
        list if None), and to ``on_error`` as they are made."""
        names = [stage.name for stage in pipe.stages]
        sends: dict[str, trio.MemorySendChannel[Chunk]] = {}
        inboxes: dict[str, trio.MemoryReceiveChannel[Chunk]] = {}
        for stage in pipe.stages:
            items = stage.buffer if stage.buffer is not None else DEFAULT_BUFFER
            chunks = max(1, items // CHUNK)  # a full inbox holds about ``buffer`` items
            sends[stage.name], inboxes[stage.name] = trio.open_memory_channel[Chunk](chunks)
        exit_send, exit_receive = trio.open_memory_channel[Exits](0)
        links = {}
        for position, name in enumerate(names):
            later = names[position + 1 :]
            links[name] = StageLinks(
                {stage: sends[stage].clone() for stage in later}, exit_send.clone()
            )
        feed = sends[names[0]].clone()
        for channel in sends.values():  # only the clones stay open
            channel.close()
        exit_send.close()
        following = dict(zip(names, [*names[1:], None], strict=True))
        contexts = {name: context.with_stage(name) for name in names}
        return cls(
            pipe,
            context,
            links,
            inboxes,
            feed,
            exit_receive,
            following,
            contexts,
            errors if errors is not None else [],
            on_error,
        )

    def reaches(self, stage: str, destination: str) -> bool:
        """Whether ``stage`` may send to ``destination`` (an output or a later stage)."""
        return destination in self.pipe.output_names or destination in self.links[stage].inboxes

    def outbox(self, stage: str) -> Outbox:
        """A new outbox for ``stage``."""
        return Outbox(self, stage, self.links[stage], self.following[stage])

    # --- what becomes of a failure ----------------------------------------------------------

    def record(
        self,
        stage: str,
        item: Item,
        error: BaseException | str,
        *,
        attempts: int = 1,
        skipped: bool = False,
    ) -> None:
        """Note that ``item`` ends at ``stage``, failed or skipped."""
        reason = describe(error) if isinstance(error, BaseException) else error
        exception = error if isinstance(error, BaseException) else None
        record = ErrorRecord(item, stage, reason, attempts, skipped, exception)
        self.errors.append(record)
        if self.on_error is not None:
            self.on_error(record)

    def halt(self, stage: str, item_id: int | None, error: BaseException) -> None:
        """Stop the run: the first halt is the one reported; what is in flight is cancelled."""
        if self.halted is None:
            self.halted = PipeError(self.pipe.name(), stage, item_id, error, None)
            self.halted.__cause__ = error
        self.cancel_scope.cancel()

    def routes_of(self, stage: RouterStage, value: Any) -> str:
        """The destination at the router ``stage`` of the item that ``value`` stands for (the
        item, or its payload, as the stage's predicates take): the first route whose
        predicate holds, else the ``default`` output."""
        for predicate, destination in stage.routes:
            if predicate(value):
                return destination
        return DEFAULT_OUTPUT


@attrs.define(eq=False)
class Outbox:
    """What one stage has made and not sent yet, by destination, sent a chunk at a time.

    `forward` and `send_to` only note an item, `pass_on` and `send_all` a run of them;
    `flush` sends. The items noted and the chunks being sent are known until they are
    through, so that a stage actor that crashes can record them rather than lose them
    (`unsent`).
    """

    run: Run
    stage: str
    links: StageLinks
    following: str | None
    to_stages: dict[str, Chunk] = attrs.Factory(dict)
    to_exits: Exits = attrs.Factory(list)
    sending: list[list[Any]] = attrs.Factory(list)
    count: int = 0
    since: float = 0.0  # when the oldest noted item was noted
    _sends: trio.Lock = attrs.Factory(trio.Lock)  # one flush at a time keeps chunks in order
    _first_noted: Signal = attrs.Factory(Signal)

    def forward(self, item: Item) -> None:
        """Send ``item`` on: where its route says, else to the next stage (after the last,
        to the ``default`` output)."""
        following = self.following
        if item.route != DEFAULT_ROUTE or following is None:
            self.send_to(item.route, item)  # after the last stage: the default output
            return
        # `_note`, inline: this runs for every item a worker stage sends on.
        chunk = self.to_stages.get(following)
        if chunk is None:
            chunk = self.to_stages[following] = []
        chunk.append(item)
        if not self.count:
            self._noted(1)
        else:
            self.count += 1

    def send_to(self, destination: str, item: Item) -> None:
        """Send ``item`` to ``destination``, an output (``default`` too) or a later stage
        (see `Run.reaches`). A route to a stage ends there: past it, the item flows on."""
        if destination in self.run.pipe.output_names:
            self._note_exit(
                destination, item if item.route == destination else item.with_route(destination)
            )
        else:
            self._note(
                destination, item if item.route == DEFAULT_ROUTE else item.with_route(DEFAULT_ROUTE)
            )

    def pass_on(self, items: list[Item]) -> None:
        """Send ``items``, each with the default route (as every item of an inbox has), to
        the next stage (after the last, to the ``default`` output). The outbox keeps the
        list itself: pass a list of your own, not one that is used again."""
        if not items:
            return
        if self.following is None:
            self._note_exits(DEFAULT_OUTPUT, items)
        else:
            self._note_all(self.following, items)

    def send_all(self, destination: str, items: list[Item]) -> None:
        """`send_to` for each of ``items``, which have the default route.

        Like `pass_on`, it keeps ``items``, the list itself: pass a list of your own."""
        if not items:
            return
        if destination not in self.run.pipe.output_names:
            self._note_all(destination, items)
        elif destination == DEFAULT_ROUTE:
            self._note_exits(destination, items)
        else:
            self._note_exits(destination, routed(items, destination))

    def _note(self, stage: str, item: Item) -> None:
        chunk = self.to_stages.get(stage)
        if chunk is None:
            chunk = self.to_stages[stage] = []
        chunk.append(item)
        self._noted(1)

    def _note_all(self, stage: str, items: list[Item]) -> None:
        chunk = self.to_stages.get(stage)
        if chunk is None:
            self.to_stages[stage] = items
        else:
            chunk += items
        self._noted(len(items))

    def _note_exit(self, output: str, item: Item) -> None:
        to_exits = self.to_exits
        if to_exits and to_exits[-1][0] == output:
            to_exits[-1][1].append(item)
        else:
            to_exits.append((output, [item]))
        self._noted(1)

    def _note_exits(self, output: str, items: list[Item]) -> None:
        to_exits = self.to_exits
        if to_exits and to_exits[-1][0] == output:
            to_exits[-1][1].extend(items)
        else:
            to_exits.append((output, items))
        self._noted(len(items))

    def _noted(self, count: int) -> None:
        if not self.count:
            self.since = trio.current_time()
            self._first_noted.set()
        self.count += count

    async def keep_flushing(self) -> None:
        """Send what has waited `FLUSH_AFTER` seconds, however long the stage's work on
        the next items takes (run as a helper task of the stage actor)."""
        while True:
            if not self.count:
                await self._first_noted.wait()
            deadline = self.since + FLUSH_AFTER
            await trio.sleep_until(deadline)
            if self.count and self.since + FLUSH_AFTER <= trio.current_time():
                await self.flush()

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
        outgoing: list[tuple[trio.MemorySendChannel[Any], list[Any]]] = [
            (self.links.inboxes[stage], chunk) for stage, chunk in to_stages.items()
        ]
        if to_exits:
            outgoing.append((self.links.exits, to_exits))
        self.sending.extend(chunk for _, chunk in outgoing)
        for channel, chunk in outgoing:
            try:
                channel.send_nowait(chunk)
            except trio.WouldBlock:  # no room: backpressure, a chunk at a time
                await channel.send(chunk)
            self.sending = [each for each in self.sending if each is not chunk]
        delivered = self.run.delivered
        for output, items in to_exits:
            delivered[output] = delivered.get(output, 0) + len(items)

    def unsent(self) -> list[Item]:
        """Every item noted or being sent, not yet through."""
        items = [item for chunk in self.to_stages.values() for item in chunk]
        items += [item for _, run in self.to_exits for item in run]
        for chunk in self.sending:
            for entry in chunk:
                if isinstance(entry, tuple):  # a run of items leaving the pipe
                    items += entry[1]
                else:
                    items.append(entry)
        return items


def routed(items: list[Item], route: str) -> list[Item]:
    """``items`` with the route ``route`` (made in one C-level map: no Python loop)."""
    ids = [item.id for item in items]
    payloads = [item.payload for item in items]
    metas = [item.meta for item in items]
    return list(map(Item, ids, payloads, metas, itertools.repeat(route)))


def empty_outputs(pipe: type[Pipe]) -> dict[str, list[Item]]:
    """An empty list for every output of ``pipe``."""
    return {name: [] for name in pipe.output_names}
