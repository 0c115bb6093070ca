"""Pipe speed and memory: a 3-stage pipe (local → worker → router) beside `dispatch` alone
on the same work, and the raw trio pipe loop for scale.

Measured in one run, for the same work on 2 worker processes:

- throughput on 100,000 integers in batches of 64, at most 4 batches in flight, for a
  trivial function and a ~50 µs-per-item one (bench/workloads.py; every contender
  collects all results), and the parent's CPU time per item over the same run
  (``time.thread_time()`` around the timed work: the parent is one thread, and its CPU per
  item caps the items/s of all workers together):

  - the pipe with item handlers: ``run_pipe(Scored, items)`` in an open runtime, where
    ``Scored`` is ``LocalStage("prepare", plus_one)`` (the handler returns
    ``item.payload + 1``), ``WorkerStage("work", module="workloads",
    function=f"{workload}_batch", batch_size=64, max_in_flight=4)`` and
    ``RouterStage("route", [(is_even, "even")])`` (``is_even(item)``; odd payloads leave
    through ``default``); every other stage setting is the default (inboxes of 64, one
    lane, ordered, halt on error). The input is a ready list of plain ints, which the
    pipe wraps into `Item`s as it reads them; the outputs come back as lists of `Item`s;
  - the same pipe with payload handlers: ``LocalStage("prepare", plus_one_payload,
    takes="payload")`` (``x + 1``) and ``RouterStage("route", [(is_even_payload,
    "even")], takes="payload")`` (``x % 2 == 0``), the worker stage as above;
  - ``dispatch(items, executor=WorkerExecutor("workloads", f"{workload}_batch"),
    batch_size=64, max_in_flight=4)`` alone, as bench/dispatch.py calls it (the same ready
    list, the same worker function and batching). The gap between it and a pipe is what
    the pipe adds: the local stage, the router, the chunks sent between stages and to
    the exit, and the stage actors around them;
  - the raw trio pipe loop from bench/pool.py (the limit: length-prefixed msgpack to 2
    plain worker scripts, no pool, no supervision, no items).

  Each contender starts its own workers and times only the work; the pipes and dispatch
  first run a small warm-up through the same path in the same runtime. Within a round the
  contenders take turns, in an order rotated round by round, so that noise on this shared
  machine hits all of them alike;
- what each stage costs the parent, on the trivial workload: its CPU µs per item for the
  pipe cut short after the worker stage, after the local stage and after the router, in
  both forms, beside `dispatch` alone, all in one warm runtime (medians of as many runs
  as there are rounds). The first figure is what the pipe adds around the worker stage
  (the feeder wrapping the input in items, the worker stage, the collector); each next
  one, what that stage adds;
- the parent's peak RSS growth while 1,000,000 integers from a generator stream through
  ``stream_pipe(Scored, ...)`` (trivial workload, item handlers) and the consumer only
  counts them; beside it, in the same runtime and after it, the same for
  `dispatch_stream` alone.

RSS growth is measured with bench/dispatch.py's functions: with the runtime open and warm,
after ``gc.collect()``, the baseline is VmRSS; the kernel's high-water mark is reset by
writing ``5`` to /proc/self/clear_refs, so VmHWM then records the true peak, however
brief; a trio task samples VmRSS every 50 ms as a cross-check and as the fallback where
clear_refs cannot be written. Growth is the peak minus the baseline. The memory runs come
before the throughput rounds, so that memory freed by earlier runs does not hide growth.

Every figure is the median over the rounds; ratios compare with dispatch alone. The goals
(issue 14): each pipe at 0.5x dispatch alone or better on the trivial workload, 0.95x on
the cpu one. Nothing is asserted: this is a report. Run it from the repository root::

    python bench/pipe.py            # full run, about two and a half minutes
    python bench/pipe.py --quick    # smoke run, under 10 seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
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

PIPE = "pipe, item handlers"
PAYLOAD_PIPE = "pipe, payload handlers"
PIPES_BY_NAME = (PIPE, PAYLOAD_PIPE)
CONTENDERS = (RAW, DISPATCH, PIPE, PAYLOAD_PIPE)
WARM_UP = BATCH * IN_FLIGHT * 2
STREAMED = "stream_pipe, consumer counts"
GOALS = {"trivial": 0.5, "cpu": 0.95}  # each pipe's throughput vs dispatch alone


# --- the pipe -----------------------------------------------------------------------------------


def plus_one(item: sa.Item, ctx: sa.Context) -> int:
    return item.payload + 1


def is_even(item: sa.Item) -> bool:
    return item.payload % 2 == 0


def plus_one_payload(number: int) -> int:
    return number + 1


def is_even_payload(number: int) -> bool:
    return number % 2 == 0


def scored(workload: str, takes: str, parts: int = 3) -> type[sa.Pipe]:
    """The benchmark's pipe for ``workload``: local +1, the workload in workers, parity;
    its local stage and router take the item (``takes="item"``) or the payload. With
    ``parts`` 1 or 2, only the worker stage, or the local stage and the worker stage."""
    if takes == "payload":
        local = sa.LocalStage("prepare", plus_one_payload, takes="payload")
        router = sa.RouterStage("route", [(is_even_payload, "even")], takes="payload")
    else:
        local = sa.LocalStage("prepare", plus_one)
        router = sa.RouterStage("route", [(is_even, "even")])
    worker = sa.WorkerStage(
        "work",
        module="workloads",
        function=f"{workload}_batch",
        batch_size=BATCH,
        max_in_flight=IN_FLIGHT,
    )

    class Scored(sa.Pipe):
        pipe_name = f"scored_{workload}_{takes}_{parts}"
        stages = [[worker], [local, worker], [local, worker, router]][parts - 1]
        outputs = ["even"]

    return Scored


PIPES = {
    (name, workload): scored(workload, "payload" if name == PAYLOAD_PIPE else "item")
    for name in PIPES_BY_NAME
    for workload in ("trivial", "cpu")
}


async def pipe_round(name: str, workload: str, items: int) -> tuple[float, float]:
    """Items per second through ``run_pipe`` (its runtime open and warm), and the parent's
    CPU µs per item."""
    pipe = PIPES[name, workload]
    async with sa.open_runtime(dispatch_bench.runtime_settings()):
        await sa.run_pipe(pipe, range(WARM_UP))  # warm up the runtime, workers and stages
        work = list(range(items))
        start, cpu = time.perf_counter(), time.thread_time()
        result = await sa.run_pipe(pipe, work)
        rate = items / (time.perf_counter() - start)
        cpu_per_item = (time.thread_time() - cpu) / items * 1e6
    # Each payload is n + 2 (the local stage and the worker each add one): even for even n.
    even, odd = result.outputs["even"], result.outputs["default"]
    assert not result.errors and len(even) == (items + 1) // 2 and len(odd) == items // 2
    return rate, cpu_per_item


async def dispatch_round(workload: str, items: int) -> tuple[float, float]:
    """Items per second through `dispatch` (bench/dispatch.py's round, with the parent's
    CPU µs per item measured around the same call)."""
    executor = dispatch_bench.executor(workload)
    async with sa.open_runtime(dispatch_bench.runtime_settings()):
        await sa.dispatch([0], executor=executor)  # warm up the runtime and workers
        work = list(range(items))
        start, cpu = time.perf_counter(), time.thread_time()
        results = await sa.dispatch(
            work, executor=executor, batch_size=BATCH, max_in_flight=IN_FLIGHT
        )
        rate = items / (time.perf_counter() - start)
        cpu_per_item = (time.thread_time() - cpu) / items * 1e6
    assert len(results) == items and results[-1].payload == items
    return rate, cpu_per_item


async def raw_round(workload: str, items: int) -> tuple[float, float]:
    """Items per second through bench/pool.py's raw loop (one pass, its workers started and
    each answered once before), and the parent's CPU µs per item over that pass."""
    processes = await pool_bench.open_raw_workers()
    try:
        for process in processes:
            await pool_bench.raw_drive(process, iter([[0]]), workload, [])

        def start(nursery: trio.Nursery, work: Iterator[list[int]], results: list[int]) -> None:
            for process in processes:
                nursery.start_soon(pool_bench.raw_drive, process, work, workload, results)

        cpu = time.thread_time()
        (rate,) = await pool_bench.timed_passes(1, items, start)
        return rate, (time.thread_time() - cpu) / items * 1e6
    finally:
        await pool_bench.close_raw_workers(processes)


