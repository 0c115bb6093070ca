"""Progress reports: what `dispatch`, `dispatch_stream`, `run_pipe` and `stream_pipe` tell a
``progress=`` callable, how often, and the rich bar that draws them."""

from __future__ import annotations

import io
import itertools
import logging
import subprocess
import sys
import types
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing

import slither_actors as sa
from slither_actors.examples._present import ProgressBoard
from slither_actors.examples._workload import Options
from slither_actors.progress import INTERVAL
from tests.pool_helpers import pool_settings


def doubled(numbers: list[int]) -> list[int]:
    return [number * 2 for number in numbers]


DOUBLE = sa.LocalExecutor(doubled)


def slow(seconds: float) -> sa.LocalExecutor:
    """An executor that doubles, taking ``seconds`` of Trio's clock per batch."""

    async def double_slowly(numbers: list[int]) -> list[int]:
        await trio.sleep(seconds)
        return doubled(numbers)

    return sa.LocalExecutor(double_slowly)


def refuse_odd(numbers: list[int]) -> list[int]:
    if any(number % 2 for number in numbers):
        raise ValueError(f"odd number in {numbers}")
    return doubled(numbers)


def check_reports(reports: list[sa.Progress], total: int | None, failed: int = 0) -> None:
    """The reports of a run that went to the end: the first at the start, each no less
    than the one before, only the last finished, and that one with every item counted."""
    assert reports[0].done == 0 and reports[0].elapsed == 0
    for before, after in itertools.pairwise(reports):
        assert after.done >= before.done
        assert after.failed >= before.failed
        assert after.elapsed >= before.elapsed
    assert [report.finished for report in reports] == [False] * (len(reports) - 1) + [True]
    assert {report.total for report in reports} == {total}
    last = reports[-1]
    assert last.failed == failed
    if total is not None:
        assert last.done == total and last.fraction == 1.0


def numbers(count: int) -> Iterator[int]:
    yield from range(count)


async def async_numbers(count: int) -> AsyncIterator[int]:
    for number in range(count):
        yield number
        await trio.lowlevel.checkpoint()


# --- the value --------------------------------------------------------------------------------


def test_a_report_gives_its_rate_and_fraction() -> None:
    report = sa.Progress(done=300, failed=2, total=1200, elapsed=1.5)
    assert report.items_per_second == 200.0 and report.fraction == 0.25
    assert not report.finished
    assert sa.Progress(0, 0, None, 0.0).items_per_second == 0.0
    assert sa.Progress(0, 0, None, 0.0).fraction is None
    assert sa.Progress(0, 0, 0, 0.0, finished=True).fraction == 1.0
    with pytest.raises(AttributeError):
        report.done = 5  # type: ignore[misc]


# --- dispatch ---------------------------------------------------------------------------------


