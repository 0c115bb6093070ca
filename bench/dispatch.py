"""Dispatch speed and memory: `dispatch` beside `WorkerPool.call`, a raw trio pipe loop and
the standard library.

Measured in one run, for the same work on 2 worker processes:

- throughput on 100,000 integers in batches of 64, at most 4 batches in flight, for a
  trivial function and a ~50 µs-per-item one (every contender collects all results):
  ``dispatch(items, executor=WorkerExecutor(...), batch_size=64, max_in_flight=4)`` in an
  open runtime (the input a ready list of plain ints; the results come back as `Item`s, in
  input order); and, imported from bench/pool.py, the raw trio pipe loop (the limit),
  4 tasks each looping on `WorkerPool.call` (the pool dispatch runs on, so the gap between
  the two is dispatch's own cost), ``multiprocessing.Pool.imap(chunksize=64)`` and
  ``ProcessPoolExecutor.map(chunksize=64)``. Each contender starts its own workers and
  times only the work; dispatch first runs one 1-item batch so that its runtime is warm.
  Within a round the contenders take turns, in an order rotated round by round, so that
  noise on this shared machine hits all of them alike;
- the parent's peak RSS growth while 1,000,000 integers from a generator stream through
  `dispatch_stream` (trivial workload) and the consumer only counts them; beside it, the
  growth while `dispatch` builds the same results as a list, to show what a flat stream
  saves.

How RSS growth is measured: with the runtime open and warm, after ``gc.collect()``, the
baseline is VmRSS from /proc/self/status. Then the kernel's high-water mark is reset by
writing ``5`` to /proc/self/clear_refs, so VmHWM restarts at the current RSS and from then
on records the true peak, however brief (``ru_maxrss`` cannot be reset: it would report
the process's lifetime peak). A trio task also samples VmRSS every 50 ms as a cross-check
and as the fallback where clear_refs cannot be written. Growth is the peak minus the
baseline. The memory runs come before the throughput rounds, so that memory freed by
earlier runs does not hide growth.

Every throughput figure is the median over the rounds, and ratios compare with the raw loop.
Nothing is asserted: this is a report. Run it from the repository root::

    python bench/dispatch.py            # full run, about 90 seconds
    python bench/dispatch.py --quick    # smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import trio

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import pool as pool_bench  # noqa: E402
from pool import BATCH, EXECUTOR, IN_FLIGHT, MULTIPROCESSING, OURS, RAW, WORKERS  # noqa: E402

import slither_actors as sa  # noqa: E402

DISPATCH = "dispatch"
CONTENDERS = (RAW, OURS, DISPATCH, MULTIPROCESSING, EXECUTOR)
SAMPLE_SECONDS = 0.05
MB = 2**20


# --- dispatch -----------------------------------------------------------------------------------


def runtime_settings() -> sa.Settings:
    """A runtime whose default pool is bench/pool.py's: 2 workers that preload workloads."""
    return sa.Settings(pools=(pool_bench.pool_settings(),))


def executor(workload: str) -> sa.WorkerExecutor:
    return sa.WorkerExecutor("workloads", f"{workload}_batch")


async def dispatch_round(workload: str, items: int) -> float:
    """Items per second through `dispatch` (its runtime open and warm)."""
    async with sa.open_runtime(runtime_settings()):
        await sa.dispatch([0], executor=executor(workload))  # warm up the runtime and workers
        work = list(range(items))
        start, cpu = time.perf_counter(), time.process_time()
        results = await sa.dispatch(
            work, executor=executor(workload), batch_size=BATCH, max_in_flight=IN_FLIGHT
        )
        rate = items / (time.perf_counter() - start)
        pool_bench.CPU_SECONDS.append(time.process_time() - cpu)
    assert len(results) == items and results[-1].payload == items
    return rate


# --- memory -------------------------------------------------------------------------------------


def status_kb(field: str) -> int:
    """A ``kB`` field of /proc/self/status, such as VmRSS or VmHWM."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise LookupError(field)


def reset_peak() -> bool:
    """Restart the kernel's RSS high-water mark (VmHWM) at the current RSS, if allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


