"""Demo: statistics over 2,000 datasets in worker processes, 50 of them poisoned.

800 small datasets (5-10 values), 800 medium (50-100) and 350 large (200-500), shuffled
with 50 poisoned ones: a None among the values, a 'NaN' string, or no values at all. The
same work runs four times, each pass a `dispatch` session of its own:

- ``FixedBatch(20)``: batches of 20 datasets;
- ``WeightedBatch(2,000 values)``: batches of at most 2,000 values, so a batch of large
  datasets costs about what a batch of small ones does;
- ``KeyPartition(kind)``: batches of one kind each;
- ``stream(FixedBatch(20))``: `dispatch_stream`, results handed over as they complete.

Each worker describes its datasets (count, mean, variance, by Welford's method) and keeps
running totals per kind for the session, in its own process, so no lock is needed; after a
pass the parent collects every worker's totals with one `broadcast` and merges them. A
poisoned dataset fails its whole batch; ``Retry(isolate=True)`` splits the batch in halves
until the poisoned dataset is alone, so exactly the poisoned datasets fail, and none of the
clean datasets that shared a batch with one.

The report counts 8,000 items, every dataset once in each of the four passes; the threaded
baselines (`batch_stats_threads`) make the same four passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import slither_actors as sa
from slither_actors.examples._workload import Options, Workload
from slither_actors.examples.batch_stats_data import (
    Datasets,
    StrategyRun,
    WorkerTotals,
    check_runs,
    make_datasets,
)
from slither_actors.examples.batch_stats_threads import threaded
from slither_actors.examples.batch_stats_work import Moments

__all__ = ["STRATEGIES", "WORKLOAD", "describe_all", "settings"]

WORK = "slither_actors.examples.batch_stats_work"
POOL = "stats"
DESCRIBE = sa.WorkerExecutor(WORK, "describe", pool=POOL)
COLLECT = f"{WORK}:collect"

ISOLATE = sa.Retry(max_attempts=1, isolate=True, then="skip")
"""A failed batch is split in halves, then halves of halves, down to the datasets that
fail alone: those are skipped, marked with their error; the rest are described."""

_BATCH_ENDS = [
    ("slither", "dispatch", "batch", "stop"),
    ("slither", "dispatch", "batch", "exception"),
]


def value_count(dataset: dict[str, Any]) -> int:
    """A dataset's weight for `WeightedBatch`: how many values it holds."""
    return len(dataset["values"])


def kind_of(dataset: dict[str, Any]) -> str:
    """A dataset's key for `KeyPartition`: its kind."""
    return str(dataset["kind"])


STRATEGIES: dict[str, sa.BatchStrategy] = {
    "FixedBatch(20)": sa.FixedBatch(20),
    "WeightedBatch(2,000 values)": sa.WeightedBatch(2_000, weight=value_count),
    "KeyPartition(kind)": sa.KeyPartition(kind_of, max_batch=20),
}
STREAMED = "stream(FixedBatch(20))", sa.FixedBatch(20)
PASSES = len(STRATEGIES) + 1


def settings(options: Options) -> sa.Settings:
    """A pool of ``options.workers`` workers that preload the demo's worker module, and four
    batches in flight per worker: two written to it, two waiting, so none idles."""
    return sa.Settings(
        pools=(sa.PoolSettings(name=POOL, size=options.workers, preload=(WORK,)),),
        dispatch=sa.DispatchSettings(max_in_flight=4 * options.workers),
    )


async def describe_all(runtime: sa.Runtime, data: Datasets, options: Options) -> list[StrategyRun]:
    """Every dataset described under each strategy, then once more as a stream."""
    pool = await runtime.pool(POOL)
    runs = [
        await _one_pass(pool, data, label, strategy, options.bar(label))
        for label, strategy in STRATEGIES.items()
    ]
    label, strategy = STREAMED
    runs.append(await _one_pass(pool, data, label, strategy, options.bar(label), streamed=True))
    return runs


