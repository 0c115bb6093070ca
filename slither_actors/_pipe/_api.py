"""Running a pipe: `run_pipe` (every output at the end) and `stream_pipe` (items as they
leave), both over one supervised run of stage actors."""

from __future__ import annotations

import contextlib
import functools
import itertools
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any

import attrs
import trio

from slither_actors import telemetry
from slither_actors._checks import check_instance, check_text
from slither_actors._core import ChildSpec, Supervisor, open_own_nursery, require_trio
from slither_actors._dispatch._batch import Batch
from slither_actors._pipe._definition import Pipe, check_pipe
from slither_actors._pipe._local_stage import LocalStageActor
from slither_actors._pipe._outbox import Chunk, Exits, receive_chunk, send_chunk
from slither_actors._pipe._run import ErrorRecord, PipeResult, Run, empty_outputs, listed
from slither_actors._pipe._stage_actors import RouterStageActor, StageActor
from slither_actors._pipe._stages import Cardinality, LocalStage, RouterStage, Stage
from slither_actors._pipe._worker_stage import WorkerStageActor
from slither_actors._pool import own_session
from slither_actors._store import active_stores
from slither_actors.context import Context
from slither_actors.errors import NoRuntime
from slither_actors.item import DEFAULT_ROUTE, Item
from slither_actors.progress import ProgressCallback, Tracker, check_progress, total_of

__all__ = ["PipeStream", "run_pipe", "stream_pipe"]

Inputs = Iterable[Any] | AsyncIterable[Any]

_RUN_SPAN = ("slither", "pipe", "run")
# How often a stage may crash and be restarted within a run before the run gives up.
STAGE_RESTARTS, STAGE_RESTART_SECONDS = 3, 5.0


