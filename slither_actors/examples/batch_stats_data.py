"""The ``batch_stats`` demo's datasets, what a run of it gives back, and the invariants
that judge every mode: each checked against a plain two-pass reference computed here."""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import attrs

from slither_actors.examples._workload import Check, check
from slither_actors.examples.batch_stats_work import Moments

__all__ = [
    "KINDS",
    "Datasets",
    "StrategyRun",
    "WorkerTotals",
    "check_runs",
    "make_datasets",
    "merged_kinds",
]


@attrs.frozen
class Kind:
    """A kind of dataset: how many there are at each size, how many values each holds, and
    the normal distribution they are drawn from."""

    name: str
    full: int
    small: int
    fewest: int
    most: int
    centre: float
    spread: float


KINDS = (
    Kind("small", 800, 80, 5, 10, 10.0, 2.0),
    Kind("medium", 800, 80, 50, 100, 100.0, 15.0),
    Kind("large", 350, 35, 200, 500, 1000.0, 120.0),
)
POISONED = {"full": 50, "small": 5}
POISONS = ("a None value", "a 'NaN' string", "no values")


@attrs.frozen
class Datasets:
    """The demo's input, shuffled, and the names of the poisoned datasets among it (known
    from how they were made, not from any run)."""

    datasets: list[dict[str, Any]]
    poisoned: frozenset[str]

    def __len__(self) -> int:
        return len(self.datasets)


