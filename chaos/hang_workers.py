"""chaos hang_workers: calls that never return, workers frozen with SIGSTOP, idle and busy.

Good calls run beside every fault on the same pool, with the same timeout (as the batches of
one dispatch have). Each round throws five faults:

- a hung call (`pool.call` of a function that sleeps forever): it fails with `CallTimeout`
  and its worker is replaced within the timeout + 1 s;
- a hung batch in a `dispatch` under ``skip``: that batch is skipped with `CallTimeout` as
  its reason, every other batch is delivered, its worker is replaced within the timeout + 1 s;
- an idle worker frozen by SIGSTOP: the heartbeat finds it and it is replaced within
  2 x heartbeat_interval + heartbeat_timeout + 1 s (a worker is pinged once it has been idle
  a whole interval), while a good call on the other worker runs to its end;
- a busy worker frozen by SIGSTOP: its call fails with `CallTimeout`, or with
  `WorkerCrashed` if the heartbeat finds the worker stopped first, and the worker is
  replaced within the timeout + 1 s;
- a call that times out (``queue_timeout``) while queued in a worker behind a slow one:
  it fails with `CallTimeout`, and once the slow calls end that worker is not wedged: good
  calls return at once and no call is left in flight.

Every good call beside them must succeed, and no worker process may outlive the runtime.
``python chaos/hang_workers.py`` runs 10 rounds with a 1 s timeout; ``--small`` 1 round
with 0.5 s.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Awaitable

import attrs
import trio
from _common import (
    EventLog,
    Neighbours,
    Tally,
    kill_if_alive,
    new_marker,
    pool_settings,
    process_alive,
    run_script,
    wait_until,
)

import slither_actors as sa

WORKERS = 2
HEARTBEAT_INTERVAL = 0.2
HEARTBEAT_TIMEOUT = 0.3
HEARTBEAT_BOUND = 2 * HEARTBEAT_INTERVAL + HEARTBEAT_TIMEOUT
SLACK = 1.0  # the promise: replaced within its timeout + 1 s
NEIGHBOURS = 2  # tasks making good calls beside the faults
BATCHES = 8  # of 8 items each, in the hung dispatch
FAULT_6 = " (a CallTimeout here: issue 12, fault 6, a timeout that counts the wait behind a hang)"


@attrs.frozen
class Size:
    """How much one run does."""

    rounds: int
    timeout: float


SIZES = {False: Size(rounds=10, timeout=1.0), True: Size(rounds=1, timeout=0.5)}


def slot_of(error: BaseException) -> int | None:
    """The worker slot an error's text names (``... worker 2 pid 123``)."""
    found = re.search(r"worker (\d+) pid", str(error))
    return int(found.group(1)) if found else None


async def replaced_after(
    log: EventLog, since: float, slot: int | None, bound: float
) -> float | None:
    """Seconds from ``since`` until the slot's worker was replaced (its successor ready),
    waiting up to ``bound`` + 5 s; None if it was not."""
    match = {} if slot is None else {"worker_id": slot}
    await wait_until(lambda: log.first("restarted", since, **match) is not None, bound + 5.0)
    found = log.first("restarted", since, **match)
    return None if found is None else found[0] - since


def check_replaced(tally: Tally, what: str, took: float | None, bound: float) -> None:
    """The worker was replaced within ``bound`` + `SLACK` seconds."""
    if took is None:
        tally.check(False, f"{what}: its worker was never replaced")
        return
    tally.check(
        took <= bound + SLACK,
        f"{what}: its worker was replaced after {took:.2f} s, over {bound:g} + {SLACK:g} s",
    )


async def expect_timeout(
    tally: Tally, what: str, call: Awaitable[object], timeout: float, *, frozen: bool = False
) -> tuple[int | None, float]:
    """Await ``call``, which must fail with `CallTimeout` within ``timeout`` + 1 s (or, in
    a ``frozen`` worker, with `WorkerCrashed` if the heartbeat found it stopped first); the
    slot it names and when the call failed."""
    started = time.monotonic()
    slot = None
    try:
        value = await call
    except sa.CallTimeout as error:
        slot = slot_of(error)
    except sa.WorkerCrashed as error:
        tally.check(
            frozen and "was stopped by a signal" in str(error),
            f"{what}: raised WorkerCrashed: {error}, not CallTimeout",
        )
        slot = slot_of(error)
    except Exception as error:
        tally.check(False, f"{what}: raised {type(error).__name__}: {error}, not CallTimeout")
    else:
        tally.check(False, f"{what}: returned {value!r} instead of timing out")
    failed = time.monotonic()
    tally.check(
        failed - started <= timeout + SLACK,
        f"{what}: the caller learnt of the timeout after {failed - started:.2f} s",
    )
    return slot, failed


