"""One run of a pipe: its channels, where an item goes next, its records, how it halts.

Every stage has a bounded inbox. Items travel between stages in chunks (lists of up to
`CHUNK` items, one channel message each): a trip through a Trio channel costs far more
than the work of a light stage, so moving items one by one made the channels the pipe's
bottleneck. A stage puts what it makes into an `Outbox` (see `_outbox`), which sends a
chunk per destination once enough has gathered, a little time has passed, or its input
chunk is done. The run owns the channels, not the stage actors, so a stage actor that crashes and
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

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, MutableSequence
from contextvars import ContextVar
from typing import Any

import attrs
import trio

from slither_actors._core import SupervisorRef
from slither_actors._dispatch._policies import describe
from slither_actors._dispatch._results import Results
from slither_actors._dispatch._runner import Runner
from slither_actors._pipe._definition import DEFAULT_OUTPUT, Pipe
from slither_actors._pipe._outbox import Chunk, Exits, Outbox, Outboxes, StageLinks
from slither_actors._pipe._stages import RouterStage
from slither_actors.context import Context
from slither_actors.errors import PipeError
from slither_actors.item import Item

__all__ = ["CHUNK", "ErrorRecord", "PipeResult", "Run", "active_runs", "listed"]

DEFAULT_BUFFER = 256  # items a stage's inbox holds
CHUNK = 256  # items that travel together, at most (fewer into an inbox of fewer)


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
    outboxes: Outboxes = attrs.Factory(Outboxes)  # every stage actor's, as made
    # For the status page: items each stage has taken from its inbox, the worker stages'
    # runners (their batches out), and when the run opened (time.monotonic()).
    taken: dict[str, int] = attrs.Factory(dict)
    runners: dict[str, Runner] = attrs.Factory(dict)
    opened: float = attrs.Factory(time.monotonic)

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
        """A new outbox for ``stage``, known to the run's `Outboxes`."""
        outbox = Outbox(
            stage,
            self.links[stage],
            self.following[stage],
            self.pipe.output_names,
            self.chunk_sizes,
            self.delivered,
            self.outboxes,
        )
        self.outboxes.add(outbox)
        return outbox

    def undelivered(self) -> Exits:
        """What had left the last stage on its way but was not taken when the run stopped:
        the exits waiting in the channel, then those noted or being sent in outboxes."""
        exits: Exits = []
        while True:
            try:
                exits += self.exits.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                break
        return exits + self.outboxes.unsent_exits()

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


def empty_outputs(pipe: type[Pipe]) -> dict[str, Results]:
    """An empty `Results` for every output of ``pipe``."""
    return {name: Results() for name in pipe.output_names}


# Set by a runtime for every task inside it: the runs going on in it, for its status page.
active_runs: ContextVar[set[Run] | None] = ContextVar("slither_actors_runs", default=None)


@contextlib.contextmanager
def listed(run: Run) -> Iterator[None]:
    """List ``run`` among the runs of the runtime this task is in (if any) while it goes on."""
    runs = active_runs.get()
    if runs is None:
        yield
        return
    runs.add(run)
    try:
        yield
    finally:
        runs.discard(run)