def make_datasets(size: str) -> Datasets:
    """The datasets of a size (seeded): per kind, lists of numbers; the poisoned ones look
    like the others but hold a None, a 'NaN' string or nothing at all."""
    rng = random.Random(2000)
    made: list[tuple[str, list[Any], bool]] = []
    for kind in KINDS:
        count = kind.full if size == "full" else kind.small
        made.extend((kind.name, _values(rng, kind), False) for _ in range(count))
    for index in range(POISONED[size]):
        kind = KINDS[index % len(KINDS)]
        values: list[Any] = _values(rng, kind)
        poison = POISONS[index // len(KINDS) % len(POISONS)]
        if poison == "no values":
            values = []
        else:
            values[rng.randrange(len(values))] = None if poison == "a None value" else "NaN"
        made.append((kind.name, values, True))
    rng.shuffle(made)
    datasets = [
        {"name": f"ds{number:04}", "kind": kind, "values": values}
        for number, (kind, values, _) in enumerate(made, 1)
    ]
    poisoned = frozenset(f"ds{number:04}" for number, (*_, bad) in enumerate(made, 1) if bad)
    return Datasets(datasets, poisoned)


def _values(rng: random.Random, kind: Kind) -> list[float]:
    count = rng.randint(kind.fewest, kind.most)
    return [round(rng.gauss(kind.centre, kind.spread), 3) for _ in range(count)]


@attrs.frozen
class WorkerTotals:
    """One worker's (or thread's) running totals: the datasets it counted and the moments
    of their values per kind."""

    worker: str
    datasets: int
    kinds: dict[str, Moments]


@attrs.frozen
class StrategyRun:
    """One pass over every dataset under one way of cutting the work.

    ``described`` holds each described dataset's stats and ``failed`` each failed one's
    name and error, as they came back; ``totals`` holds every worker's totals. ``batches``
    and ``calls`` count the batches cut and the calls made (isolating halves included);
    ``neighbours`` the clean datasets cut into a batch with a poisoned one; ``overtaken``
    (for a stream) the datasets handed over after a later one.
    """

    label: str
    described: list[dict[str, Any]]
    failed: list[dict[str, str]]
    totals: list[WorkerTotals]
    seconds: float
    batches: int = 0
    calls: int = 0
    neighbours: int = 0
    overtaken: int | None = None

    def figure(self) -> str:
        """Its time and batches, for the report."""
        text = f"{self.seconds:.3f} s"
        if self.batches:
            text += f" in {self.batches} batches ({self.calls} calls)"
        if self.overtaken is not None:
            text += f" with {self.overtaken:,} datasets overtaken"
        return text


def merged_kinds(totals: list[WorkerTotals]) -> dict[str, Moments]:
    """The moments per kind of every worker's totals, merged."""
    merged: dict[str, Moments] = {}
    for one in totals:
        for kind, moments in one.kinds.items():
            merged[kind] = merged.get(kind, Moments()).merged(moments)
    return merged


# --- the invariants -------------------------------------------------------------------


@attrs.frozen
class _Reference:
    """Count, mean and sample variance by two passes with exact sums (math.fsum)."""

    count: int
    mean: float
    variance: float

    @classmethod
    def of(cls, values: list[float]) -> _Reference:
        mean = math.fsum(values) / len(values)
        squares = math.fsum((value - mean) ** 2 for value in values)
        return cls(len(values), mean, squares / (len(values) - 1))

    def matches(self, count: int, mean: float, variance: float) -> bool:
        return (
            count == self.count
            and math.isclose(mean, self.mean, rel_tol=1e-9, abs_tol=1e-9)
            and math.isclose(variance, self.variance, rel_tol=1e-9, abs_tol=1e-9)
        )


def check_runs(data: Datasets, runs: list[StrategyRun]) -> list[Check]:
    """The demo's invariants over every strategy's run, the same for every mode: each
    compares the runs with the input, or with a reference computed here from the input."""
    if not runs:
        return [check("ran", False, "no strategy ran")]
    clean = [dataset for dataset in data.datasets if dataset["name"] not in data.poisoned]
    per_dataset = {dataset["name"]: _Reference.of(dataset["values"]) for dataset in clean}
    per_kind = {
        kind.name: _Reference.of(
            [value for one in clean if one["kind"] == kind.name for value in one["values"]]
        )
        for kind in KINDS
    }
    under = f"under each of {len(runs)} strategies"
    return [
        _one_fate(data, runs, under),
        _poisoned_fail(data, runs, under),
        _no_clean_fails(data, runs, under),
        _dataset_stats(per_dataset, runs),
        _counted_once(runs),
        _merged_totals(per_kind, runs, under),
        _strategies_agree(runs),
    ]


def _one_fate(data: Datasets, runs: list[StrategyRun], under: str) -> Check:
    expected = Counter(dataset["name"] for dataset in data.datasets)
    wrong = [
        run.label
        for run in runs
        if Counter(one["name"] for one in run.described + run.failed) != expected
    ]
    figures = ", ".join(f"{len(run.described):,} + {len(run.failed):,}" for run in runs)
    outcome = f"lost or doubled under {', '.join(wrong)}" if wrong else f"once each {under}"
    return check(
        "one fate per dataset",
        not wrong,
        f"{len(data):,} datasets, described + failed: {figures}; {outcome}",
    )


def _poisoned_fail(data: Datasets, runs: list[StrategyRun], under: str) -> Check:
    wrong = [
        f"{run.label} described {', '.join(sorted(missed))}"
        for run in runs
        if (missed := data.poisoned - {one["name"] for one in run.failed})
    ]
    detail = f"all {len(data.poisoned)} poisoned datasets failed {under}"
    return check("every poisoned dataset fails", not wrong, "; ".join(wrong) or detail)


def _no_clean_fails(data: Datasets, runs: list[StrategyRun], under: str) -> Check:
    wrong = [
        f"{run.label} failed {', '.join(clean[:5])}"
        for run in runs
        if (clean := [one["name"] for one in run.failed if one["name"] not in data.poisoned])
    ]
    detail = f"no clean dataset failed {under}"
    neighbours = [f"{run.label} {run.neighbours:,}" for run in runs if run.neighbours]
    if neighbours:
        detail += f"; clean datasets batched with a poisoned one: {', '.join(neighbours)}"
    return check("no clean neighbour fails", not wrong, "; ".join(wrong) or detail)


def _dataset_stats(per_dataset: dict[str, _Reference], runs: list[StrategyRun]) -> Check:
    described = [(run.label, one) for run in runs for one in run.described]
    wrong = [
        f"{label} {one['name']}"
        for label, one in described
        if one["name"] not in per_dataset
        or not per_dataset[one["name"]].matches(one["count"], one["mean"], one["variance"])
    ]
    return check(
        "each dataset's stats match",
        bool(described) and not wrong,
        f"{len(described) - len(wrong):,} of {len(described):,} described datasets match a "
        "two-pass reference (count exact, mean and variance within 1e-9)"
        + (f"; wrong: {', '.join(wrong[:5])}" if wrong else ""),
    )


def _counted_once(runs: list[StrategyRun]) -> Check:
    wrong, figures = [], []
    for run in runs:
        counted = sum(one.datasets for one in run.totals)
        figures.append(" + ".join(f"{one.datasets:,}" for one in run.totals))
        if counted != len(run.described):
            wrong.append(f"{run.label} counted {counted:,} for {len(run.described):,} described")
    return check(
        "workers count each dataset once",
        not wrong,
        "; ".join(wrong) or f"described datasets in each worker's totals: {'; '.join(figures)}",
    )


def _merged_totals(per_kind: dict[str, _Reference], runs: list[StrategyRun], under: str) -> Check:
    wrong = []
    for run in runs:
        merged = merged_kinds(run.totals)
        for kind, reference in per_kind.items():
            moments = merged.get(kind, Moments())
            if not reference.matches(moments.count, moments.mean, moments.variance):
                wrong.append(
                    f"{run.label} {kind} {moments.count:,} values mean {moments.mean:.6f} "
                    f"(not {reference.count:,}, {reference.mean:.6f})"
                )
    kinds = ", ".join(
        f"{kind} {reference.count:,} values mean {reference.mean:.3f} var {reference.variance:.3f}"
        for kind, reference in per_kind.items()
    )
    return check(
        "merged Welford totals match",
        not wrong,
        "; ".join(wrong) or f"every worker's totals merged per kind {under}: {kinds}",
    )


def _strategies_agree(runs: list[StrategyRun]) -> Check:
    def results(run: StrategyRun) -> tuple[dict[str, Any], set[str]]:
        # Errors are compared by dataset only: their text names the worker that met them.
        return {one["name"]: one for one in run.described}, {one["name"] for one in run.failed}

    first = results(runs[0])
    wrong = [run.label for run in runs[1:] if results(run) != first]
    return check(
        "strategies agree",
        not wrong,
        f"differ from {runs[0].label}: {', '.join(wrong)}"
        if wrong
        else f"{len(runs)} strategies: the same stats for {len(first[0]):,} datasets, "
        f"the same {len(first[1]):,} failures",
    )