async def rss_growth(run: Callable[[], Awaitable[int]]) -> dict[str, float]:
    """Run ``run`` and return the parent's RSS baseline, peak growth (MB) and items seen."""
    gc.collect()
    baseline = status_kb("VmRSS")
    sampled = baseline
    exact = reset_peak()

    async def sample() -> None:
        nonlocal sampled
        while True:
            sampled = max(sampled, status_kb("VmRSS"))
            await trio.sleep(SAMPLE_SECONDS)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sample)
        start = time.perf_counter()
        count = await run()
        seconds = time.perf_counter() - start
        sampled = max(sampled, status_kb("VmRSS"))
        nursery.cancel_scope.cancel()
    peak = max(sampled, status_kb("VmHWM")) if exact else sampled
    return {
        "baseline": baseline * 1024 / MB,
        "growth": (peak - baseline) * 1024 / MB,
        "sampled": (sampled - baseline) * 1024 / MB,
        "exact": exact,
        "count": count,
        "rate": count / seconds,
    }


def numbers(count: int) -> Iterator[int]:
    """The input as a generator, so that the input itself holds no memory."""
    yield from range(count)


async def memory(count: int, as_list: bool) -> dict[str, dict[str, float]]:
    """RSS growth of streaming ``count`` items through `dispatch_stream` (and, with
    ``as_list``, of building them as a list with `dispatch`)."""
    trivial = executor("trivial")

    async def stream() -> int:
        seen = 0
        async with sa.dispatch_stream(
            numbers(count), executor=trivial, batch_size=BATCH, max_in_flight=IN_FLIGHT
        ) as results:
            async for _ in results:
                seen += 1
        return seen

    async def listed() -> int:
        results = await sa.dispatch(
            numbers(count), executor=trivial, batch_size=BATCH, max_in_flight=IN_FLIGHT
        )
        return len(results)

    figures = {}
    async with sa.open_runtime(runtime_settings()):
        # Warm every code path first, so that first-use allocations do not count as growth.
        async with sa.dispatch_stream(numbers(BATCH * IN_FLIGHT * 4), executor=trivial) as warm:
            async for _ in warm:
                pass
        figures["dispatch_stream, consumer counts"] = await rss_growth(stream)
        if as_list:
            figures["dispatch into a list"] = await rss_growth(listed)
    for name, figure in figures.items():
        assert figure["count"] == count, (name, figure["count"])
    return figures


# --- the rounds ---------------------------------------------------------------------------------


def contender(name: str, workload: str, items: int) -> tuple[float, float]:
    """Items per second of one contender, each on its own fresh workers, and the parent's
    CPU seconds per item while it ran."""
    pool_bench.CPU_SECONDS.clear()
    rate = _rate(name, workload, items)
    return rate, pool_bench.CPU_SECONDS[-1] / items


def _rate(name: str, workload: str, items: int) -> float:
    if name == RAW:
        return trio.run(pool_bench.raw_round, workload, items, 1)[0]
    if name == OURS:
        return trio.run(pool_bench.our_round, workload, items, 1)[0][0]
    if name == DISPATCH:
        return trio.run(dispatch_round, workload, items)
    make: Callable[[], Any] = (
        (lambda: multiprocessing.Pool(WORKERS))
        if name == MULTIPROCESSING
        else (lambda: ProcessPoolExecutor(WORKERS))
    )
    return pool_bench.stdlib_round(make, workload, items, 1, passes=1)[0][0]


def measure(rounds: int, items: int) -> tuple[Figures, Figures]:
    """Interleave the contenders round by round (rotating who goes first); return the
    medians of items/s and of the parent's CPU seconds per item."""
    rates: dict[str, dict[str, list[float]]] = {"trivial": {}, "cpu": {}}
    costs: dict[str, dict[str, list[float]]] = {"trivial": {}, "cpu": {}}
    for number in range(rounds):
        order = CONTENDERS[number % len(CONTENDERS) :] + CONTENDERS[: number % len(CONTENDERS)]
        for workload, by_name in rates.items():
            for name in order:
                rate, cost = contender(name, workload, items)
                by_name.setdefault(name, []).append(rate)
                costs[workload].setdefault(name, []).append(cost)
    return tuple(  # type: ignore[return-value]
        {
            workload: {name: statistics.median(by_name[name]) for name in CONTENDERS}
            for workload, by_name in figures.items()
        }
        for figures in (rates, costs)
    )