async def _one_pass(
    pool: sa.WorkerPool,
    data: Datasets,
    label: str,
    strategy: sa.BatchStrategy,
    progress: Callable[[sa.Progress], None] | None,
    *,
    streamed: bool = False,
) -> StrategyRun:
    """One pass over every dataset in a session of its own, its batches counted from
    telemetry, then every worker's totals for the session; ``progress`` shows how far it
    has got."""
    context = sa.Context.new(session_id=f"batch_stats {label}")
    with sa.telemetry.capture(_BATCH_ENDS) as batch_ends:
        started = time.perf_counter()
        results: Sequence[sa.Item]
        if streamed:
            results = await _in_completion_order(data, strategy, context, progress)
        else:
            results = await sa.dispatch(
                data.datasets,
                executor=DESCRIBE,
                strategy=strategy,
                on_error=ISOLATE,
                context=context,
                progress=progress,
            )
        seconds = time.perf_counter() - started
    totals = await _collected(pool, context.session_id)
    calls = [event for event in batch_ends if event.metadata["executor"] == DESCRIBE.name]
    return StrategyRun(
        label,
        described=[item.payload for item in results if not item.meta.get("skipped")],
        failed=[
            {"name": item.payload["name"], "error": item.meta["error"]}
            for item in results
            if item.meta.get("skipped")
        ],
        totals=totals,
        seconds=seconds,
        batches=len({event.metadata["batch_ref"] for event in calls}),
        calls=len(calls),
        neighbours=_neighbours(data, strategy),
        overtaken=_overtaken(data, results) if streamed else None,
    )


async def _in_completion_order(
    data: Datasets,
    strategy: sa.BatchStrategy,
    context: sa.Context,
    progress: Callable[[sa.Progress], None] | None,
) -> list[sa.Item]:
    """The results of a stream, as each batch completes: a batch being isolated holds up
    none of those behind it."""
    results = []
    async with sa.dispatch_stream(
        data.datasets,
        executor=DESCRIBE,
        strategy=strategy,
        ordering="as_completed",
        on_error=ISOLATE,
        context=context,
        progress=progress,
    ) as stream:
        async for item in stream:
            results.append(item)
    return results


async def _collected(pool: sa.WorkerPool, session_id: str) -> list[WorkerTotals]:
    """Every worker's totals for a session, by one broadcast: each worker answers once and
    forgets them. The session is over, so the pool forgets it too."""
    replies = await pool.broadcast(COLLECT, session_id)
    pool.end_session(session_id)
    totals = []
    for reply in replies:
        if reply.error is not None:
            raise reply.error
        kinds = {kind: Moments.from_list(moments) for kind, moments in reply.value["kinds"].items()}
        totals.append(WorkerTotals(f"worker {reply.worker_id}", reply.value["datasets"], kinds))
    return totals


def _neighbours(data: Datasets, strategy: sa.BatchStrategy) -> int:
    """The clean datasets that ``strategy`` cuts into a batch with a poisoned one."""
    count = 0
    for batch in sa.split(strategy, data.datasets):
        names = [item.payload["name"] for item in batch]
        if any(name in data.poisoned for name in names):
            count += sum(name not in data.poisoned for name in names)
    return count


def _overtaken(data: Datasets, results: Sequence[sa.Item]) -> int:
    """How many datasets were handed over after one that came later in the input."""
    position = {dataset["name"]: index for index, dataset in enumerate(data.datasets)}
    latest, count = -1, 0
    for item in results:
        index = position[item.payload["name"]]
        count += index < latest
        latest = max(latest, index)
    return count


WORKLOAD = Workload(
    name="batch_stats",
    summary="2,000 datasets, 50 poisoned: FixedBatch, WeightedBatch, KeyPartition and a "
    "stream; Welford merge; exactly the poisoned ones fail",
    make_data=make_datasets,
    settings=settings,
    slither=describe_all,
    threaded=threaded,
    check=check_runs,
    count=lambda data: len(data) * PASSES,
    figures=lambda data, outcome: {run.label: run.figure() for run in outcome},
    stages=(DESCRIBE.name,),
)
