"""The ``batch_stats`` demo's pure-Python baselines: the same four passes over the
datasets, in threads, each pass cutting the work as one of the slither_actors strategies
cuts its batches.

Each thread describes its datasets and adds their values to running totals per kind. In
``safe_python`` every thread has totals of its own, merged at the end as the workers' are;
in ``unsafe_threaded`` every thread adds to one shared set of totals: it reads a kind's
moments, extends them and writes them back, without a lock, and a thread that wrote in
between loses its update.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from slither_actors.examples._workload import run_in_threads, split
from slither_actors.examples.batch_stats_data import Datasets, StrategyRun, WorkerTotals
from slither_actors.examples.batch_stats_work import (
    Moments,
    PoisonedDataset,
    SessionTotals,
    describe_dataset,
)

__all__ = ["threaded"]

Parts = Callable[[list[dict[str, Any]], int], list[Iterable[dict[str, Any]]]]


def threaded(data: Datasets, threads: int, safe: bool) -> list[StrategyRun]:
    """Four passes over every dataset in ``threads`` threads, with totals per thread
    (``safe``) or shared by all of them."""
    passes: list[tuple[str, Parts]] = [
        ("slices", _slices),
        ("slices by size", _slices_by_size),
        ("by kind", _by_kind),
        ("shared queue", _shared_queue),
    ]
    return [_one_pass(label, parts(data.datasets, threads), safe) for label, parts in passes]


def _one_pass(label: str, parts: list[Iterable[dict[str, Any]]], safe: bool) -> StrategyRun:
    described: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    shared = SessionTotals()
    totals = [SessionTotals() if safe else shared for _ in parts]

    def work(datasets: Iterable[dict[str, Any]], mine: SessionTotals) -> Callable[[], None]:
        def run() -> None:
            for dataset in datasets:
                try:
                    described.append(describe_dataset(dataset))
                except PoisonedDataset as error:
                    failed.append({"name": dataset["name"], "error": f"PoisonedDataset: {error}"})
                    continue
                kind = dataset["kind"]
                mine.kinds[kind] = mine.kinds.get(kind, Moments()).extended(dataset["values"])
                mine.datasets += 1

        return run

    started = time.perf_counter()
    run_in_threads([work(datasets, mine) for datasets, mine in zip(parts, totals, strict=True)])
    seconds = time.perf_counter() - started
    if safe:
        counted = [
            WorkerTotals(f"thread {n}", one.datasets, one.kinds) for n, one in enumerate(totals, 1)
        ]
    else:
        counted = [WorkerTotals("shared", shared.datasets, shared.kinds)]
    return StrategyRun(label, described, failed, counted, seconds)


def _slices(datasets: list[dict[str, Any]], threads: int) -> list[Iterable[dict[str, Any]]]:
    """Contiguous slices of near-equal length (as FixedBatch cuts)."""
    return [list(part) for part in split(datasets, threads)]


def _slices_by_size(datasets: list[dict[str, Any]], threads: int) -> list[Iterable[dict[str, Any]]]:
    """Contiguous slices of near-equal numbers of values (as WeightedBatch cuts)."""
    share = max(1, sum(len(dataset["values"]) for dataset in datasets)) / threads
    parts: list[list[dict[str, Any]]] = [[] for _ in range(threads)]
    running = 0
    for dataset in datasets:
        parts[min(int(running / share), threads - 1)].append(dataset)
        running += len(dataset["values"])
    return list(parts)


def _by_kind(datasets: list[dict[str, Any]], threads: int) -> list[Iterable[dict[str, Any]]]:
    """All the datasets of a kind in one thread, the kinds dealt out in turn (as
    KeyPartition cuts)."""
    kinds = list(dict.fromkeys(dataset["kind"] for dataset in datasets))
    owner = {kind: index % threads for index, kind in enumerate(kinds)}
    parts: list[list[dict[str, Any]]] = [[] for _ in range(threads)]
    for dataset in datasets:
        parts[owner[dataset["kind"]]].append(dataset)
    return list(parts)


def _shared_queue(datasets: list[dict[str, Any]], threads: int) -> list[Iterable[dict[str, Any]]]:
    """One queue every thread takes its next dataset from (as a stream hands them out)."""
    waiting: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
    for dataset in datasets:
        waiting.put(dataset)

    def taken() -> Iterator[dict[str, Any]]:
        while True:
            try:
                yield waiting.get_nowait()
            except queue.Empty:
                return

    return [taken() for _ in range(threads)]
