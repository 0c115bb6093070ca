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

Items travel as columns (`Batch`: ids, payloads, and metas only where some item has
one), from the feeder through every stage to the result: an `Item` is made only where a
handler takes one, for an error record, or for a consumer that iterates items. Every item
in an inbox has the default route: a route to a later stage ends there (see
`Outbox.send_to`). So a stage that keeps its items' ids and metas sends a whole chunk of
results on at once (`Outbox.pass_on`), with no look at each item's route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableSequence
from typing import Any

import attrs
import trio

from slither_actors._core import Signal, SupervisorRef
from slither_actors._dispatch._batch import Batch
from slither_actors._dispatch._policies import describe
from slither_actors._dispatch._results import Results
from slither_actors._pipe._definition import DEFAULT_OUTPUT, Pipe
from slither_actors._pipe._stages import RouterStage
from slither_actors.context import Context
from slither_actors.errors import PipeError
from slither_actors.item import DEFAULT_ROUTE, Item

__all__ = ["ErrorRecord", "PipeResult", "Run", "StageLinks", "receive_chunk", "send_chunk"]

DEFAULT_BUFFER = 256  # items a stage's inbox holds
CHUNK = 256  # items that travel together, at most (fewer into an inbox of fewer)
FLUSH_AFTER = 0.005  # seconds an item may wait in an outbox while its stage works on

# What travels into a stage's inbox: items as columns, each with the default route.
Chunk = Batch
# What leaves the pipe, in the order it left: runs of items, each with the output they
# leave through (which is their route).
Exits = list[tuple[str, Batch]]


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
    the order items arrived), each output a `Results` (a sequence of `Item`s kept as
    columns), and the error records of the items that reached none."""

    outputs: dict[str, Results]
    errors: list[ErrorRecord]

    def __getitem__(self, output: str) -> Results:
        return self.outputs[output]

    def payloads(self, output: str = DEFAULT_OUTPUT) -> list[Any]:
        """The payloads of the items of ``output``, without making an `Item` for any."""
        return self.outputs[output].payloads()


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
    chunk_sizes: dict[str, int]  # the most items a chunk into each stage's inbox holds
    # Every record, for a run; the latest ones only, for a long-running pipe.
    errors: MutableSequence[ErrorRecord] = attrs.Factory(list)
    on_error: Callable[[ErrorRecord], None] | None = None
    delivered: dict[str, int] = attrs.Factory(dict)  # items that left, by output
    halted: PipeError | None = None
    halted_also: list[BaseException] = attrs.Factory(list)  # what else failed as it halted
    supervisor: SupervisorRef | None = None  # of the stage actors, once they have started
    # Items a crashed stage actor had taken but not begun: its next incarnation takes them
    # before anything else from its inbox.
    leftovers: dict[str, Chunk] = attrs.Factory(dict)
    cancel_scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    outboxes: list[Outbox] = attrs.Factory(list)  # every stage actor's, as made
    noted: Signal = attrs.Factory(Signal)  # items were noted into an empty outbox
    rounds: int = 0  # how often that happened

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
        chunk_sizes: dict[str, int] = {}
        for stage in pipe.stages:
            items = stage.buffer if stage.buffer is not None else DEFAULT_BUFFER
            size = chunk_sizes[stage.name] = min(CHUNK, items)
            chunks = max(1, items // size)  # a full inbox holds about ``buffer`` items
            sends[stage.name], inboxes[stage.name] = trio.open_memory_channel[Chunk](chunks)
        # One chunk may wait for the consumer: with none, every chunk that leaves would
        # wait for the consumer to come round and take it.
        exit_send, exit_receive = trio.open_memory_channel[Exits](1)
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
            chunk_sizes,
            errors if errors is not None else [],
            on_error,
        )

    def reaches(self, stage: str, destination: str) -> bool:
        """Whether ``stage`` may send to ``destination`` (an output or a later stage)."""
        return destination in self.pipe.output_names or destination in self.links[stage].inboxes

    def outbox(self, stage: str) -> Outbox:
        """A new outbox for ``stage``."""
        outbox = Outbox(self, stage, self.links[stage], self.following[stage])
        self.outboxes.append(outbox)
        return outbox

    async def watch_outboxes(self) -> None:
        """Wake the outboxes whose oldest item has waited `FLUSH_AFTER` seconds, looking
        every `FLUSH_AFTER` seconds while items keep being noted, and sleeping once a whole
        period has passed with none (run as a task of the run).

        One watch for the run, not a timer per outbox or per chunk: a wake-up per chunk
        cost more than a light stage's work on the chunk, and one per outbox per period
        more than the watch."""
        while True:
            await self.noted.wait()
            seen = -1
            while self.rounds != seen or any(outbox.count for outbox in self.outboxes):
                seen = self.rounds
                await trio.sleep(FLUSH_AFTER)
                now = trio.current_time()
                for outbox in self.outboxes:
                    outbox.wake_if_due(now)

    def undelivered(self) -> Exits:
        """What had left the last stage on its way but was not taken when the run stopped:
        the exits waiting in the channel, then those noted or being sent in outboxes."""
        exits: Exits = []
        while True:
            try:
                exits += self.exits.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        for outbox in self.outboxes:
            exits += outbox.unsent_exits()
        return exits

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

    def record_all(
        self,
        stage: str,
        items: Iterable[Item],
        error: BaseException | str,
        *,
        attempts: int = 1,
        skipped: bool = False,
    ) -> None:
        """`record` for each of ``items``."""
        for item in items:
            self.record(stage, item, error, attempts=attempts, skipped=skipped)

    def halt(
        self,
        stage: str,
        item_id: int | None,
        error: BaseException,
        also: Iterable[BaseException] = (),
    ) -> None:
        """Stop the run: the first halt is the one reported, with ``also``, what else failed
        as it halted; what is in flight is cancelled."""
        if self.halted is None:
            self.halted = PipeError(self.pipe.name(), stage, item_id, error, None)
            self.halted.__cause__ = error
        self.halted_also.extend(also)
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

    The items are noted as columns (`Batch`es): `pass_on` and `send_all` note a run of
    them, `forward` and `send_to` one; `flush` sends. The items noted and the chunks being
    sent are known until they are through, so that a stage actor that crashes can record
    them rather than lose them (`unsent`).
    """

    run: Run
    stage: str
    links: StageLinks
    following: str | None
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
        if destination in self.run.pipe.output_names:
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
            run = self.run
            run.rounds += 1
            run.noted.set()
        self.count += count

    async def keep_flushing(self) -> None:
        """Send what has waited `FLUSH_AFTER` seconds, however long the stage's work on
        the next items takes, when the run's `Run.watch_outboxes` says so (run as a helper
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
            size = self.run.chunk_sizes[stage]
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
        delivered = self.run.delivered
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


def empty_outputs(pipe: type[Pipe]) -> dict[str, Results]:
    """An empty `Results` for every output of ``pipe``."""
    return {name: Results() for name in pipe.output_names}