# --- what each stage costs ---------------------------------------------------------------------

STAGES = ("the worker stage alone", "+ the local stage", "+ the router")


async def stage_costs(rounds: int, items: int) -> dict[str, dict[str, float]]:
    """The parent's CPU µs per item of the trivial pipe cut short after each stage, in both
    forms, beside `dispatch` alone: medians over ``rounds`` runs, all in one warm runtime.
    The first figure is what the pipe adds around the worker stage (the feeder wrapping
    the input in items, the worker stage, the collector); each next one, what the stage
    adds."""
    variants = {
        (takes, parts): scored("trivial", takes, parts)
        for takes in ("item", "payload")
        for parts in (1, 2, 3)
    }
    executor = dispatch_bench.executor("trivial")
    cpu: dict[Any, list[float]] = {key: [] for key in [*variants, DISPATCH]}
    async with sa.open_runtime(dispatch_bench.runtime_settings()):
        for pipe in variants.values():
            await sa.run_pipe(pipe, range(WARM_UP))
        work = list(range(items))
        for _ in range(rounds):
            for key, pipe in variants.items():
                start = time.thread_time()
                await sa.run_pipe(pipe, work)
                cpu[key].append((time.thread_time() - start) / items * 1e6)
            start = time.thread_time()
            await sa.dispatch(work, executor=executor, batch_size=BATCH, max_in_flight=IN_FLIGHT)
            cpu[DISPATCH].append((time.thread_time() - start) / items * 1e6)
    medians = {key: statistics.median(figures) for key, figures in cpu.items()}
    costs = {DISPATCH: {"alone": medians[DISPATCH]}}
    for takes in ("item", "payload"):
        whole = [medians[takes, parts] for parts in (1, 2, 3)]
        added = [whole[0], whole[1] - whole[0], whole[2] - whole[1]]
        costs[takes] = dict(zip(STAGES, added, strict=True))
    return costs