Figures = dict[str, dict[str, float]]


# --- the report ---------------------------------------------------------------------------------


def report(
    measured: tuple[Figures, Figures], items: int, memory: dict[str, dict[str, float]]
) -> None:
    rates, costs = measured
    for workload, by_name in rates.items():
        print(
            f"\n{workload} workload, {items:,} items: items/s, vs the raw loop, and the "
            f"parent's CPU per item and per batch of {BATCH}"
        )
        for name, rate in by_name.items():
            cost = costs[workload][name] * 1e6
            print(
                f"  {name:<22}{rate:>14,.0f}{rate / by_name[RAW]:>9.2f}x"
                f"{cost:>9.2f} µs/item{cost * BATCH:>9.1f} µs/batch"
            )
        cost = 1 / by_name[DISPATCH] - 1 / by_name[OURS]
        print(
            f"  dispatch vs WorkerPool.call: {by_name[DISPATCH] / by_name[OURS]:.2f}x "
            f"({cost * 1e6:+.2f} µs per item, {cost * BATCH * 1e6:+.1f} µs per batch)"
        )

    count = int(next(iter(memory.values()))["count"])
    print(f"\nparent RSS while {count:,} trivial items go through, peak growth over the baseline")
    for name, figure in memory.items():
        how = "VmHWM reset" if figure["exact"] else "sampled only"
        print(
            f"  {name:<34}{figure['growth']:>8.1f} MB  (50 ms samples: "
            f"{figure['sampled']:.1f} MB; {how}; baseline {figure['baseline']:.0f} MB; "
            f"{figure['rate']:,.0f} items/s)"
        )

    print("\ngoals")
    trivial, cpu = rates["trivial"], rates["cpu"]
    for text, ratio, floor in (
        (
            "dispatch trivial >= 1.0x multiprocessing.Pool.imap",
            trivial[DISPATCH] / trivial[MULTIPROCESSING],
            1.0,
        ),
        (
            "dispatch trivial >= 0.8x 4 tasks on WorkerPool.call",
            trivial[DISPATCH] / trivial[OURS],
            0.8,
        ),
        ("dispatch cpu >= 0.97x the raw loop", cpu[DISPATCH] / cpu[RAW], 0.97),
    ):
        pool_bench.goal(text, f"{ratio:.2f}x", ratio >= floor)
    listed = memory.get("dispatch into a list")
    if listed is not None:
        pool_bench.goal(
            f"dispatch of {count:,} trivial items into a result: RSS growth <= 60 MB",
            f"{listed['growth']:.1f} MB",
            listed["growth"] <= 60,
        )
    rss_goal(memory["dispatch_stream, consumer counts"]["growth"], count, "stream")


def rss_goal(growth: float, count: int, stream: str) -> None:
    """Print the memory goal line: growth under 50 MB over a 1,000,000-item ``stream``."""
    pool_bench.goal(
        f"RSS growth < 50 MB over the {count:,}-item {stream}"
        + ("" if count >= 1_000_000 else " (the goal is set for 1,000,000)"),
        f"{growth:.1f} MB",
        growth < 50,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer items, one round")
    quick = parser.parse_args().quick
    rounds, items, streamed = (1, 10_000, 100_000) if quick else (5, 100_000, 1_000_000)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {WORKERS} workers, batches "
        f"of {BATCH}, at most {IN_FLIGHT} in flight; {rounds} rounds (cpu workload ~50 µs "
        f"per item)"
    )
    figures = trio.run(memory, streamed, True)
    report(measure(rounds, items), items, figures)


if __name__ == "__main__":
    main()