async def run_pipe(
    pipe: type[Pipe],
    inputs: Inputs,
    *,
    session_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> PipeResult:
    """Run ``inputs`` (payloads or `Item`s, an iterable or an async iterable, read lazily)
    through ``pipe`` and return what reached each output, with the run's error records.

    Every input item ends in exactly one output or one error record (the children of a
    fan-out in its place). A stage whose policy halts raises `PipeError`, whose
    ``partial`` is the result so far. The run is one session (``session_id``, or a fresh
    one): worker calls keep to its workers, and the views of the pipe's stores answer it.
    ``progress``, a callable, is given a `Progress` as the run starts, at most ten times a
    second as items leave the pipe or end in error records, and once as it ends (see
    `Progress`).

    Raises `ValueError` before anything runs if ``pipe`` is not a `Pipe` subclass with
    stages, ``inputs`` is not iterable, ``session_id`` is not None or a non-empty str,
    ``metadata`` is not a mapping, or ``progress`` is not callable.
    """
    require_trio("run_pipe")
    _check_run(pipe, inputs, session_id, metadata, progress)
    result = PipeResult(empty_outputs(pipe), [])
    outputs = result.outputs
    tracker = _tracker(pipe, inputs, progress)
    async with _open_run(pipe, inputs, session_id, metadata, result, tracker) as run:
        while (chunk := await _next_exits(run)) is not None:
            for output, items in chunk:
                outputs[output]._add(items)
            if tracker is not None:
                tracker.add(_count(chunk))
    return result


async def _next_exits(run: Run) -> Exits | None:
    """The next items to leave ``run``, None once all have."""
    try:
        exits: Exits = await receive_chunk(run.exits)
    except trio.EndOfChannel:
        return None
    return exits


@attrs.define(eq=False)
class PipeStream:
    """The items of a `stream_pipe` run, as ``(output, item)`` pairs, and its records."""

    _run: Run
    _result: PipeResult
    _tracker: Tracker | None = None
    _pairs: Iterator[tuple[str, Item]] = attrs.Factory(lambda: iter(()))

    @property
    def errors(self) -> list[ErrorRecord]:
        """The error records of the items that reached no output, so far."""
        return self._result.errors

    def __aiter__(self) -> PipeStream:
        return self

    async def __anext__(self) -> tuple[str, Item]:
        pair = next(self._pairs, None)
        while pair is None:
            try:
                chunk = await self._run.exits.receive()
            except trio.EndOfChannel:
                raise StopAsyncIteration from None
            if self._tracker is not None:
                self._tracker.add(_count(chunk))
            self._pairs = pairs(chunk)
            pair = next(self._pairs, None)
        return pair


@contextlib.asynccontextmanager
async def stream_pipe(
    pipe: type[Pipe],
    inputs: Inputs,
    *,
    session_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> AsyncIterator[PipeStream]:
    """Like `run_pipe`, but hand over ``(output, item)`` pairs as items leave the pipe::

        async with stream_pipe(ScorePipe, rows) as results:
            async for output, item in results:
                ...

    An item leaves only when taken, so a slow consumer slows the pipe, and finally the
    reading of ``inputs``. If a stage halts, the block is cancelled and `PipeError` is
    raised from it. Leaving the block early stops the run. Bad arguments raise
    `ValueError` as the block is entered, as for `run_pipe`. A ``progress`` callable counts
    the items as the block's iteration takes their chunk, and the error records.
    """
    require_trio("stream_pipe")
    _check_run(pipe, inputs, session_id, metadata, progress)
    result = PipeResult(empty_outputs(pipe), [])
    tracker = _tracker(pipe, inputs, progress)
    async with _open_run(pipe, inputs, session_id, metadata, result, tracker) as run:
        yield PipeStream(run, result, tracker)


def _check_run(
    pipe: Any, inputs: Any, session_id: Any, metadata: Mapping[str, Any] | None, progress: Any
) -> None:
    check_pipe(pipe)
    if not isinstance(inputs, Iterable | AsyncIterable):
        raise ValueError(
            f"inputs must be an iterable or an async iterable, not {type(inputs).__name__}"
        )
    check_text("session_id", session_id, optional=True)
    check_instance("metadata", metadata, Mapping, optional=True)
    check_progress(progress)


def _tracker(pipe: type[Pipe], inputs: Inputs, progress: ProgressCallback | None) -> Tracker | None:
    """The run's progress tracker, started (None without ``progress``). The total is the
    length of ``inputs``, unless a stage fans out: then the items that leave are not the
    inputs, and how many they will be is not known."""
    if progress is None:
        return None
    fans_out = any(
        isinstance(stage, LocalStage) and stage.cardinality is Cardinality.MANY
        for stage in pipe.stages
    )
    return Tracker.start(progress, None if fans_out else total_of(inputs))


def _count(exits: Exits) -> int:
    """How many items a chunk of exits holds."""
    return sum(len(items) for _, items in exits)


@contextlib.asynccontextmanager
async def _open_run(
    pipe: type[Pipe],
    inputs: Inputs,
    session_id: str | None,
    metadata: Mapping[str, Any] | None,
    result: PipeResult,
    tracker: Tracker | None,
) -> AsyncIterator[Run]:
    """A run of ``pipe`` over ``inputs`` while the block runs; with a ``tracker``, its
    error records counted as failed, and its final report made as it ends."""
    context = Context.new(session_id, pipe=pipe.name(), metadata=metadata)
    on_error = None if tracker is None else functools.partial(_count_failed, tracker)
    run = Run.open(pipe, context, errors=result.errors, on_error=on_error)
    # A session made up for this run is ended in the pools it used once the run is over.
    owned = own_session(context.session_id) if session_id is None else contextlib.nullcontext()
    try:
        with owned:
            async with running(run, functools.partial(feed, run, inputs), result):
                yield run
    finally:
        if tracker is not None:
            tracker.finish()


def _count_failed(tracker: Tracker, record: ErrorRecord) -> None:
    tracker.add(1, 1)


@contextlib.asynccontextmanager
async def running(
    run: Run, feeder: Callable[[], Awaitable[None]], result: PipeResult | None = None
) -> AsyncIterator[None]:
    """Run the stage actors of ``run`` under their supervisor, with ``feeder`` filling the
    first inbox, while the block runs; then stop them. Raises the run's `PipeError` (its
    ``partial`` set to ``result``) if a stage halted it."""
    pipe = run.pipe
    supervisor = Supervisor(
        children=[child_spec(run, stage) for stage in pipe.stages],
        max_restarts=STAGE_RESTARTS,
        max_seconds=STAGE_RESTART_SECONDS,
        name=f"pipe {pipe.name()}",
    )
    metadata = {"pipe": pipe.name(), "session_id": run.context.session_id}
    with (
        session_views(pipe, run.context.session_id),
        listed(run),
        telemetry.span(_RUN_SPAN, metadata) as span,
    ):
        try:
            with run.cancel_scope:
                async with open_own_nursery() as nursery:
                    run.supervisor = await nursery.start(supervisor.start)
                    nursery.start_soon(feeder)
                    nursery.start_soon(run.outboxes.watch)
                    try:
                        yield
                    finally:
                        # Done, or left early: either way the stages stop and the input is
                        # no longer read.
                        run.supervisor.request_stop()
                        run.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The input or the stage supervisor failed, and the run's own cancellation came
            # with it; once the scope has taken that back, the failure is alone: raise it.
            if len(group.exceptions) != 1:
                raise
            single = group.exceptions[0]
            raise single from single.__cause__
        span.measurements.update(_counts(run))
        if run.halted is not None:
            if result is not None:  # what had made it through the last stage counts too
                for output, items in run.undelivered():
                    result.outputs[output]._add(items)
            run.halted.partial = result
            if run.halted_also:  # nothing that failed as the run halted is dropped
                failed = [run.halted, *run.halted_also]
                raise BaseExceptionGroup("pipe halted, and more failed", failed)
            raise run.halted


def child_spec(run: Run, stage: Stage) -> ChildSpec:
    actor: type[StageActor]
    if isinstance(stage, LocalStage):
        actor = LocalStageActor
    elif isinstance(stage, RouterStage):
        actor = RouterStageActor
    else:
        actor = WorkerStageActor
    # Transient: a stage that crashed is started again on its inbox; one that finished is not.
    return ChildSpec.actor(
        f"stage {stage.name}", functools.partial(actor, run, stage), restart="transient"
    )


async def feed(run: Run, inputs: Inputs) -> None:
    """Send the input into the first stage, a chunk at a time, as it takes them."""
    if isinstance(inputs, AsyncIterable):
        await feed_from(run, functools.partial(_read, inputs))
        return
    values, size = iter(inputs), run.chunk_sizes[run.pipe.stages[0].name]
    with run.feed:
        while chunk := list(itertools.islice(values, size)):
            await send_chunk(run.feed, entered(chunk))


async def _read(inputs: AsyncIterable[Any], read: trio.MemorySendChannel[Any]) -> None:
    async with read:
        async for value in inputs:
            await read.send(value)


async def feed_from(
    run: Run, reader: Callable[[trio.MemorySendChannel[Any]], Awaitable[None]]
) -> None:
    """Send the input values ``reader`` reads into the first stage: whatever has been read
    by the time the stage takes the next chunk travels together, so a slow source costs no
    waiting and a fast one travels in full chunks."""
    size = run.chunk_sizes[run.pipe.stages[0].name]
    read, ready = trio.open_memory_channel[Any](size)
    async with open_own_nursery() as nursery:
        nursery.start_soon(reader, read)
        with run.feed, ready:
            async for first in ready:
                chunk = [first]
                while len(chunk) < size:
                    try:
                        chunk.append(ready.receive_nowait())
                    except (trio.WouldBlock, trio.EndOfChannel):
                        break
                await send_chunk(run.feed, entered(chunk))


def pairs(exits: Exits) -> Iterator[tuple[str, Item]]:
    """The ``(output, item)`` pairs of a chunk of exits, in the order the items left."""
    return itertools.chain.from_iterable(
        zip(itertools.repeat(output), items.items()) for output, items in exits
    )


def entered(values: list[Any]) -> Chunk:
    """Input values as they enter a pipe, as columns: plain payloads get fresh ids (no
    `Item` is made for them), `Item`s keep theirs, and none has a route yet (an item from
    another pipe's output carries that output's name as its route)."""
    chunk = Batch.of_values(values)
    if chunk.routes is None and chunk.route == DEFAULT_ROUTE:
        return chunk
    return chunk.with_route(DEFAULT_ROUTE)


@contextlib.contextmanager
def session_views(pipe: type[Pipe], session_id: str) -> Iterator[None]:
    """Make the session views of the pipe's stores reachable by this run's workers."""
    if not pipe.stores:
        yield
        return
    stores = active_stores.get()
    if stores is None:
        raise NoRuntime(f"pipe {pipe.name()!r} uses stores; run it inside open_runtime()")
    running = [stores.directory.get(store.default_name()) for store in pipe.stores]
    with stores.views.session(session_id, running):
        yield


def _counts(run: Run) -> dict[str, int]:
    counts = {f"output.{name}": run.delivered.get(name, 0) for name in run.pipe.output_names}
    counts["errors"] = len(run.errors)
    return counts
