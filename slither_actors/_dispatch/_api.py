"""The public calls: `dispatch` (a list back), `dispatch_stream` (items as they finish) and
`call_batch` (one batch, no strategy)."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Any

import attrs
import trio

from slither_actors._checks import check_count, check_instance, check_seconds
from slither_actors._core import open_own_nursery, require_trio
from slither_actors._dispatch._batch import Batch
from slither_actors._dispatch._execution import execute_batch
from slither_actors._dispatch._executors import Executor, check_executor
from slither_actors._dispatch._policies import PolicySpec, as_policy
from slither_actors._dispatch._results import Results
from slither_actors._dispatch._runner import Emit, Halted, Runner
from slither_actors._dispatch._strategies import BatchStrategy, FixedBatch, check_strategy
from slither_actors._pool import own_session
from slither_actors.config import Ordering, settings_in_use
from slither_actors.context import Context
from slither_actors.errors import DispatchError
from slither_actors.item import Item
from slither_actors.progress import ProgressCallback, Tracker, check_progress, total_of

__all__ = ["ResultStream", "call_batch", "dispatch", "dispatch_stream"]

Items = Iterable[Any] | AsyncIterable[Any]


async def dispatch(
    items: Items,
    *,
    executor: Executor,
    strategy: BatchStrategy | None = None,
    batch_size: int | None = None,
    max_in_flight: int | None = None,
    ordering: Ordering | str | None = None,
    on_error: PolicySpec | None = None,
    timeout: float | None = None,
    context: Context | None = None,
    progress: ProgressCallback | None = None,
) -> Results:
    """Run ``items`` through ``executor`` in batches and return the result items.

    ``items`` is a list, any iterable or an async iterable of payloads or `Item`s; it is
    read lazily, as lanes free up. ``strategy`` cuts the batches (default:
    ``FixedBatch(batch_size)``); at most ``max_in_flight`` batches are out at once.
    ``ordering`` is ``"preserve"`` (input order) or ``"as_completed"``. ``on_error`` is
    ``"halt"``, ``"skip"``, `Recover` or `Retry`. ``timeout`` bounds each batch's call
    (default: the executor's own). Unset options come from the runtime's
    ``settings.dispatch`` (or the defaults: 64, 8, preserve, halt). ``progress``, a
    callable, is given a `Progress` as the run starts, at most ten times a second as
    batches finish, and once as it ends (see `Progress`).

    Results come in batch order, which is input order except under `KeyPartition` (a
    key's items travel together), as a `Results`: a sequence of `Item`s kept as
    columns, whose ``payloads()`` and ``ids()`` make no item at all. Under halt, raises
    `DispatchError` carrying the items that had completed (a `Results`, in batch
    order); the batches still in flight are cancelled.

    A bad argument raises `ValueError` before anything runs: ``items`` that are not
    iterable, an ``executor`` or ``strategy`` of the wrong kind, a ``batch_size`` or
    ``max_in_flight`` that is not an int of 1 or more, an unknown ``ordering`` or
    ``on_error``, a ``timeout`` that is not a number of seconds above 0 (NaN, a bool), a
    ``context`` that is not a `Context` with a session id, or a ``progress`` that is not
    callable.
    """
    require_trio("dispatch")
    runner = _runner(
        items,
        executor,
        strategy,
        batch_size,
        max_in_flight,
        ordering,
        on_error,
        timeout,
        context,
        progress,
    )
    finished: list[tuple[int, Batch]] = []

    async def keep(ref: int, batch: Batch) -> None:
        finished.append((ref, batch))

    tracker = None if progress is None else Tracker.start(progress, total_of(items))
    try:
        with _session_of(runner.context, context):
            await runner.run(items, keep if tracker is None else _counted(keep, tracker))
    except Halted as halted:
        partial = _in_batch_order(finished + runner.unfinished(halted))
        error = DispatchError(halted.reason, halted.batch_ref, partial)
        error.__cause__ = halted.reason  # raised alone or in a group, the reason is chained
        raise halted.with_the_rest(error, "dispatch") from halted.reason
    finally:
        if tracker is not None:
            tracker.finish()
    return Results(batch for _, batch in finished)


@attrs.define(eq=False)
class ResultStream:
    """The result items of a `dispatch_stream`, to ``async for`` over, one `Item` at a
    time, or a batch at a time with ``chunks()``."""

    _batches: trio.MemoryReceiveChannel[Batch]
    _runner: Runner
    _current: Batch = attrs.Factory(lambda: Batch(range(0), []))
    _position: int = 0
    halted: Halted | None = attrs.field(default=None, init=False, repr=False)

    def __aiter__(self) -> ResultStream:
        return self

    async def __anext__(self) -> Item:
        if self._position >= len(self._current):
            self._current = await self._next_batch()
            self._position = 0
        item = self._current.item_at(self._position)
        self._position += 1
        return item

    async def chunks(self) -> AsyncIterator[Results]:
        """The results a batch at a time, each a `Results` (whose ``payloads()``
        make no `Item`): the fast way through a large stream. Results already taken one by
        one are not given again."""
        if self._position < len(self._current):  # the rest of a batch begun item by item
            rest = self._current.part(self._position, len(self._current))
            self._current, self._position = Batch(range(0), []), 0
            yield Results([rest])
        while True:
            try:
                batch = await self._next_batch()
            except StopAsyncIteration:
                return
            yield Results([batch])

    async def _next_batch(self) -> Batch:
        """The next finished batch; StopAsyncIteration at the end, `DispatchError` after a
        halt."""
        try:
            return await self._batches.receive()
        except trio.EndOfChannel:
            if self.halted is None:
                raise StopAsyncIteration from None
            halted, self.halted = self.halted, None
            unsent = _in_batch_order(self._runner.unfinished(halted))
            raise DispatchError(halted.reason, halted.batch_ref, unsent) from halted.reason


@asynccontextmanager
async def dispatch_stream(
    items: Items,
    *,
    executor: Executor,
    strategy: BatchStrategy | None = None,
    batch_size: int | None = None,
    max_in_flight: int | None = None,
    ordering: Ordering | str | None = None,
    on_error: PolicySpec | None = None,
    timeout: float | None = None,
    context: Context | None = None,
    progress: ProgressCallback | None = None,
) -> AsyncIterator[ResultStream]:
    """Like `dispatch`, but hand result items over as they are ready::

        async with dispatch_stream(items, executor=executor) as results:
            async for item in results:
                ...

    A batch is handed over only when the consumer takes it, so a slow consumer slows the
    run instead of filling memory. Under halt, the iteration raises `DispatchError` after
    the items that completed before the failure; its ``partial_results`` are the completed
    items not yet handed over. Leaving the block early cancels the batches in flight. Bad
    arguments raise `ValueError` as the block is entered, as for `dispatch`. A ``progress``
    callable counts the items the consumer has taken.
    """
    require_trio("dispatch_stream")
    runner = _runner(
        items,
        executor,
        strategy,
        batch_size,
        max_in_flight,
        ordering,
        on_error,
        timeout,
        context,
        progress,
    )
    send, receive = trio.open_memory_channel[Batch](0)
    stream = ResultStream(receive, runner)

    async def hand_on(ref: int, batch: Batch) -> None:
        await send.send(batch)

    tracker = None if progress is None else Tracker.start(progress, total_of(items))

    async def produce() -> None:
        async with send:
            try:
                await runner.run(items, hand_on if tracker is None else _counted(hand_on, tracker))
            except Halted as halted:
                stream.halted = halted  # the consumer raises it once it has the rest
                if halted.also:  # what else failed comes out of the block, as alone
                    failed = "dispatch halted, and more failed"
                    raise BaseExceptionGroup(failed, halted.also) from None
            finally:
                if tracker is not None:
                    tracker.finish()

    with _session_of(runner.context, context):
        async with open_own_nursery() as nursery:
            nursery.start_soon(produce)
            try:
                yield stream
            finally:
                # Cancel before closing, so that a blocked hand-over ends as cancelled
                # rather than as a broken channel.
                nursery.cancel_scope.cancel()
                receive.close()


async def call_batch(
    batch: Iterable[Any],
    *,
    executor: Executor,
    context: Context | None = None,
    timeout: float | None = None,
) -> list[Item]:
    """Run one pre-assembled batch (payloads or `Item`s) through ``executor``, as it is.

    Returns one result item per input item; raises what the executor raised, or
    `BatchLengthError` if it returned a different number of results. Raises `ValueError`
    before anything runs for an ``executor``, ``context`` or ``timeout`` as `dispatch` would.
    """
    check_executor("executor", executor)
    checked = _checked_timeout(timeout)
    _check_context(context)
    values = list(batch)
    if not values:
        return []
    run_context = context if context is not None else Context.new()
    with _session_of(run_context, context):
        done = await execute_batch(executor, 1, Batch.of_values(values), run_context, checked)
    return done.items()


def _session_of(context: Context, given: Context | None) -> AbstractContextManager[None]:
    """A run whose session id was made up for it ends that session when it is over."""
    return own_session(context.session_id) if given is None else nullcontext()


def _counted(emit: Emit, tracker: Tracker) -> Emit:
    """``emit``, counting in ``tracker`` each batch once it is handed on."""

    async def counted(ref: int, batch: Batch) -> None:
        await emit(ref, batch)
        tracker.add(len(batch), _skipped_in(batch))

    return counted


def _skipped_in(batch: Batch) -> int:
    """How many items of ``batch`` the skip policy marked skipped."""
    if batch.metas is None:
        return 0
    return sum(1 for meta in batch.metas if meta.get("skipped"))


def _in_batch_order(batches: list[tuple[int, Batch]]) -> Results:
    return Results(batch for _, batch in sorted(batches, key=lambda entry: entry[0]))


def _runner(
    items: Items,
    executor: Executor,
    strategy: BatchStrategy | None,
    batch_size: int | None,
    max_in_flight: int | None,
    ordering: Ordering | str | None,
    on_error: PolicySpec | None,
    timeout: float | None,
    context: Context | None,
    progress: ProgressCallback | None,
) -> Runner:
    if not isinstance(items, Iterable | AsyncIterable):
        raise ValueError(
            f"items must be an iterable or an async iterable, not {type(items).__name__}"
        )
    check_executor("executor", executor)
    defaults = settings_in_use().dispatch
    if strategy is not None and batch_size is not None:
        raise ValueError("give either a strategy or a batch_size, not both")
    if strategy is None:
        strategy = FixedBatch(batch_size if batch_size is not None else defaults.batch_size)
    check_strategy("strategy", strategy)
    lanes = max_in_flight if max_in_flight is not None else defaults.max_in_flight
    check_count("max_in_flight", lanes)
    _check_context(context)
    check_progress(progress)
    return Runner(
        executor=executor,
        strategy=strategy,
        max_in_flight=lanes,
        ordering=_ordering(ordering if ordering is not None else defaults.ordering),
        policy=as_policy(on_error if on_error is not None else defaults.on_error),
        timeout=_checked_timeout(timeout),
        context=context if context is not None else Context.new(),
    )


def _checked_timeout(timeout: Any) -> float | None:
    return None if timeout is None else check_seconds("timeout", timeout)


def _check_context(context: Context | None) -> None:
    """Refuse a ``context`` that is not None or a `Context` whose session id can reach a
    worker (a store view's context has an empty one)."""
    check_instance("context", context, Context, optional=True)
    if context is not None and not context.session_id:
        raise ValueError("context.session_id must not be empty")


def _ordering(value: Any) -> Ordering:
    try:
        return Ordering(value)
    except ValueError:
        choices = " or ".join(repr(member.value) for member in Ordering)
        raise ValueError(f"ordering must be {choices}, not {value!r}") from None
