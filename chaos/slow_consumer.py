"""chaos slow_consumer: a consumer 100x slower than its producers, over dispatch and a pipe.

Two phases, in one runtime with a pool of 2 workers: `dispatch_stream`, then a 3-stage
pipe's stream (`stream_pipe`: local → worker → router). Each first measures how fast its
producers go with a consumer that takes everything at once, then runs a consumer that
takes items 100 times slower than that, for a set time. Promises, checked after every
pause of the consumer:

- the parent's resident memory (/proc/self/statm) stays flat: once 10 % of the items are
  through, it grows by at most `RSS_LIMIT_MB`;
- every queue is within its bound, both read from the objects themselves: the dispatch
  window and its hand-over channel, each pipe inbox, the exit channel and every stage
  actor's mailbox, the pool's queue (``queue_limit``) and each worker's calls
  (``calls_per_worker``), and the items read from the input but not yet consumed;
- every item reaches the consumer exactly once.

``python chaos/slow_consumer.py`` runs each consumer for 20 s; ``--small`` for 1.5 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import attrs
import trio
from _common import Tally, new_marker, pool_settings, resident_megabytes, run_script

import slither_actors as sa
from slither_actors._dispatch._runner import WINDOW  # batches taken per lane, at most
from slither_actors._pipe._run import CHUNK  # how many items travel together in a pipe

SLOWER = 100  # the consumer is this many times slower than the producers
SECONDS = {False: 20.0, True: 1.5}  # how long each slow consumer runs
PROBE_ITEMS = {False: 100_000, True: 20_000}  # items for measuring the producers' speed
RSS_LIMIT_MB = 10.0
WARM_UP = 0.1  # share of the items after which memory must stay flat
BATCH_SIZE = 64
MAX_IN_FLIGHT = 4
DOUBLE = sa.WorkerExecutor("worker_functions", "double")


@attrs.define
class Counted:
    """The numbers 0 … count-1, counting how many have been read."""

    count: int
    read: int = 0

    def __iter__(self) -> Iterator[int]:
        """Yield the numbers, counting each as it is read."""
        for number in range(self.count):
            self.read += 1
            yield number


@attrs.define
class Watch:
    """What one slow consumer saw: memory samples, queue sizes against their bounds."""

    tally: Tally
    phase: str
    rss: list[tuple[int, float]] = attrs.Factory(list)  # (items consumed, MiB)
    largest: dict[str, tuple[int, int]] = attrs.Factory(dict)  # name: (size, bound)

    def queue(self, name: str, size: int, bound: int | float) -> None:
        """Note a queue's size; one over its bound breaks a promise (said once per queue)."""
        previous = self.largest.get(name, (-1, 0))
        if size > previous[0]:
            self.largest[name] = (size, int(bound))
            if size > bound and previous[0] <= bound:
                self.tally.broken.append(f"{self.phase}: {name} holds {size}, over its {bound}")

    def pool(self, pool: sa.WorkerPool) -> None:
        """The pool's queue and each worker's calls."""
        settings = pool.settings
        self.queue("the pool's queue", pool.stats().waiting, settings.queue_limit)
        for worker in pool.workers():
            self.queue(
                f"worker {worker.worker_id}'s calls", worker.in_flight, settings.calls_per_worker
            )

    def memory(self, consumed: int) -> None:
        """Sample the parent's resident memory."""
        self.rss.append((consumed, resident_megabytes()))

    def finish(self, items: int) -> None:
        """Check memory stayed flat after the warm-up; print what was seen."""
        after = [mib for consumed, mib in self.rss if consumed >= WARM_UP * items]
        growth = max(after) - after[0] if after else 0.0
        self.tally.check(
            growth <= RSS_LIMIT_MB,
            f"{self.phase}: resident memory grew by {growth:.1f} MiB, over {RSS_LIMIT_MB:g}",
        )
        fullest = ", ".join(
            f"{name} {size}/{bound}" for name, (size, bound) in self.largest.items()
        )
        self.tally.note(
            f"{self.phase}: RSS grew {growth:.2f} MiB after the warm-up; largest: {fullest}"
        )


def speeds(speed: float, items: int) -> str:
    """The producers' and the consumer's speeds, and the items, for a note."""
    return f"producers {speed:,.0f} items/s, consumer {speed / SLOWER:,.0f}/s, {items:,} items"


async def producers_speed(run: Any, items: int) -> float:
    """Items per second of ``await run(items)``, a run with a consumer that waits for nothing."""
    started = time.perf_counter()
    await run(range(items))
    return items / (time.perf_counter() - started)


