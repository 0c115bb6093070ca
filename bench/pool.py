"""Worker pool speed: our WorkerPool beside a raw trio pipe loop and the standard library.

Measured in one run, for the same work on 2 worker processes:

- throughput on 100,000 integers in batches of 64, at most 4 batches in flight, for a
  trivial function and a ~50 µs-per-item one (every contender collects all results): 4
  tasks each looping on our `WorkerPool.call`; a raw trio loop writing
  length-prefixed msgpack to 2 plain worker scripts, 2 batches ahead each (the limit: no
  pool, no supervision, no error handling); ``multiprocessing.Pool.imap(chunksize=64)``;
  ``ProcessPoolExecutor.map(chunksize=64)``. Each contender starts its workers, goes
  through the items once (the *first pass*, timed and reported on its own), then 3 times
  more: the median of those is the throughput (one pass takes a few tens of milliseconds,
  so a single one is at the mercy of whatever else the machine does);
- the median round trip of a 1-item call (the raw loop and ours alternate in blocks, with
  the parent on one CPU and the workers on another, so placement luck does not decide);
- the time until a 2-worker pool is ready (ours).

Every figure is the median over the rounds. A ratio compares with the raw loop run back to
back with it in the same round (which of the two goes first alternates), and the median of
those per-round ratios is printed: the machine's load drifts between rounds, so a ratio of
medians taken rounds apart would carry that drift. Nothing is asserted: this is a report.
Run it from the repository root::

    python bench/pool.py            # full run, about a minute
    python bench/pool.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import msgpack
import trio

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import workloads  # noqa: E402

import slither_actors as sa  # noqa: E402

WORKERS, BATCH, IN_FLIGHT = 2, 64, 4
PASSES = 4  # the first pass over the items, then 3 whose median is the throughput
HEADER = struct.Struct(">I")
RAW, OURS, MULTIPROCESSING, EXECUTOR = (
    "raw trio pipe loop",
    "WorkerPool.call",
    "multiprocessing.Pool",
    "ProcessPoolExecutor",
)


def batches(count: int) -> list[list[int]]:
    return [list(range(start, min(start + BATCH, count))) for start in range(0, count, BATCH)]


# --- the raw loop: the least a trio parent can do ---------------------------------------------


async def open_raw_workers() -> list[trio.Process]:
    return [
        await trio.lowlevel.open_process(
            [sys.executable, str(BENCH / "raw_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=BENCH,
        )
        for _ in range(WORKERS)
    ]


async def raw_drive(
    process: trio.Process, work: Iterator[list[int]], workload: str, results: list[Any]
) -> None:
    """Keep ``IN_FLIGHT / WORKERS`` batches written to one worker; collect every result."""
    assert process.stdin is not None and process.stdout is not None
    buffer, in_flight = bytearray(), 0
    while True:
        while in_flight < IN_FLIGHT // WORKERS and (batch := next(work, None)) is not None:
            body = msgpack.packb([0, workload, batch])
            await process.stdin.send_all(HEADER.pack(len(body)) + body)
            in_flight += 1
        if in_flight == 0:
            return
        buffer += await process.stdout.receive_some()
        while len(buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(buffer)
            if len(buffer) < HEADER.size + size:
                break
            _, batch_results = msgpack.unpackb(buffer[HEADER.size : HEADER.size + size])
            del buffer[: HEADER.size + size]
            in_flight -= 1
            results.extend(batch_results)


async def close_raw_workers(processes: list[trio.Process]) -> None:
    for process in processes:
        assert process.stdin is not None
        await process.stdin.aclose()
        await process.wait()


async def raw_round(workload: str, items: int, passes: int = PASSES) -> list[float]:
    """Items per second through the raw loop, one figure per pass (its workers started and
    each answered once before the first)."""
    processes = await open_raw_workers()
    try:
        for process in processes:  # wait until each has started and answered once
            await raw_drive(process, iter([[0]]), workload, [])

        def start(nursery: trio.Nursery, work: Iterator[list[int]], results: list[int]) -> None:
            for process in processes:
                nursery.start_soon(raw_drive, process, work, workload, results)

        return await timed_passes(passes, items, start)
    finally:
        await close_raw_workers(processes)


# The parent's CPU seconds (time.process_time: every thread of this process) of each timed
# pass, in the order the passes ran, so that a report can show the tax per item itself.
CPU_SECONDS: list[float] = []


async def timed_passes(
    passes: int,
    items: int,
    start: Callable[[trio.Nursery, Iterator[list[int]], list[int]], None],
) -> list[float]:
    """Items per second of each pass over ``items``: ``start`` starts, in the nursery, the
    tasks that take the batches from the work and put every result in the list."""
    rates = []
    for _ in range(passes):
        work = iter(batches(items))
        results: list[int] = []
        began, cpu = time.perf_counter(), time.process_time()
        async with trio.open_nursery() as nursery:
            start(nursery, work, results)
        rates.append(items / (time.perf_counter() - began))
        CPU_SECONDS.append(time.process_time() - cpu)
        assert len(results) == items
    return rates


# --- ours -------------------------------------------------------------------------------------


def pool_settings() -> sa.PoolSettings:
    return sa.PoolSettings(
        size=WORKERS,
        cwd=str(BENCH),
        preload=("workloads",),
        calls_per_worker=IN_FLIGHT // WORKERS,
    )


async def our_round(workload: str, items: int, passes: int = PASSES) -> tuple[list[float], float]:
    """Items per second through our pool, 4 tasks each looping on `WorkerPool.call`, one
    figure per pass, and how long the pool took to be ready."""
    started = time.perf_counter()
    async with sa.open_pool(pool_settings()) as pool:
        ready = time.perf_counter() - started
        target = f"workloads:{workload}_batch"
        await pool.broadcast(target, 0)  # each worker answers once first, as the raw loop's do

        def start(nursery: trio.Nursery, work: Iterator[list[int]], results: list[int]) -> None:
            for _ in range(IN_FLIGHT):
                nursery.start_soon(our_caller, pool, target, work, results)

        return await timed_passes(passes, items, start), ready


async def our_caller(
    pool: sa.WorkerPool, target: str, work: Iterator[list[int]], results: list[int]
) -> None:
    """One of the 4 tasks: call the pool batch after batch until the work runs out."""
    while (batch := next(work, None)) is not None:
        results.extend(await pool.call(target, batch))


async def round_trips(blocks: int) -> dict[str, float]:
    """Median 1-item round trips of the raw loop and of our pool, in alternating blocks of
    100 so both see the same machine. The parent runs on one CPU and every worker on
    another, so that neither side is luckier in where the scheduler puts its processes."""
    pin = hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    cpus = sorted(os.sched_getaffinity(0)) if pin else []
    if pin:
        os.sched_setaffinity(0, {cpus[0]})
    processes = await open_raw_workers()
    samples: dict[str, list[float]] = {RAW: [], OURS: []}
    try:
        async with sa.open_pool(pool_settings()) as pool:
            if pin:
                for pid in [process.pid for process in processes] + [
                    worker.pid for worker in pool.workers()
                ]:
                    os.sched_setaffinity(pid, {cpus[1]})
            for block in range(blocks + 1):  # the first block warms up and is not kept
                for name in (RAW, OURS):
                    for number in range(100):
                        start = time.perf_counter()
                        if name == RAW:
                            await raw_drive(processes[0], iter([[number]]), "trivial", [])
                        else:
                            await pool.call("workloads:trivial_batch", [number])
                        if block:
                            samples[name].append(time.perf_counter() - start)
    finally:
        await close_raw_workers(processes)
        if pin:
            os.sched_setaffinity(0, set(cpus))
    return {name: statistics.median(values) for name, values in samples.items()}


# --- the standard library ----------------------------------------------------------------------


def stdlib_round(
    make: Callable[[], Any], workload: str, items: int, trips: int, passes: int = PASSES
) -> tuple[list[float], float]:
    """Items per second (one figure per pass) and the median 1-item round trip of a
    standard library pool."""
    function = workloads.ITEM_FUNCTIONS[workload]
    with make() as pool:
        is_multiprocessing = isinstance(pool, multiprocessing.pool.Pool)
        mapper = pool.imap if is_multiprocessing else pool.map
        list(mapper(function, range(WORKERS * 4), chunksize=1))  # start the workers first
        rates = []
        for _ in range(passes):
            start, cpu = time.perf_counter(), time.process_time()
            results = list(mapper(function, range(items), chunksize=BATCH))
            rates.append(len(results) / (time.perf_counter() - start))
            CPU_SECONDS.append(time.process_time() - cpu)
        samples = []
        for number in range(trips):
            start = time.perf_counter()
            if is_multiprocessing:
                pool.apply(workloads.trivial, (number,))
            else:
                pool.submit(workloads.trivial, number).result()
            samples.append(time.perf_counter() - start)
    return rates, statistics.median(samples)


# --- the report --------------------------------------------------------------------------------


def measure(rounds: int, items: int, trips: int) -> dict[str, Any]:
    """Interleave the contenders round by round; return, per contender and pass, the median
    rate and the median of its per-round ratios to the raw loop."""
    rates: dict[str, dict[str, list[list[float]]]] = {"trivial": {}, "cpu": {}}
    stdlib_trips: dict[str, list[float]] = {MULTIPROCESSING: [], EXECUTOR: []}
    ready: list[float] = []
    for number in range(rounds):
        for workload, by_name in rates.items():
            count = items // 5 if workload == "cpu" else items
            measured: dict[str, list[float]] = {}
            # Ours and the raw loop run back to back, each first in every other round, so
            # the machine's load drifting during a round favours neither.
            for name in (OURS, RAW) if number % 2 == 0 else (RAW, OURS):
                if name == OURS:
                    measured[OURS], ready_in = trio.run(our_round, workload, count)
                    ready.append(ready_in)
                else:
                    measured[RAW] = trio.run(raw_round, workload, count)
            for name, make in (
                (MULTIPROCESSING, lambda: multiprocessing.Pool(WORKERS)),
                (EXECUTOR, lambda: ProcessPoolExecutor(WORKERS)),
            ):
                measured[name], trip = stdlib_round(make, workload, count, trips)
                stdlib_trips[name].append(trip)
            for name, value in measured.items():
                by_name.setdefault(name, []).append(value)
    trip_medians = trio.run(round_trips, max(1, trips // 100))
    for name, values in stdlib_trips.items():
        trip_medians[name] = statistics.median(values)
    return {
        "rates": {workload: summarise(by_name) for workload, by_name in rates.items()},
        "round_trips": trip_medians,
        "ready": statistics.median(ready),
    }


def summarise(by_name: dict[str, list[list[float]]]) -> dict[str, list[tuple[float, float]]]:
    """Per contender, (median rate, median ratio to the raw loop) for the first pass and for
    the later ones (each round's median of them: the throughput). A ratio is taken within
    each round (where ours and the raw loop run back to back), then its median over them."""

    def first_and_later(passes: list[float]) -> tuple[float, float]:
        return passes[0], statistics.median(passes[1:])

    raw = [first_and_later(passes) for passes in by_name[RAW]]
    summary = {}
    for name in (RAW, OURS, MULTIPROCESSING, EXECUTOR):
        rounds = [first_and_later(passes) for passes in by_name.get(name, [])]
        if rounds:
            summary[name] = [
                (
                    statistics.median(round_[index] for round_ in rounds),
                    statistics.median(
                        round_[index] / raw_round[index]
                        for round_, raw_round in zip(rounds, raw, strict=True)
                    ),
                )
                for index in (0, 1)
            ]
    return summary


def report(results: dict[str, Any], items: int) -> None:
    rates, trips = results["rates"], results["round_trips"]
    for workload, by_name in rates.items():
        count = items // 5 if workload == "cpu" else items
        print(
            f"\n{workload} workload, {count:,} items: items/s and vs the raw loop, for the "
            f"passes after the first (the throughput) and the first"
        )
        for name, ((first, first_ratio), (later, later_ratio)) in by_name.items():
            print(
                f"  {name:<22}{later:>14,.0f}{later_ratio:>9.2f}x"
                f"   first pass{first:>12,.0f}{first_ratio:>9.2f}x"
            )
    print("\n1-item round trip: median, and vs the raw loop")
    for name, seconds in trips.items():
        print(f"  {name:<22}{seconds * 1e6:>11.1f} µs{seconds / trips[RAW]:>9.2f}x")
    print(f"\n2-worker pool ready in {results['ready']:.3f} s (median)")

    print("\ngoals")
    for workload in rates:
        (_, first), (_, ratio) = rates[workload][OURS]
        goal(
            f"{workload} throughput >= 0.8x the raw loop",
            f"{ratio:.2f}x (first pass after start {first:.2f}x)",
            ratio >= 0.8,
        )
    trip_ratio = trips[OURS] / trips[RAW]
    goal("round trip <= 1.5x the raw loop", f"{trip_ratio:.2f}x", trip_ratio <= 1.5)
    goal("pool ready <= 0.3 s", f"{results['ready']:.3f} s", results["ready"] <= 0.3)


def goal(text: str, measured: str, met: bool) -> None:
    print(f"  {text}: {measured}, {'met' if met else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer items, one round")
    rounds, items, trips = (1, 10_000, 200) if parser.parse_args().quick else (5, 100_000, 2000)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {WORKERS} workers, batches "
        f"of {BATCH}, at most {IN_FLIGHT} in flight; {rounds} rounds (the cpu workload uses a "
        f"fifth of the items, ~50 µs each)"
    )
    report(measure(rounds, items, trips), items)


if __name__ == "__main__":
    main()
