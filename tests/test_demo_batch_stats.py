"""The batch_stats demo: it runs and passes from the command line, each of its checks fails
when the invariant it guards is broken, and a worker counts a batch only once it succeeded."""

from __future__ import annotations

import attrs
import pytest

import slither_actors as sa
from slither_actors.examples._workload import SAFE, SLITHER
from slither_actors.examples.batch_stats import WORKLOAD
from slither_actors.examples.batch_stats_data import (
    Datasets,
    StrategyRun,
    make_datasets,
)
from slither_actors.examples.batch_stats_threads import threaded
from slither_actors.examples.batch_stats_work import Moments
from tests.demo_runs import small_run, verdicts

WORK = "slither_actors.examples.batch_stats_work"

CHECKS = [
    "one fate per dataset",
    "every poisoned dataset fails",
    "no clean neighbour fails",
    "each dataset's stats match",
    "workers count each dataset once",
    "merged Welford totals match",
    "strategies agree",
]


@pytest.fixture(scope="module")
def data() -> Datasets:
    return make_datasets("small")


@pytest.fixture
def runs(data: Datasets) -> list[StrategyRun]:
    """A correct outcome to break: the safe baseline's four passes (a few milliseconds)."""
    return threaded(data, 2, True)


def failed(data: Datasets, runs: list[StrategyRun]) -> list[str]:
    return [one.name for one in WORKLOAD.check(data, runs) if not one.passed]


def with_last_run(runs: list[StrategyRun], **changes: object) -> list[StrategyRun]:
    """``runs`` with the last pass changed: the others stay right."""
    return [*runs[:-1], attrs.evolve(runs[-1], **changes)]


async def test_the_demo_runs_from_the_command_line_and_every_check_passes() -> None:
    runs = await small_run("batch_stats")
    for mode in (SLITHER, SAFE):
        assert verdicts(runs[mode]) == dict.fromkeys(CHECKS, True), mode
    assert list(runs[SLITHER]["figures"]) == [
        "startup_seconds",
        "FixedBatch(20)",
        "WeightedBatch(2,000 values)",
        "KeyPartition(kind)",
        "stream(FixedBatch(20))",
    ]


def test_a_correct_outcome_passes_every_check(data: Datasets, runs: list[StrategyRun]) -> None:
    assert failed(data, runs) == []
    assert len(data) == 200 and len(data.poisoned) == 5


def test_a_lost_dataset_breaks_one_fate(data: Datasets, runs: list[StrategyRun]) -> None:
    broken = with_last_run(runs, described=runs[-1].described[1:])
    assert "one fate per dataset" in failed(data, broken)


def test_a_dataset_described_twice_breaks_one_fate(data: Datasets, runs: list[StrategyRun]) -> None:
    described = runs[-1].described
    broken = with_last_run(runs, described=[*described, described[0]])
    assert "one fate per dataset" in failed(data, broken)


def test_a_poisoned_dataset_described_breaks_every_poisoned_fails(
    data: Datasets, runs: list[StrategyRun]
) -> None:
    poisoned, *others = runs[-1].failed
    fake = {"name": poisoned["name"], "kind": "small", "count": 1, "mean": 0.0, "variance": 0.0}
    broken = with_last_run(runs, described=[*runs[-1].described, fake], failed=others)
    assert "every poisoned dataset fails" in failed(data, broken)


def test_a_neighbour_failing_with_its_batch_breaks_no_clean_fails(
    data: Datasets, runs: list[StrategyRun]
) -> None:
    neighbour, *described = runs[-1].described
    skipped = {"name": neighbour["name"], "error": "WorkerError: failed with its batch"}
    broken = with_last_run(runs, described=described, failed=[*runs[-1].failed, skipped])
    assert "no clean neighbour fails" in failed(data, broken)


def test_a_wrong_mean_breaks_each_datasets_stats(data: Datasets, runs: list[StrategyRun]) -> None:
    first, *rest = runs[-1].described
    broken = with_last_run(runs, described=[{**first, "mean": first["mean"] * 1.001}, *rest])
    assert "each dataset's stats match" in failed(data, broken)


def test_a_batch_counted_twice_breaks_workers_count_once(
    data: Datasets, runs: list[StrategyRun]
) -> None:
    first, *rest = runs[-1].totals
    broken = with_last_run(runs, totals=[attrs.evolve(first, datasets=first.datasets + 1), *rest])
    assert failed(data, broken) == ["workers count each dataset once"]


def test_a_lost_update_breaks_the_merged_totals(data: Datasets, runs: list[StrategyRun]) -> None:
    """One value fewer in a worker's totals for a kind, as an unlocked shared update loses."""
    first, *rest = runs[-1].totals
    kind, moments = next(iter(first.kinds.items()))
    lost = {**first.kinds, kind: attrs.evolve(moments, count=moments.count - 1)}
    broken = with_last_run(runs, totals=[attrs.evolve(first, kinds=lost), *rest])
    assert failed(data, broken) == ["merged Welford totals match"]


def test_a_missing_worker_breaks_the_merged_totals_and_the_counts(
    data: Datasets, runs: list[StrategyRun]
) -> None:
    broken = with_last_run(runs, totals=runs[-1].totals[1:])
    assert failed(data, broken) == [
        "workers count each dataset once",
        "merged Welford totals match",
    ]


def test_stats_that_differ_between_strategies_break_agreement(
    data: Datasets, runs: list[StrategyRun]
) -> None:
    """A difference well within the reference's tolerance still breaks agreement: every
    strategy runs the same code on the same dataset, so their stats are equal to the bit."""
    first, *rest = runs[-1].described
    nudged = {**first, "mean": first["mean"] * (1 + 1e-12)}
    broken = with_last_run(runs, described=[nudged, *rest])
    assert failed(data, broken) == ["strategies agree"]


async def test_a_worker_counts_a_batch_only_once_it_has_succeeded() -> None:
    """A batch that fails is run again in halves: its good datasets must not count twice."""
    good = {"name": "good", "kind": "small", "values": [1.0, 2.0, 3.0]}
    poisoned = {"name": "bad", "kind": "small", "values": [1.0, None]}
    async with sa.open_pool(sa.PoolSettings(size=1, preload=(WORK,))) as pool:
        with pytest.raises(sa.WorkerError, match="bad value 1 is None, not a finite number"):
            await pool.call(f"{WORK}:describe", [good, poisoned], session_id="s")
        await pool.call(f"{WORK}:describe", [good], session_id="s")
        [reply] = await pool.broadcast(f"{WORK}:collect", "s")
        [again] = await pool.broadcast(f"{WORK}:collect", "s")
    assert reply.value == {"worker": 1, "datasets": 1, "kinds": {"small": [3, 2.0, 2.0]}}
    assert again.value == {"worker": 1, "datasets": 0, "kinds": {}}  # collected, forgotten


def test_welford_totals_merge_into_those_of_all_the_numbers() -> None:
    numbers = [3.5, -1.0, 7.25, 0.0, 2.0, 11.0, 4.5]
    whole = Moments().extended(numbers)
    merged = Moments().extended(numbers[:3]).merged(Moments().extended(numbers[3:]))
    assert merged.count == whole.count == 7
    assert merged.mean == pytest.approx(whole.mean) == pytest.approx(sum(numbers) / 7)
    assert merged.variance == pytest.approx(whole.variance)
    assert Moments.from_list(whole.to_list()) == whole
