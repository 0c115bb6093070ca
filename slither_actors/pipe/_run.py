"""One run of a pipe: its channels, where an item goes next, its records, how it halts.

Every stage has a bounded inbox. The run owns the channels, not the stage actors, so a
stage actor that crashes and is restarted finds its inbox as it was. Each producer holds
its own clone of the channels it sends on; an inbox ends when all its producers are done,
and the run ends when every clone of the exit channel is closed.
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence
from typing import Any

import attrs
import trio

from slither_actors.context import Context
from slither_actors.core import SupervisorRef
from slither_actors.dispatching._policies import describe
from slither_actors.errors import PipeError
from slither_actors.item import DEFAULT_ROUTE, Item
from slither_actors.pipe._definition import DEFAULT_OUTPUT, Pipe
from slither_actors.pipe._stages import RouterStage

__all__ = ["ErrorRecord", "PipeResult", "Run", "StageLinks"]

DEFAULT_BUFFER = 64


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

    inboxes: dict[str, trio.MemorySendChannel[Item]]  # later stages, by name
    exits: trio.MemorySendChannel[tuple[str, Item]]
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
    inboxes: dict[str, trio.MemoryReceiveChannel[Item]]
    feed: trio.MemorySendChannel[Item]  # the first stage's inbox, for the input
    exits: trio.MemoryReceiveChannel[tuple[str, Item]]
    following: dict[str, str | None]  # the stage after each stage (None after the last)
    stage_contexts: dict[str, Context]  # what each stage's handlers and executors see
    # Every record, for a run; the latest ones only, for a long-running pipe.
    errors: MutableSequence[ErrorRecord] = attrs.Factory(list)
    on_error: Callable[[ErrorRecord], None] | None = None
    delivered: dict[str, int] = attrs.Factory(dict)  # items that left, by output
    halted: PipeError | None = None
    supervisor: SupervisorRef | None = None  # of the stage actors, once they have started
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
        sends: dict[str, trio.MemorySendChannel[Item]] = {}
        inboxes: dict[str, trio.MemoryReceiveChannel[Item]] = {}
        for stage in pipe.stages:
            size = stage.buffer if stage.buffer is not None else DEFAULT_BUFFER
            sends[stage.name], inboxes[stage.name] = trio.open_memory_channel[Item](size)
        exit_send, exit_receive = trio.open_memory_channel[tuple[str, Item]](0)
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

    # --- where an item goes -----------------------------------------------------------------

    async def forward(self, stage: str, item: Item) -> None:
        """Send ``item``, done with ``stage``, on: to the stage or output its route names,
        else to the next stage (or, after the last, the ``default`` output)."""
        links = self.links[stage]
        if item.route != DEFAULT_ROUTE:
            await self.send_to(stage, item.route, item)
            return
        following = self.following[stage]
        if following is None:
            await self._leave(links, DEFAULT_OUTPUT, item)
        else:
            await links.inboxes[following].send(item)

    def reaches(self, stage: str, destination: str) -> bool:
        """Whether ``stage`` may send to ``destination`` (an output or a later stage)."""
        return destination in self.pipe.output_names or destination in self.links[stage].inboxes

    async def send_to(self, stage: str, destination: str, item: Item) -> None:
        """Send ``item`` from ``stage`` to ``destination``: an output (``default`` too) or a
        later stage; anything else fails the item."""
        links = self.links[stage]
        if destination in self.pipe.output_names:
            routed = item if item.route == destination else item.with_route(destination)
            await self._leave(links, destination, routed)
            return
        target = links.inboxes.get(destination)
        if target is None:
            problem = f"routed to {destination!r}, which is neither an output nor a later stage"
            self.record(stage, item, ValueError(problem))
            return
        # A route to a stage ends there: past it, the item flows on as usual.
        await target.send(item if item.route == DEFAULT_ROUTE else item.with_route(DEFAULT_ROUTE))

    async def _leave(self, links: StageLinks, output: str, item: Item) -> None:
        await links.exits.send((output, item))
        self.delivered[output] = self.delivered.get(output, 0) + 1

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

    def routes_of(self, stage: RouterStage, item: Item) -> str:
        """The destination of ``item`` at the router ``stage``: the first route whose
        predicate holds, else the ``default`` output."""
        for predicate, destination in stage.routes:
            if predicate(item):
                return destination
        return DEFAULT_OUTPUT


def empty_outputs(pipe: type[Pipe]) -> dict[str, list[Item]]:
    """An empty list for every output of ``pipe``."""
    return {name: [] for name in pipe.output_names}