async def test_dispatch_reports_rise_to_every_item_on_a_finished_last_report(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reports: list[sa.Progress] = []
    results = await sa.dispatch(
        range(1000), executor=slow(0.01), batch_size=10, max_in_flight=2, progress=reports.append
    )
    assert results.payloads() == doubled(list(range(1000)))
    check_reports(reports, total=1000)
    assert len(reports) > 3  # 0.5 s of batches: reports along the way, not just the ends
    last = reports[-1]
    assert last.elapsed == pytest.approx(0.5)
    assert last.items_per_second == pytest.approx(2000.0)


async def test_reports_come_at_most_once_per_interval_between_the_first_and_the_last(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reports: list[sa.Progress] = []
    # 100 batches one after another, 0.03 s each: 3 s in all.
    await sa.dispatch(
        range(100), executor=slow(0.03), batch_size=1, max_in_flight=1, progress=reports.append
    )
    check_reports(reports, total=100)
    middle = reports[1:-1]
    gaps = [after.elapsed - before.elapsed for before, after in zip(reports, middle, strict=False)]
    assert all(gap >= INTERVAL - 1e-9 for gap in gaps)
    assert 20 <= len(reports) <= 3.0 / INTERVAL + 2


async def test_a_run_of_many_items_in_no_time_makes_two_reports(
    mock_clock: trio.testing.MockClock,
) -> None:
    reports: list[sa.Progress] = []
    await sa.dispatch(range(100_000), executor=DOUBLE, batch_size=10, progress=reports.append)
    assert [(report.done, report.finished) for report in reports] == [(0, False), (100_000, True)]


async def test_failed_counts_the_items_skipped_under_the_skip_policy() -> None:
    reports: list[sa.Progress] = []
    results = await sa.dispatch(
        range(50),
        executor=sa.LocalExecutor(refuse_odd),
        batch_size=1,
        on_error="skip",
        progress=reports.append,
    )
    assert len(results) == 50
    check_reports(reports, total=50, failed=25)


async def test_an_input_without_a_length_has_no_total() -> None:
    reports: list[sa.Progress] = []
    await sa.dispatch(numbers(30), executor=DOUBLE, batch_size=4, progress=reports.append)
    check_reports(reports, total=None)
    assert reports[-1].done == 30 and reports[-1].fraction is None
    reports.clear()
    await sa.dispatch(async_numbers(30), executor=DOUBLE, batch_size=4, progress=reports.append)
    check_reports(reports, total=None)
    assert reports[-1].done == 30


async def test_a_halted_dispatch_still_makes_its_final_report() -> None:
    reports: list[sa.Progress] = []
    with pytest.raises(sa.DispatchError):
        await sa.dispatch(
            [2, 4, 6, 7, 8],
            executor=sa.LocalExecutor(refuse_odd),
            batch_size=1,
            max_in_flight=1,
            progress=reports.append,
        )
    assert reports[-1].finished and reports[-1].done == 3 and reports[-1].total == 5


async def test_dispatch_stream_counts_what_the_consumer_took(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reports: list[sa.Progress] = []
    async with sa.dispatch_stream(
        range(200), executor=slow(0.01), batch_size=10, progress=reports.append
    ) as results:
        taken = 0
        async for _ in results:
            taken += 1
            assert reports[-1].done <= taken + 9  # never past the batch the consumer is in
    check_reports(reports, total=200)


async def test_leaving_a_stream_early_makes_the_final_report_short_of_the_total() -> None:
    reports: list[sa.Progress] = []
    async with sa.dispatch_stream(
        range(1000), executor=DOUBLE, batch_size=10, progress=reports.append
    ) as results:
        async for _ in results:
            break
    assert reports[-1].finished and 0 < reports[-1].done < 1000


# --- pipes ------------------------------------------------------------------------------------


async def _sorted(item: sa.Item, ctx: sa.Context) -> Any:
    await trio.sleep(0.01)
    if item.payload % 5 == 0:
        return sa.SkipItem("a multiple of five")
    if item.payload % 7 == 0:
        return sa.FailItem("a multiple of seven")
    return item.payload


class Sorting(sa.Pipe):
    stages = [
        sa.LocalStage("sort", _sorted, concurrency=4),
        sa.RouterStage("parity", [(lambda item: item.payload % 2 == 0, "even")]),
    ]
    outputs = ["even"]
    on_error = {"sort": "skip"}


class Splitting(sa.Pipe):
    stages = [
        sa.LocalStage("split", lambda item, ctx: list(item.payload), cardinality="many"),
    ]


async def test_a_pipe_reports_its_outputs_and_error_records(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reports: list[sa.Progress] = []
    result = await sa.run_pipe(Sorting, range(100), progress=reports.append)
    assert len(result.errors) == 20 + 15 - 3  # multiples of 5 or 7 (35 and 70: once)
    check_reports(reports, total=100, failed=len(result.errors))
    assert len(reports) > 3


async def test_a_pipe_with_an_unsized_input_or_a_fan_out_has_no_total(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reports: list[sa.Progress] = []
    await sa.run_pipe(Sorting, async_numbers(40), progress=reports.append)
    check_reports(reports, total=None, failed=12)  # 0 to 39: multiples of 5 or 7
    assert reports[-1].done == 40
    reports.clear()
    result = await sa.run_pipe(Splitting, ["ab", "cde", ""], progress=reports.append)
    check_reports(reports, total=None, failed=1)  # "" fans out to nothing: a record
    assert reports[-1].done == len(result["default"]) + 1 == 6


async def test_stream_pipe_reports_as_the_block_takes_items(
    autojump_clock: trio.testing.MockClock,
) -> None:
    reports: list[sa.Progress] = []
    taken = 0
    async with sa.stream_pipe(Sorting, range(100), progress=reports.append) as results:
        async for _ in results:
            taken += 1
            assert reports[-1].done - reports[-1].failed <= taken + 255  # one chunk ahead
    check_reports(reports, total=100, failed=len(results.errors))
    assert reports[-1].done == taken + len(results.errors)


async def test_a_halted_pipe_still_makes_its_final_report() -> None:
    class Halting(sa.Pipe):
        stages = [sa.LocalStage("check", lambda item, ctx: 1 // (item.payload - 50))]

    reports: list[sa.Progress] = []
    with pytest.raises(sa.PipeError):
        await sa.run_pipe(Halting, range(100), progress=reports.append)
    assert reports[-1].finished and reports[-1].done < 100


# --- a callable that raises, bad arguments ----------------------------------------------------


class Broken:
    """A progress callable that raises on its ``on``-th call."""

    def __init__(self, on: int) -> None:
        self.on, self.calls = on, 0

    def __call__(self, report: sa.Progress) -> None:
        self.calls += 1
        if self.calls == self.on:
            raise RuntimeError("the progress display broke")


@pytest.mark.parametrize("on", [1, 2])
async def test_a_progress_callable_that_raises_is_detached_and_logged_and_the_run_goes_on(
    on: int, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    broken = Broken(on)
    with caplog.at_level(logging.ERROR, logger="slither_actors.progress"):
        results = await sa.dispatch(
            range(100), executor=slow(0.05), batch_size=5, max_in_flight=1, progress=broken
        )
        result = await sa.run_pipe(Sorting, range(10), progress=Broken(on))
    assert len(results) == 100
    assert sum(map(len, result.outputs.values())) + len(result.errors) == 10
    assert broken.calls == on  # not called again once it raised
    logged = [record for record in caplog.records if record.name == "slither_actors.progress"]
    assert len(logged) == 2
    assert "raised and has been detached" in logged[0].getMessage()
    assert logged[0].exc_info is not None and "broke" in str(logged[0].exc_info[1])


@pytest.mark.parametrize("bad", [5, "print", object()])
async def test_a_progress_that_is_not_callable_is_refused_before_anything_runs(bad: Any) -> None:
    called = []
    executor = sa.LocalExecutor(lambda batch: called.append(batch) or batch)
    message = rf"progress must be a callable or None, not {type(bad).__name__} "
    with pytest.raises(ValueError, match=message):
        await sa.dispatch(range(5), executor=executor, progress=bad)
    with pytest.raises(ValueError, match=message):
        async with sa.dispatch_stream(range(5), executor=executor, progress=bad):
            pass
    with pytest.raises(ValueError, match=message):
        await sa.run_pipe(Sorting, range(5), progress=bad)
    with pytest.raises(ValueError, match=message):
        async with sa.stream_pipe(Sorting, range(5), progress=bad):
            pass
    assert called == []


# --- worker processes -------------------------------------------------------------------------


async def test_a_dispatch_over_a_worker_pool_reports_every_item() -> None:
    settings = sa.Settings(pools=(pool_settings(name="default"),))
    reports: list[sa.Progress] = []
    async with sa.open_runtime(settings):
        results = await sa.dispatch(
            range(500),
            executor=sa.WorkerExecutor("worker_functions", "double"),
            batch_size=16,
            progress=reports.append,
        )
    assert results.payloads() == doubled(list(range(500)))
    check_reports(reports, total=500)


# --- the rich bar -----------------------------------------------------------------------------


def terminal() -> Any:
    from rich.console import Console

    return Console(file=io.StringIO(), force_terminal=True, width=100)


async def test_the_rich_bar_draws_the_count_failures_and_rate() -> None:
    console = terminal()
    with sa.RichProgress("doubling", console=console) as bar:
        await sa.dispatch(
            range(120),
            executor=sa.LocalExecutor(refuse_odd),
            batch_size=1,
            on_error="skip",
            progress=bar,
        )
    drawn = console.file.getvalue()
    assert "doubling" in drawn and "120/120" in drawn
    assert "60 failed" in drawn and "items/s" in drawn


async def test_the_rich_bar_without_with_draws_from_the_first_report_to_the_last() -> None:
    console = terminal()
    bar = sa.RichProgress("counting", console=console)
    await sa.dispatch(numbers(7), executor=DOUBLE, batch_size=2, progress=bar)
    drawn = console.file.getvalue()
    assert "0/?" in drawn  # the total unknown while it ran...
    assert "7/7" in drawn  # ...and the count, once it is over, the whole
    bar.close()  # already stopped by the final report: nothing more happens


def test_several_bars_share_one_display() -> None:
    console = terminal()
    display = sa.RichProgress.make_display(console=console)
    first = sa.RichProgress("first", display=display)
    second = sa.RichProgress("second", display=display)
    first(sa.Progress(3, 0, 10, 1.0))
    second(sa.Progress(5, 1, None, 1.0, finished=True))
    console.print(display)
    drawn = console.file.getvalue()
    assert "3/10" in drawn and "5/5" in drawn and "1 failed" in drawn


def test_without_rich_the_bar_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("rich", "rich.console", "rich.progress"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'slither_actors\[status\]'"):
        sa.RichProgress("items")


def test_importing_the_package_and_running_with_progress_imports_no_rich() -> None:
    program = (
        "import sys, trio, slither_actors as sa\n"
        "reports = []\n"
        "trio.run(lambda: sa.dispatch([1, 2], executor=sa.LocalExecutor(list),"
        " progress=reports.append))\n"
        "assert reports[-1].done == 2, reports\n"
        "assert 'rich' not in sys.modules, 'rich was imported'\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=30)


def test_a_bad_description_is_refused() -> None:
    with pytest.raises(ValueError, match="description must not be empty"):
        sa.RichProgress("")


# --- the demos --------------------------------------------------------------------------------


def test_the_demos_board_shows_a_bar_per_run_above_its_stages() -> None:
    from rich.console import Console

    board = ProgressBoard(Console(file=io.StringIO(), width=100))
    options = Options("small", 2, progress=board)
    assert options.bar("documents") is None  # no bar while the board is not shown
    assert Options("small", 2).bar("documents") is None  # nor without a board
    workload = types.SimpleNamespace(name="toy", stages=("prepare",))
    with board.watching(workload):  # type: ignore[arg-type]
        bar = options.bar("documents")
        assert bar is not None
        bar(sa.Progress(40, 2, 100, 0.5))
        shown = Console(file=io.StringIO(), width=100)
        shown.print(board._render_board())
    drawn = shown.file.getvalue()
    assert "documents" in drawn and "40/100" in drawn and "2 failed" in drawn
    assert "prepare" in drawn  # the stage table is still there, below