async def hung_call(tally: Tally, pool: sa.WorkerPool, log: EventLog, timeout: float) -> float:
    """A call that sleeps forever; the seconds until its worker was replaced."""
    started = time.monotonic()
    call = pool.call("worker_functions:sleep_forever", [None], timeout=timeout)
    slot, _ = await expect_timeout(tally, "a hung call", call, timeout)
    took = await replaced_after(log, started, slot, timeout)
    check_replaced(tally, "a hung call", took, timeout)
    return took or 0.0


async def hung_batch(tally: Tally, log: EventLog, timeout: float) -> float:
    """A dispatch with one hung batch under skip: only that batch is skipped."""
    items: list[object] = list(range(BATCHES * 8))
    items[3] = "hang"  # in the first batch
    started = time.monotonic()
    results = await sa.dispatch(
        items,
        executor=sa.WorkerExecutor("worker_functions", "double_unless_hang"),
        batch_size=8,
        max_in_flight=4,
        timeout=timeout,
        on_error="skip",
    )
    skipped = {item.payload: item for item in results if item.meta.get("skipped")}
    first_batch = set(items[:8])
    tally.check(
        set(skipped) >= first_batch
        and all("CallTimeout" in skipped[key].meta["error"] for key in first_batch),
        f"the hung batch is skipped with CallTimeout as its reason: "
        f"{[skipped[key].meta for key in first_batch if key in skipped][:1]}",
    )
    harmed = [item for key, item in skipped.items() if key not in first_batch]
    if harmed:
        tally.lost += len(harmed)
        tally.broken.append(
            f"{len(harmed) // 8} good batches beside the hung one were skipped too: "
            f"{harmed[0].meta['error']}{FAULT_6}"
        )
    delivered = [
        item.payload // 2 if type(item.payload) is int else item.payload
        for item in results
        if not item.meta.get("skipped")
    ]
    tally.account(items, delivered, list(skipped))
    took = await replaced_after(log, started, None, timeout)
    check_replaced(tally, "a hung batch", took, timeout)
    return took or 0.0


async def frozen_idle(
    tally: Tally, pool: sa.WorkerPool, log: EventLog, neighbours: Neighbours
) -> float:
    """SIGSTOP an idle worker while a good call runs on the other: the heartbeat finds it."""
    await neighbours.pause()
    long_call = HEARTBEAT_BOUND + 0.3
    outcome: list[object] = []

    async def good_long_call() -> None:
        """A long good call on the worker that is not frozen."""
        try:
            outcome.append(
                await pool.call(
                    "worker_functions:sleep_then_pid", [long_call], timeout=long_call + 5
                )
            )
        except Exception as error:
            outcome.append(error)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(good_long_call)
        await wait_until(lambda: any(worker.in_flight for worker in pool.workers()), 5.0)
        idle = [worker for worker in pool.workers() if not worker.in_flight]
        stopped_at = time.monotonic()
        if not idle or not kill_if_alive(idle[0].pid, signal.SIGSTOP):
            tally.check(False, "an idle worker to freeze")
            neighbours.resume()
            return 0.0
        took = await replaced_after(log, stopped_at, idle[0].worker_id, HEARTBEAT_BOUND)
    check_replaced(tally, "an idle frozen worker", took, HEARTBEAT_BOUND)
    crash = log.first("crashed", stopped_at, pid=idle[0].pid)
    tally.check(
        crash is not None and "heartbeat" in crash[1]["reason"],
        f"the idle frozen worker was ended for its heartbeat: {crash}",
    )
    if not (outcome and type(outcome[0]) is list):
        tally.lost += 1
        tally.broken.append(f"the good call beside the frozen idle worker got {outcome}")
    neighbours.resume()
    return took or 0.0


async def frozen_busy(
    tally: Tally, pool: sa.WorkerPool, log: EventLog, neighbours: Neighbours, timeout: float
) -> float:
    """SIGSTOP a worker in the middle of a call: the call fails (its timeout, or the
    heartbeat finding the worker stopped, whichever comes first), the worker is replaced."""
    await neighbours.pause()
    started = time.monotonic()
    took: float | None = None

    async def freeze_it() -> None:
        """Freeze the worker running the call, then time its replacement."""
        nonlocal took
        await wait_until(lambda: any(worker.in_flight for worker in pool.workers()), timeout)
        busy = [worker for worker in pool.workers() if worker.in_flight]
        await trio.sleep(timeout / 8)  # well inside the call
        if not busy or not kill_if_alive(busy[0].pid, signal.SIGSTOP):
            tally.check(False, "a busy worker to freeze")
            return
        neighbours.resume()  # good calls go on beside the frozen one
        took = await replaced_after(log, started, busy[0].worker_id, timeout)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(freeze_it)
        call = pool.call("worker_functions:sleep_then_pid", [timeout / 2], timeout=timeout)
        await expect_timeout(tally, "a call in a frozen worker", call, timeout, frozen=True)
    neighbours.resume()
    check_replaced(tally, "a busy frozen worker", took, timeout)
    return took or 0.0


