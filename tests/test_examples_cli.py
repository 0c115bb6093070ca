"""The demos' command line and the harness every demo shares: modes, exit status, reports,
the missing-extra message and the progress board."""

from __future__ import annotations

import functools
import io
import json
import sys
import types
from pathlib import Path

import pytest
import trio

import slither_actors as sa
from slither_actors import examples
from slither_actors.examples import Demo
from slither_actors.examples.__main__ import main
from slither_actors.examples._present import ProgressBoard, summary
from slither_actors.examples._workload import (
    SAFE,
    SLITHER,
    UNSAFE,
    Options,
    Workload,
    check,
    run_in_threads,
    run_workload,
    split,
)
from tests.test_examples import ROOT, run_python


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--workers", "0"], "--workers must be a whole number of 1 or more, got '0'"),
        (["--workers", "-3"], "--workers must be a whole number of 1 or more, got '-3'"),
        (["--workers", "two"], "--workers must be a whole number of 1 or more, got 'two'"),
        (["--size", "huge"], "invalid choice: 'huge'"),
        (["--no-baseline", "--baseline-only"], "not allowed with argument"),
    ],
)
def test_a_bad_command_line_exits_2_naming_the_argument(
    arguments: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["workers", *arguments])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


async def test_a_demo_whose_extra_is_missing_says_which_command_installs_it() -> None:
    program = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from slither_actors.examples.__main__ import main\n"
        "sys.exit(main(['ml_scoring', '--size', 'small', '--json']))"
    )
    result = await run_python("-c", program, check=False)
    assert result.returncode == 1
    error = result.stderr.decode()
    assert "ml_scoring needs scikit-learn (the 'examples' extra)" in error
    assert f"{sys.executable} -m pip install -e '.[examples]'" in error
    report = json.loads(result.stdout)
    assert report["passed"] is False and "scikit-learn" in report["error"]


async def test_a_story_under_json_is_one_object_with_its_printout() -> None:
    result = await run_python("-m", "slither_actors.examples", "workers", "--json", check=False)
    assert result.returncode == 0, result.stderr.decode()
    (line,) = result.stdout.decode().splitlines()
    report = json.loads(line)
    assert report["demo"] == "workers" and report["passed"] is True
    assert any("shout -> ['HELLO', 'POOL']" in line for line in report["notes"])
    assert report["interpreter"]["version"].startswith("3.")


def _numbers(size: str) -> list[int]:
    return list(range(40 if size == "small" else 400))


async def _sum_in_parent(runtime: sa.Runtime, data: list[int], options: Options) -> int:
    results = await sa.dispatch(data, executor=sa.LocalExecutor(lambda batch: batch), batch_size=8)
    return sum(item.payload for item in results)


def _sum_in_threads(data: list[int], threads: int, safe: bool) -> int:
    if not safe:
        raise RuntimeError("dictionary changed size during iteration")
    return sum(run_in_threads([lambda part=part: sum(part) for part in split(data, threads)]))


def _sum_is_right(data: list[int], outcome: int) -> list[sa.examples._workload.Check]:  # type: ignore[name-defined]
    return [check("sum", outcome == sum(data), f"{outcome} of {sum(data)}")]


def _toy(slither_sum: int | None = None) -> Workload:
    async def slither(runtime: sa.Runtime, data: list[int], options: Options) -> int:
        total = await _sum_in_parent(runtime, data, options)
        return total if slither_sum is None else slither_sum

    return Workload(
        "toy",
        "sums numbers",
        _numbers,
        lambda options: sa.Settings(),
        slither,
        _sum_in_threads,
        _sum_is_right,
        len,
        stages=("sum",),
    )