# --- memory -------------------------------------------------------------------------------------


async def memory(count: int) -> dict[str, dict[str, float]]:
    """RSS growth of streaming ``count`` items through `stream_pipe`, then through
    `dispatch_stream` alone, in one warm runtime."""
    pipe = PIPES[PIPE, "trivial"]
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


def contender(name: str, workload: str, items: int) -> tuple[float, float]:
    """Items per second of one contender, each on its own fresh workers, and the parent's
    CPU µs per item."""
    if name == RAW:
        return trio.run(raw_round, workload, items)
    if name == DISPATCH:
        return trio.run(dispatch_round, workload, items)
    return trio.run(pipe_round, name, workload, items)


Figures = dict[str, dict[str, tuple[float, float]]]


def measure(rounds: int, items: int) -> Figures:
    """Interleave the contenders round by round (rotating who goes first); return the
    medians of the rates and of the CPU times."""
    runs: dict[str, dict[str, list[tuple[float, float]]]] = {"trivial": {}, "cpu": {}}
    for number in range(rounds):
        order = CONTENDERS[number % len(CONTENDERS) :] + CONTENDERS[: number % len(CONTENDERS)]
        for workload, by_name in runs.items():
            for name in order:
                by_name.setdefault(name, []).append(contender(name, workload, items))
    return {
        workload: {
            name: (
                statistics.median(rate for rate, _ in by_name[name]),
                statistics.median(cpu for _, cpu in by_name[name]),
            )
            for name in CONTENDERS
        }
        for workload, by_name in runs.items()
    }


# --- the report ---------------------------------------------------------------------------------


def report(figures: Figures, items: int, memory: dict[str, Any]) -> None:
    for workload, by_name in figures.items():
        print(
            f"\n{workload} workload, {items:,} items: items/s, vs dispatch alone, vs raw loop, "
            "parent CPU per item"
        )
        dispatch_rate, dispatch_cpu = by_name[DISPATCH]
        for name, (rate, cpu) in by_name.items():
            print(
                f"  {name:<24}{rate:>12,.0f}{rate / dispatch_rate:>9.2f}x"
                f"{rate / by_name[RAW][0]:>9.2f}x{cpu:>9.2f} µs"
            )
        for name in PIPES_BY_NAME:
            rate, cpu = by_name[name]
            cost = 1 / rate - 1 / dispatch_rate
            print(
                f"  {name} vs dispatch alone: {rate / dispatch_rate:.2f}x "
                f"({cost * 1e6:+.2f} µs per item wall, {cpu - dispatch_cpu:+.2f} µs parent CPU)"
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
    for workload, by_name in figures.items():
        for name in PIPES_BY_NAME:
            ratio = by_name[name][0] / by_name[DISPATCH][0]
            wanted = GOALS[workload]
            pool_bench.goal(
                f"{name} (local -> worker -> router), {workload}: >= {wanted}x dispatch alone",
                f"{ratio:.2f}x",
                ratio >= wanted,
            )
    dispatch_bench.rss_goal(memory[STREAMED]["growth"], count, "pipe stream")


def report_stage_costs(costs: dict[str, dict[str, float]], items: int) -> None:
    print(
        f"\ntrivial workload, {items:,} items: the parent's CPU per item, stage by stage "
        "(medians, one runtime)"
    )
    print(f"  {'':<26}{'item handlers':>16}{'payload handlers':>18}")
    for stage in STAGES:
        sign = "" if stage == STAGES[0] else "+"  # what a stage adds is shown as +x
        print(
            f"  {stage:<26}{costs['item'][stage]:>{sign}13.2f} µs"
            f"{costs['payload'][stage]:>{sign}15.2f} µs"
        )
    print(f"  {'dispatch alone':<26}{costs[DISPATCH]['alone']:>13.2f} µs")


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
    costs = trio.run(stage_costs, rounds, items)
    report(measure(rounds, items), items, figures)
    report_stage_costs(costs, items)


if __name__ == "__main__":
    main()
