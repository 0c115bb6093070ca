"""chaos kill_workers: SIGKILL random workers, again and again, under a dispatch and a pipe.

Two phases, each on a fresh runtime: a `dispatch` of the items under a `Retry` policy, then
a 3-stage pipe (local → worker → router) under `skip`. Meanwhile a task SIGKILLs a random
worker (a busy one when there is one), waits for the pool to be full again, and kills the
next, until the kills have landed (a pid that had already died does not count). Promises:

- every item is delivered exactly once, or recorded as failed with the crash as its reason
  (under `Retry` none may fail: the retries recover every item); nothing twice;
- the pool is back to full size afterwards, every worker alive in /proc;
- ``slither.worker.restarted`` and ``slither.worker.crashed`` events equal the kills;
- once the runtime has stopped, no worker process is left.

``python chaos/kill_workers.py`` runs 100,000 items and 100 kills per phase (about 40 s);
``--small`` runs 3,000 items and 5 kills.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import attrs
import trio
from _common import (
    EventLog,
    Tally,
    kill_if_alive,
    new_marker,
    pool_settings,
    process_alive,
    run_script,
    wait_until,
)

import slither_actors as sa

Outcome = TypeVar("Outcome")

WORKERS = 2
BATCH_SIZE = 64
MAX_IN_FLIGHT = 4
# Seconds between two kills, on average; a worker takes about 0.1 s to restart.
KILL_EVERY = 0.15
# Wait this long for a busy worker to kill before killing an idle one.
BUSY_WAIT = 0.05
RETRY = sa.Retry(
    max_attempts=5,
    backoff=sa.Backoff(0.01, 2.0, 0.2),
    retry_on=(sa.WorkerCrashed,),
    then="skip",
)


@attrs.frozen
class Size:
    """How much one phase does."""

    items: int
    kills: int

    @property
    def item_seconds(self) -> float:
        """Work per item that makes the run last about as long as the kills take."""
        return self.kills * KILL_EVERY * WORKERS / self.items


SIZES = {False: Size(items=100_000, kills=100), True: Size(items=3_000, kills=5)}


@attrs.define
class Killer:
    """Kills a random worker of a pool ``kills`` times, one restart at a time."""

    kills: int
    rng: random.Random
    landed: int = 0
    on_busy: int = 0  # kills that hit a worker with calls in flight
    missed: int = 0  # the pid had died already
    changed: trio.Event = attrs.Factory(trio.Event)

    async def run(self, pool: sa.WorkerPool) -> None:
        """Kill until ``kills`` have landed, each once the pool is full again."""
        while self.landed < self.kills:
            await pool.wait_until_ready()
            await trio.sleep(self.rng.uniform(0.2, 1.0) * KILL_EVERY)
            target = await self._pick(pool)
            if target is None:
                continue
            if kill_if_alive(target.pid, signal.SIGKILL):
                self.landed += 1
                self.on_busy += target.in_flight > 0
                self.changed.set()
                self.changed = trio.Event()
            else:
                self.missed += 1

    async def _pick(self, pool: sa.WorkerPool) -> sa.WorkerInfo | None:
        """A random busy worker if one turns up soon, else any live one."""
        deadline = trio.current_time() + BUSY_WAIT
        while trio.current_time() < deadline:
            busy = [worker for worker in pool.workers() if worker.in_flight]
            if busy:
                return self.rng.choice(busy)
            await trio.sleep(0.005)
        workers = pool.workers()
        return self.rng.choice(workers) if workers else None

    async def wait_for(self, count: int) -> None:
        """Wait until ``count`` kills have landed."""
        while self.landed < count:
            await self.changed.wait()


async def paced(size: Size, killer: Killer) -> AsyncIterator[int]:
    """The numbers 0 … items-1; an item waits for the kills due by its turn, so every kill
    lands while the run still goes on, however fast the machine is."""
    for number in range(size.items):
        await killer.wait_for(size.kills * number // size.items)
        yield number


def settings_for(size: Size, marker: str) -> sa.Settings:
    """A runtime with one pool that tolerates every kill as a restart."""
    pool = pool_settings(
        marker,
        size=WORKERS,
        max_restarts=size.kills + 10,
        max_seconds=3600.0,
        env={"CHAOS_ITEM_SECONDS": repr(size.item_seconds)},
    )
    return sa.Settings(pools=(pool,))


def pool_is_full(pool: sa.WorkerPool) -> bool:
    """Every slot has a live worker, alive in /proc too."""
    workers = pool.workers()
    return len(workers) == WORKERS and all(process_alive(worker.pid) for worker in workers)


def check_pool_and_events(
    tally: Tally, phase: str, pool: sa.WorkerPool, killer: Killer, log: EventLog
) -> None:
    """The pool is full again and its telemetry counted each kill once."""
    tally.check(pool_is_full(pool), f"{phase}: the pool is back to {WORKERS} live workers")
    restarted = [event for _, event in log.of("restarted")]
    crashed = [event for _, event in log.of("crashed")]
    by_kill = sum("SIGKILL" in event["after"] for event in restarted)
    tally.check(
        by_kill == len(restarted) == killer.landed,
        f"{phase}: {killer.landed} kills gave {len(restarted)} restarted events "
        f"({by_kill} after a SIGKILL)",
    )
    crashed_by_kill = sum("SIGKILL" in event["reason"] for event in crashed)
    tally.check(
        crashed_by_kill == len(crashed) == killer.landed,
        f"{phase}: {killer.landed} kills gave {len(crashed)} crashed events",
    )


async def under_kills(
    tally: Tally,
    phase: str,
    size: Size,
    rng: random.Random,
    run: Callable[[Killer], Awaitable[Outcome]],
) -> tuple[Outcome, Killer, str]:
    """``run(killer)`` in a fresh runtime while ``killer`` SIGKILLs its workers; then the
    pool must be full again with its telemetry counting each kill once. Returns what the run
    returned, the killer and the runtime's marker."""
    marker = new_marker()
    killer = Killer(size.kills, rng)
    with EventLog() as log:
        async with sa.open_runtime(settings_for(size, marker)) as runtime:
            pool = await runtime.pool()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(killer.run, pool)
                outcome = await run(killer)
            await wait_until(lambda: pool_is_full(pool), 10.0)
            check_pool_and_events(tally, phase, pool, killer, log)
    tally.faults += killer.landed
    return outcome, killer, marker