async def expired_in_queue(
    tally: Tally, pool: sa.WorkerPool, neighbours: Neighbours, timeout: float
) -> float:
    """Both workers busy with slow calls, a call queued behind one times out waiting: once
    the slow calls are done, good calls return at once. Seconds until the pool was idle."""
    await neighbours.pause()
    slow = timeout * 0.8  # within the run timeout: these calls are fine
    slow_results: list[object] = []

    async def slow_call() -> None:
        """A slow good call, one per worker."""
        try:
            slow_results.append(await pool.call("worker_functions:sleep_then_pid", [slow]))
        except Exception as error:
            tally.lost += 1
            tally.broken.append(f"a slow good call failed: {type(error).__name__}: {error}")

    async with trio.open_nursery() as nursery:
        for _ in range(WORKERS):
            nursery.start_soon(slow_call)
        await wait_until(lambda: all(worker.in_flight for worker in pool.workers()), 5.0)
        # It runs a while once started, so its result comes when nobody waits for it.
        queued = pool.call("worker_functions:sleep_then_pid", [slow / 2], queue_timeout=slow / 4)
        await expect_timeout(tally, "a call queued in a worker", queued, slow / 4)
    ended = time.monotonic()
    idle = await wait_until(lambda: pool.stats().in_flight == 0, SLACK)
    tally.check(idle, f"no call is left in flight after the queued one timed out: {pool.workers()}")

    async def good_call(number: int) -> None:
        """A good call that must return at once."""
        results: object = None
        with trio.move_on_after(SLACK):
            try:
                results = await pool.call("worker_functions:double", [number])
            except Exception as error:
                results = error
        if results != [2 * number]:
            tally.lost += 1
            tally.broken.append(
                f"a good call after a call timed out in a worker's queue got {results!r} "
                f"within {SLACK:g} s (issue 12, fault 1: a wedged worker): {pool.workers()}"
            )

    async with trio.open_nursery() as nursery:  # enough at once to reach every worker
        for number in range(4 * WORKERS):
            nursery.start_soon(good_call, number)
    neighbours.resume()
    return time.monotonic() - ended


def pool_is_full(pool: sa.WorkerPool) -> bool:
    """Every slot has a live worker, alive in /proc too."""
    workers = pool.workers()
    return len(workers) == WORKERS and all(process_alive(worker.pid) for worker in workers)


async def main(tally: Tally, small: bool) -> None:
    """Every round's four faults, with good calls beside them throughout."""
    size = SIZES[small]
    marker = new_marker()
    settings = pool_settings(
        marker,
        size=WORKERS,
        call_timeout=size.timeout,
        heartbeat_interval=HEARTBEAT_INTERVAL,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        stop_grace=0.5,
        kill_grace=0.2,
        max_restarts=10 * size.rounds + 10,
        max_seconds=3600.0,
    )
    times: dict[str, list[float]] = {
        "hung call": [],
        "hung batch": [],
        "idle frozen": [],
        "busy frozen": [],
        "expired in a queue": [],
    }
    with EventLog() as log:
        async with sa.open_runtime(sa.Settings(pools=(settings,))) as runtime:
            pool = await runtime.pool()
            neighbours = Neighbours(pool, tally, "the faults", FAULT_6)
            async with trio.open_nursery() as nursery:
                neighbours.start(nursery, NEIGHBOURS)
                for _ in range(size.rounds):
                    times["hung call"].append(await hung_call(tally, pool, log, size.timeout))
                    times["hung batch"].append(await hung_batch(tally, log, size.timeout))
                    times["idle frozen"].append(await frozen_idle(tally, pool, log, neighbours))
                    times["busy frozen"].append(
                        await frozen_busy(tally, pool, log, neighbours, size.timeout)
                    )
                    times["expired in a queue"].append(
                        await expired_in_queue(tally, pool, neighbours, size.timeout)
                    )
                    tally.faults += 5
                    tally.check(
                        await wait_until(lambda: pool_is_full(pool), 5.0),
                        "the pool is full again after each round",
                    )
                await trio.sleep(0.2)  # the neighbours' last calls
                nursery.cancel_scope.cancel()
    await tally.count_orphans(marker)
    tally.note(f"{neighbours.done} good calls beside the faults, timeout {size.timeout:g} s")
    for what, seconds in times.items():
        if what == "expired in a queue":
            tally.note(f"{what}: the pool was idle {max(seconds):.2f} s after the slow calls")
        else:
            tally.note(f"{what}: replaced after {max(seconds):.2f} s at most")


if __name__ == "__main__":
    run_script("hang_workers", __doc__.splitlines()[0], main)
