"""Pipe speed and memory: a 3-stage pipe (local → worker → router) beside `dispatch` alone
on the same work, and the raw trio pipe loop for scale.

Measured in one run, for the same work on 2 worker processes:

- throughput on 100,000 integers in batches of 64, at most 4 batches in flight, for a
  trivial function and a ~50 µs-per-item one (bench/workloads.py; every contender
  collects all results):

  - the pipe: ``run_pipe(Scored, items)`` in an open runtime, where ``Scored`` is
    ``LocalStage("prepare", plus_one)`` (the handler returns ``item.payload + 1``, so each
    item is copied with its new payload), ``WorkerStage("work", module="workloads",
    function=f"{workload}_batch", batch_size=64, max_in_flight=4)`` and
    ``RouterStage("route", [(is_even, "even")])`` (odd payloads leave through
    ``default``); every other stage setting is the default (inboxes of 64, one lane,
    ordered, halt on error). The input is a ready list of plain ints, which the pipe
    wraps into `Item`s as it reads them; the outputs come back as lists of `Item`s;
  - ``dispatch(items, executor=WorkerExecutor("workloads", f"{workload}_batch"),
    batch_size=64, max_in_flight=4)`` alone, imported from bench/dispatch.py (the same
    ready list, the same worker function and batching; results as `Item`s in input
    order). The gap between the two is what the pipe adds: the local stage, the router,
    the chunks sent between stages and to the exit, and the stage actors around them;
  - the raw trio pipe loop from bench/pool.py (the limit: length-prefixed msgpack to 2
    plain worker scripts, no pool, no supervision, no items).

  Each contender starts its own workers and times only the work; the pipe and dispatch
  first run a small warm-up through the same path in the same runtime. Within a round the
  contenders take turns, in an order rotated round by round, so that noise on this shared
  machine hits all of them alike;
- the parent's peak RSS growth while 1,000,000 integers from a generator stream through
  ``stream_pipe(Scored, ...)`` (trivial workload) and the consumer only counts them;
  beside it, in the same runtime and after it, the same for `dispatch_stream` alone.

RSS growth is measured with bench/dispatch.py's functions: with the runtime open and warm,
after ``gc.collect()``, the baseline is VmRSS; the kernel's high-water mark is reset by
writing ``5`` to /proc/self/clear_refs, so VmHWM then records the true peak, however
brief; a trio task samples VmRSS every 50 ms as a cross-check and as the fallback where
clear_refs cannot be written. Growth is the peak minus the baseline. The memory runs come
before the throughput rounds, so that memory freed by earlier runs does not hide growth.

Every throughput figure is the median over the rounds; ratios compare with dispatch alone,
and the goal is the pipe at 0.8x dispatch alone or better. Nothing is asserted: this is a
report. Run it from the repository root::

    python bench/pipe.py            # full run, about a minute
    python bench/pipe.py --quick    # smoke run, under 10 seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import trio

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import dispatch as dispatch_bench  # noqa: E402
import pool as pool_bench  # noqa: E402
from dispatch import DISPATCH  # noqa: E402
from pool import BATCH, IN_FLIGHT, RAW, WORKERS  # noqa: E402

import slither_actors as sa  # noqa: E402

PIPE = "3-stage pipe"
CONTENDERS = (RAW, DISPATCH, PIPE)
WARM_UP = BATCH * IN_FLIGHT * 2
STREAMED = "stream_pipe, consumer counts"


# --- the pipe -----------------------------------------------------------------------------------


def plus_one(item: sa.Item, ctx: sa.Context) -> int:
    return item.payload + 1


def is_even(item: sa.Item) -> bool:
    return item.payload % 2 == 0


def scored(workload: str) -> type[sa.Pipe]:
    """The benchmark's pipe for ``workload``: local +1, the workload in workers, parity."""

    class Scored(sa.Pipe):
        pipe_name = f"scored_{workload}"
        stages = [
            sa.LocalStage("prepare", plus_one),
            sa.WorkerStage(
                "work",
                module="workloads",
                function=f"{workload}_batch",
                batch_size=BATCH,
                max_in_flight=IN_FLIGHT,
            ),
            sa.RouterStage("route", [(is_even, "even")]),
        ]
        outputs = ["even"]

    return Scored


PIPES = {workload: scored(workload) for workload in ("trivial", "cpu")}


async def pipe_round(workload: str, items: int) -> float:
    """Items per second through ``run_pipe`` (its runtime open and warm)."""
    pipe = PIPES[workload]
    async with sa.open_runtime(dispatch_bench.runtime_settings()):
        await sa.run_pipe(pipe, range(WARM_UP))  # warm up the runtime, workers and stages
        work = list(range(items))
        start = time.perf_counter()
        result = await sa.run_pipe(pipe, work)
        rate = items / (time.perf_counter() - start)
    # Each payload is n + 2 (the local stage and the worker each add one): even for even n.
    even, odd = result.outputs["even"], result.outputs["default"]
    assert not result.errors and len(even) == (items + 1) // 2 and len(odd) == items // 2
    return rate