async def dispatch_phase(tally: Tally, size: Size, rng: random.Random) -> None:
    """Dispatch the items under `RETRY` while workers are killed: every item comes back."""
    started = time.monotonic()

    async def run(killer: Killer) -> list[sa.Item]:
        return await sa.dispatch(
            paced(size, killer),
            executor=sa.WorkerExecutor("worker_functions", "double_slowly"),
            batch_size=BATCH_SIZE,
            max_in_flight=MAX_IN_FLIGHT,
            on_error=RETRY,
        )

    results, killer, marker = await under_kills(tally, "dispatch", size, rng, run)
    skipped = [item for item in results if item.meta.get("skipped")]
    delivered = [item.payload // 2 for item in results if not item.meta.get("skipped")]
    tally.account(range(size.items), delivered, [item.payload for item in skipped])
    tally.check(not skipped, f"dispatch: Retry recovered every item ({len(skipped)} skipped)")
    await tally.count_orphans(marker)
    tally.note(
        f"dispatch: {size.items} items, {killer.landed} kills ({killer.on_busy} on busy "
        f"workers, {killer.missed} missed), {time.monotonic() - started:.1f} s"
    )


class KilledPipe(sa.Pipe):
    """local → worker → router: numbers, doubled in the workers, split by multiples of 4."""

    stages = [
        sa.LocalStage("number", lambda item, ctx: int(item.payload)),
        sa.WorkerStage(
            "double",
            module="worker_functions",
            function="double_slowly",
            batch_size=BATCH_SIZE,
            max_in_flight=MAX_IN_FLIGHT,
        ),
        sa.RouterStage("split", [(lambda item: item.payload % 4 == 0, "fours")]),
    ]
    outputs = ["fours"]
    on_error = {"*": "skip"}


async def pipe_phase(tally: Tally, size: Size, rng: random.Random) -> None:
    """Run the pipe under skip while workers are killed: each item delivered or recorded."""
    started = time.monotonic()

    async def run(killer: Killer) -> sa.PipeResult:
        return await sa.run_pipe(KilledPipe, paced(size, killer))

    result, killer, marker = await under_kills(tally, "pipe", size, rng, run)
    delivered = [
        payload // 2 for output in ("fours", "default") for payload in result.payloads(output)
    ]
    failed = [record.item.payload for record in result.errors]
    tally.account(range(size.items), delivered, failed)
    unexplained = [
        record
        for record in result.errors
        if record.stage != "double"
        or "WorkerCrashed" not in record.reason
        or "SIGKILL" not in record.reason
    ]
    tally.check(
        not unexplained,
        f"pipe: every error record names the kill ({len(unexplained)} do not, e.g. "
        f"{unexplained[0] if unexplained else None})",
    )
    tally.check(
        len(failed) <= killer.on_busy * BATCH_SIZE,
        f"pipe: {len(failed)} failed items from {killer.on_busy} kills of busy workers",
    )
    await tally.count_orphans(marker)
    tally.note(
        f"pipe: {size.items} items, {len(failed)} recorded as failed, {killer.landed} kills "
        f"({killer.on_busy} on busy workers, {killer.missed} missed), "
        f"{time.monotonic() - started:.1f} s"
    )


async def main(tally: Tally, small: bool) -> None:
    """Both phases, one after the other."""
    size = SIZES[small]
    rng = random.Random()
    await dispatch_phase(tally, size, rng)
    await pipe_phase(tally, size, rng)


if __name__ == "__main__":
    run_script("kill_workers", __doc__.splitlines()[0], main)