def test_a_workload_runs_in_each_mode_over_the_same_data_and_is_checked_alike() -> None:
    report = run_workload(_toy(), Options("small", 3))
    assert [run.mode for run in report.runs] == [SLITHER, SAFE, UNSAFE]
    assert all(run.items == 40 for run in report.runs)
    assert report.run(SLITHER).checks == [check("sum", True, "780 of 780")]  # type: ignore[union-attr]
    assert report.run(SAFE).passed  # type: ignore[union-attr]
    # The unsafe baseline crashed: a failed check of its run, not a failure of the demo.
    (crashed,) = report.run(UNSAFE).checks  # type: ignore[union-attr]
    assert crashed == check(
        "ran to the end", False, "RuntimeError: dictionary changed size during iteration"
    )
    assert report.passed
    assert "unsafe_threaded broke: ran to the end" in report.notes[-1]
    text = summary(report)
    cells = [line.split() for line in text.splitlines() if line.startswith("  ")]
    rows = {row[0]: row[1:] for row in cells}
    assert rows["invariant"] == [SLITHER, SAFE, UNSAFE]
    assert rows["sum"] == ["PASS", "PASS", "-"]
    assert rows["ran"] == ["to", "the", "end", "-", "-", "FAIL"]
    assert text.endswith("result: PASS")


def test_a_failed_check_of_slither_actors_fails_the_demo() -> None:
    report = run_workload(_toy(slither_sum=1), Options("small", 2, modes=(SLITHER,)))
    assert not report.passed
    assert report.to_json()["runs"][0]["checks"] == [
        {"name": "sum", "passed": False, "detail": "1 of 780"}
    ]
    assert summary(report).endswith("result: FAIL")


@pytest.mark.parametrize(("slither_sum", "status"), [(None, 0), (1, 1)])
def test_the_exit_status_is_0_only_when_every_check_passed(
    slither_sum: int | None,
    status: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = types.ModuleType("toy_demo")
    module.WORKLOAD = _toy(slither_sum)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "toy_demo", module)
    monkeypatch.setattr(examples, "DEMOS", {"toy": Demo("toy", "sums", "toy_demo")})
    monkeypatch.setattr(sys.modules["slither_actors.examples.__main__"], "DEMOS", examples.DEMOS)
    assert main(["toy", "--size", "small", "--no-baseline", "--json"]) == status
    report = json.loads(capsys.readouterr().out)
    assert [run["mode"] for run in report["runs"]] == [SLITHER]
    assert report["passed"] is (status == 0)


def test_the_baselines_only_run_no_runtime() -> None:
    report = run_workload(_toy(), Options("small", 2, modes=(SAFE,)))
    assert [run.mode for run in report.runs] == [SAFE]
    assert report.speedup(report.runs[0]) == 1.0