# --- memory -------------------------------------------------------------------------------------


async def memory(count: int) -> dict[str, dict[str, float]]:
    """RSS growth of streaming ``count`` items through `stream_pipe`, then through
    `dispatch_stream` alone, in one warm runtime."""
    pipe = PIPES["trivial"]
    trivial = dispatch_bench.executor("trivial")

    async def piped() -> int:
        seen = 0
        async with sa.stream_pipe(pipe, dispatch_bench.numbers(count)) as results:
            async for _ in results:
                seen += 1
        return seen

    async def dispatched() -> int:
        seen = 0
        async with sa.dispatch_stream(
            dispatch_bench.numbers(count),
            executor=trivial,
            batch_size=BATCH,
            max_in_flight=IN_FLIGHT,
        ) as results:
            async for _ in results:
                seen += 1
        return seen

    figures = {}
    async with sa.open_runtime(dispatch_bench.runtime_settings()):
        # Warm every code path first, so that first-use allocations do not count as growth.
        async with sa.stream_pipe(pipe, dispatch_bench.numbers(WARM_UP * 2)) as warm:
            async for _ in warm:
                pass
        async with sa.dispatch_stream(dispatch_bench.numbers(WARM_UP * 2), executor=trivial) as w:
            async for _ in w:
                pass
        figures[STREAMED] = await dispatch_bench.rss_growth(piped)
        figures["dispatch_stream, consumer counts"] = await dispatch_bench.rss_growth(dispatched)
    for name, figure in figures.items():
        assert figure["count"] == count, (name, figure["count"])
    return figures


# --- the rounds ---------------------------------------------------------------------------------


def contender(name: str, workload: str, items: int) -> float:
    """Items per second of one contender, each on its own fresh workers."""
    if name == RAW:
        return trio.run(pool_bench.raw_round, workload, items, 1)[0]
    if name == DISPATCH:
        return trio.run(dispatch_bench.dispatch_round, workload, items)
    return trio.run(pipe_round, workload, items)


def measure(rounds: int, items: int) -> dict[str, dict[str, float]]:
    """Interleave the contenders round by round (rotating who goes first); return medians."""
    rates: dict[str, dict[str, list[float]]] = {"trivial": {}, "cpu": {}}
    for number in range(rounds):
        order = CONTENDERS[number % len(CONTENDERS) :] + CONTENDERS[: number % len(CONTENDERS)]
        for workload, by_name in rates.items():
            for name in order:
                by_name.setdefault(name, []).append(contender(name, workload, items))
    return {
        workload: {name: statistics.median(by_name[name]) for name in CONTENDERS}
        for workload, by_name in rates.items()
    }


# --- the report ---------------------------------------------------------------------------------


def report(rates: dict[str, dict[str, float]], items: int, memory: dict[str, Any]) -> None:
    for workload, by_name in rates.items():
        print(f"\n{workload} workload, {items:,} items: items/s, vs dispatch alone, vs raw loop")
        for name, rate in by_name.items():
            print(
                f"  {name:<22}{rate:>14,.0f}{rate / by_name[DISPATCH]:>9.2f}x"
                f"{rate / by_name[RAW]:>9.2f}x"
            )
        cost = 1 / by_name[PIPE] - 1 / by_name[DISPATCH]
        print(
            f"  pipe vs dispatch alone: {by_name[PIPE] / by_name[DISPATCH]:.2f}x "
            f"({cost * 1e6:+.2f} µs per item, {cost * BATCH * 1e6:+.1f} µs per batch)"
        )

    count = int(memory[STREAMED]["count"])
    print(f"\nparent RSS while {count:,} trivial items go through, peak growth over the baseline")
    for name, figure in memory.items():
        how = "VmHWM reset" if figure["exact"] else "sampled only"
        print(
            f"  {name:<34}{figure['growth']:>8.1f} MB  (50 ms samples: "
            f"{figure['sampled']:.1f} MB; {how}; baseline {figure['baseline']:.0f} MB; "
            f"{figure['rate']:,.0f} items/s)"
        )

    print("\ngoals")
    for workload, by_name in rates.items():
        ratio = by_name[PIPE] / by_name[DISPATCH]
        pool_bench.goal(
            f"pipe {workload} throughput >= 0.8x dispatch alone", f"{ratio:.2f}x", ratio >= 0.8
        )
    dispatch_bench.rss_goal(memory[STREAMED]["growth"], count, "pipe stream")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer items, one round")
    quick = parser.parse_args().quick
    rounds, items, streamed = (1, 10_000, 100_000) if quick else (5, 100_000, 1_000_000)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {WORKERS} workers, batches "
        f"of {BATCH}, at most {IN_FLIGHT} in flight; {rounds} rounds (cpu workload ~50 µs "
        f"per item); pipe: local +1 -> worker -> parity router"
    )
    figures = trio.run(memory, streamed)
    report(measure(rounds, items), items, figures)


if __name__ == "__main__":
    main()