async def dispatch_phase(tally: Tally, pool: sa.WorkerPool, small: bool) -> None:
    """`dispatch_stream` with a slow consumer."""

    async def dispatch_all(items: Any) -> Any:
        """Dispatch every item, taking the results all at once."""
        return await sa.dispatch(
            items, executor=DOUBLE, batch_size=BATCH_SIZE, max_in_flight=MAX_IN_FLIGHT
        )

    speed = await producers_speed(dispatch_all, PROBE_ITEMS[small])
    pause = BATCH_SIZE * SLOWER / speed  # per batch's worth of items taken
    source = Counted(int(speed / SLOWER * SECONDS[small]))
    watch = Watch(tally, "dispatch_stream")
    seen: list[int] = []
    async with sa.dispatch_stream(
        source, executor=DOUBLE, batch_size=BATCH_SIZE, max_in_flight=MAX_IN_FLIGHT
    ) as results:
        runner = results._runner  # the run's own bounds and counts (not public)
        assert isinstance(runner.strategy, sa.FixedBatch)
        batch_size = runner.strategy.batch_size
        hand_over = results._batches.statistics()
        async for item in results:
            seen.append(item.payload // 2)
            if len(seen) % BATCH_SIZE:
                continue
            await trio.sleep(pause)
            hand_over = results._batches.statistics()
            watch.queue(
                "the hand-over channel", hand_over.current_buffer_used, hand_over.max_buffer_size
            )
            window = WINDOW * runner.max_in_flight
            watch.queue("batches out", len(runner._running), runner.max_in_flight)
            watch.queue("batches taken, not handed on", runner._unemitted, window)
            # A finished batch is kept until its hand-over is through, and the window has
            # room for another once the hand-over has begun: one more than the window.
            waiting = len(runner._finished)
            watch.queue("finished batches kept", waiting, window + 1)
            beyond = (window + 2) * batch_size
            watch.queue("items read but not consumed", source.read - len(seen), beyond)
            watch.pool(pool)
            watch.memory(len(seen))
    tally.account(range(source.count), seen, [])
    tally.faults += 1
    watch.finish(source.count)
    tally.note(f"dispatch_stream: {speeds(speed, source.count)}")


class SlowlyConsumedPipe(sa.Pipe):
    """local → worker → router: numbers, doubled in the workers, split by multiples of 4."""

    stages = [
        sa.LocalStage("number", lambda item, ctx: int(item.payload)),
        sa.WorkerStage(
            "double",
            module="worker_functions",
            function="double",
            batch_size=BATCH_SIZE,
            max_in_flight=MAX_IN_FLIGHT,
        ),
        sa.RouterStage("split", [(lambda item: item.payload % 4 == 0, "fours")]),
    ]
    outputs = ["fours"]


def items_a_pipe_may_hold(run: Any) -> int:
    """Items between the input and the consumer, at most: the inboxes, a chunk in hand and
    one in the outbox per stage, the worker stages' batches out, the feeder's chunk and
    the one being handed over."""
    inboxes = sum(inbox.statistics().max_buffer_size * CHUNK for inbox in run.inboxes.values())
    in_stages = 2 * CHUNK * len(run.pipe.stages)
    batches = 0
    for stage in run.pipe.stages:
        if isinstance(stage, sa.WorkerStage):
            assert stage.max_in_flight is not None and stage.batch_size is not None
            batches += (WINDOW * stage.max_in_flight + 1) * stage.batch_size
    return int(inboxes + in_stages + batches + 2 * CHUNK)


def watch_pipe(watch: Watch, run: Any) -> None:
    """Each inbox, the exit channel and every stage actor's mailbox."""
    for name, inbox in run.inboxes.items():
        inbox_now = inbox.statistics()
        watch.queue(
            f"inbox of {name} (chunks)", inbox_now.current_buffer_used, inbox_now.max_buffer_size
        )
    exits = run.exits.statistics()
    watch.queue("the exit channel", exits.current_buffer_used, exits.max_buffer_size)
    for child in run.supervisor.which_children():
        ref = child.value
        if isinstance(ref, sa.ActorRef):
            used = ref._mailbox.statistics().current_buffer_used
            watch.queue(f"mailbox of {child.id}", used, ref.mailbox_size)


async def pipe_phase(tally: Tally, pool: sa.WorkerPool, small: bool) -> None:
    """`stream_pipe` with a slow consumer."""

    async def run_all(items: Any) -> Any:
        """Run every item through the pipe, taking the outputs all at once."""
        return await sa.run_pipe(SlowlyConsumedPipe, items)

    speed = await producers_speed(run_all, PROBE_ITEMS[small])
    pause = CHUNK * SLOWER / speed
    source = Counted(int(speed / SLOWER * SECONDS[small]))
    watch = Watch(tally, "stream_pipe")
    seen: list[int] = []
    async with sa.stream_pipe(SlowlyConsumedPipe, source) as results:
        run = results._run  # the run's channels and actors (not public)
        bound = items_a_pipe_may_hold(run)
        async for _, item in results:
            seen.append(item.payload // 2)
            if len(seen) % CHUNK:
                continue
            await trio.sleep(pause)
            watch_pipe(watch, run)
            watch.queue("items read but not consumed", source.read - len(seen), bound)
            watch.pool(pool)
            watch.memory(len(seen))
        tally.check(not results.errors, f"stream_pipe: error records {results.errors[:1]}")
    tally.account(range(source.count), seen, [])
    tally.faults += 1
    watch.finish(source.count)
    tally.note(f"stream_pipe: {speeds(speed, source.count)}")


async def main(tally: Tally, small: bool) -> None:
    """Both slow consumers, one after the other, on one pool."""
    marker = new_marker()
    settings = sa.Settings(pools=(pool_settings(marker, size=2),))
    async with sa.open_runtime(settings) as runtime:
        pool = await runtime.pool()
        await dispatch_phase(tally, pool, small)
        await pipe_phase(tally, pool, small)
    await tally.count_orphans(marker)


if __name__ == "__main__":
    run_script("slow_consumer", __doc__.splitlines()[0], main)