def test_split_cuts_near_equal_contiguous_slices() -> None:
    assert split(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert split([1], 3) == [[1], [], []]


def test_the_progress_board_counts_stages_from_telemetry() -> None:
    from rich.console import Console

    board = ProgressBoard(Console(file=io.StringIO(), width=100))
    board.order[:] = ["prepare", "analyze"]
    batch = ("slither", "dispatch", "batch")
    stage = ("slither", "pipe", "stage")
    for _ in range(5):
        board._on_event((*stage, "stop"), {}, {"stage": "prepare", "size": 1}, None)
    board._on_event((*stage, "exception"), {}, {"stage": "prepare", "size": 1}, None)
    board._on_event((*batch, "start"), {}, {"stage": "analyze", "size": 3}, None)
    board._on_event((*batch, "start"), {}, {"stage": "analyze", "size": 2}, None)
    board._on_event((*batch, "stop"), {}, {"stage": "analyze", "size": 3}, None)
    board._on_event((*stage, "stop"), {}, {"stage": "analyze", "size": 3}, None)
    # A dispatch outside a pipe counts its batches, under the executor's name.
    board._on_event((*batch, "start"), {}, {"stage": None, "executor": "m:f", "size": 4}, None)
    board._on_event((*batch, "stop"), {}, {"stage": None, "executor": "m:f", "size": 4}, None)
    console = Console(file=io.StringIO(), width=100)
    console.print(board._render())
    rows = [line.split("│") for line in console.file.getvalue().splitlines() if "│" in line]
    cells = {row[1].strip(): [cell.strip() for cell in row[2:-1]] for row in rows}
    # done, failed, items/s, in flight, waiting
    assert cells["prepare"][:2] == ["6", "1"] and cells["prepare"][3:] == ["0", ""]
    assert cells["analyze"][:2] == ["3", "0"] and cells["analyze"][3:] == ["2", "2"]
    assert cells["m:f"][:2] == ["4", "0"] and cells["m:f"][3] == "0"


TOY_PROGRAM = """
import sys
import slither_actors as sa
from slither_actors import examples
from slither_actors.examples import Demo
from slither_actors.examples import __main__ as cli
from slither_actors.examples._workload import Workload, check

async def slither(runtime, data, options):
    results = await sa.dispatch(
        data, executor=sa.LocalExecutor(lambda batch: batch), batch_size=4, max_in_flight=1
    )
    return sum(item.payload for item in results)

module = type(sys)("toy_demo")
module.WORKLOAD = Workload(
    "toy", "sums", lambda size: list(range(400)), lambda options: sa.Settings(), slither,
    lambda data, threads, safe: sum(data), lambda data, total: [check("sum", total == 79800)],
    len,
)
sys.modules["toy_demo"] = module
cli.DEMOS = {"toy": Demo("toy", "sums", "toy_demo")}
sys.exit(cli.main(["toy", "--no-baseline", *sys.argv[1:]]))
"""


async def _run_on_a_terminal(*arguments: str) -> tuple[int, str]:
    """Run the toy demo with its stdout on a pseudo-terminal; its status and what it drew."""
    import os
    import pty

    controller, terminal = pty.openpty()
    drawn = bytearray()

    async def read_all() -> None:
        stream = trio.lowlevel.FdStream(controller)  # takes the descriptor over
        try:
            while chunk := await stream.receive_some():
                drawn.extend(chunk)
        except (OSError, trio.BrokenResourceError):
            pass  # EIO: the terminal's other end has closed
        finally:
            await stream.aclose()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(read_all)
            try:
                process = await trio.run_process(
                    [sys.executable, "-c", TOY_PROGRAM, *arguments],
                    stdout=terminal,
                    capture_stderr=True,
                    check=False,
                    env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
                )
            finally:
                os.close(terminal)
    return process.returncode, drawn.decode(errors="replace")


async def test_on_a_terminal_a_live_board_shows_each_stage_then_the_summary() -> None:
    status, drawn = await _run_on_a_terminal()
    assert status == 0
    # The board, drawn while the demo ran, names the stage (the executor, outside a pipe).
    assert "progress" in drawn and "items/s" in drawn and "in flight" in drawn
    row = next(line for line in drawn.splitlines() if "slither.<locals>.<lambda>" in line)
    assert row.split()[3] == "400"  # │ name │ done │: all 400 items counted
    assert "result: PASS" in drawn


async def test_under_json_or_off_a_terminal_no_board_is_drawn() -> None:
    status, drawn = await _run_on_a_terminal("--json")
    assert status == 0
    assert "progress" not in drawn and json.loads(drawn.strip())["passed"] is True


def test_each_workload_is_listed_under_its_own_name_and_summary() -> None:
    for demo in examples.DEMOS.values():
        if demo.kind == "workload":
            workload = demo.load().WORKLOAD
            assert (workload.name, workload.summary) == (demo.name, demo.summary)
        else:
            assert callable(demo.load().main)


async def test_ctrl_c_stops_a_demo_leaving_no_worker_and_exits_130() -> None:
    import os
    import signal

    command = [sys.executable, "-m", "slither_actors.examples", "image_pipeline", "--no-baseline"]
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            run = functools.partial(
                trio.run_process,
                command,
                cwd=ROOT,
                check=False,
                capture_stdout=True,
                capture_stderr=True,
            )
            process = await nursery.start(run)
            children: list[int] = []
            while len(children) < 3:  # both pools' workers are up: the work has begun
                await trio.sleep(0.05)
                children = _children_of(process.pid)
            process.send_signal(signal.SIGINT)
            await process.wait()
        assert process.returncode == 130
        for pid in children:  # every worker gone with it, none orphaned
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def _children_of(pid: int) -> list[int]:
    """The pids of the processes whose parent is ``pid`` (Linux's /proc)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry.name))
    return children
