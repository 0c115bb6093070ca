"""The scripts in examples/ run as a user who copied them would run them, from any directory."""

from __future__ import annotations

import functools
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


async def output_of(script: str, *arguments: str, cwd: Path) -> list[str]:
    """The lines ``python examples/<script> <arguments>`` prints, run in ``cwd``; it must
    exit 0."""
    with trio.fail_after(30):
        result = await trio.run_process(
            [sys.executable, str(EXAMPLES / script), *arguments],
            capture_stdout=True,
            capture_stderr=True,
            cwd=cwd,
            check=False,
        )
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().splitlines()


@pytest.fixture(params=["repository root", "another directory"])
def cwd(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a script is run from: its worker modules must be found either way."""
    return ROOT if request.param == "repository root" else tmp_path


async def test_custom_store_reads_writes_and_reloads_and_its_workers_read_the_view(
    cwd: Path,
) -> None:
    assert await output_of("custom_store.py", cwd=cwd) == [
        "direct reads: {'ada': 'gold', 'bob': 'silver'} {'gold': 10, 'silver': 5}",
        "workers, through the view: ada pays 180, bob pays 190",
        "after bob becomes gold: ada pays 180, bob pays 180",
        "after a reload (gold 25% off, bob's write gone): ada pays 150, bob pays 190",
    ]


async def test_dispatch_retry_skips_exactly_the_poisoned_records(cwd: Path) -> None:
    lines = await output_of("dispatch_retry.py", cwd=cwd)
    assert lines[:4] == [
        "100 records in batches of 10, poisoned: [17, 42, 88]",
        "skip:           70 parsed, 30 skipped (whole batches)",
        "isolate, retry: 97 parsed, 3 skipped: [17, 42, 88]",
        "their batch neighbours: 27 of 27 parsed",
    ]
    assert lines[4].startswith(
        "record 17 after 2 attempts: WorkerError: dispatch_retry_worker:parse raised "
        "ValueError: could not convert string to float: 'n/a'"
    )
    assert len(lines) == 5


# --- long_running_service.py ------------------------------------------------------------------

FINAL = re.compile(
    r"stopped: (\d+) taken, (\d+) reached an output \(alerts (\d+), default (\d+)\), (\d+) failed"
)


async def lines_from(stream: trio.abc.ReceiveStream) -> AsyncIterator[str]:
    """The lines of what a process writes, as they come."""
    pending = b""
    async for chunk in stream:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line.decode()
    if pending:
        yield pending.decode()


def check_every_event_is_accounted_for(lines: list[str]) -> None:
    """The final line says every event taken reached an output, and none failed."""
    found = FINAL.fullmatch(lines[-1])
    assert found, lines
    taken, out, alerts, default, failed = (int(number) for number in found.groups())
    assert taken == out == alerts + default > 0, lines
    assert failed == 0 and alerts > 0, lines


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
async def test_the_long_running_service_drains_on_a_signal_and_loses_no_event(
    signal_number: signal.Signals,
) -> None:
    command = [sys.executable, "examples/long_running_service.py"]
    lines: list[str] = []
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:  # it waits for the process to exit
            process = await nursery.start(
                functools.partial(
                    trio.run_process,
                    command,
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,  # a traceback shows in the failure
                    check=False,
                )
            )
            reading = lines_from(process.stdout)
            async for line in reading:
                lines.append(line)
                if "events/s" in line:  # it has run for a second: events are in flight
                    break
            process.send_signal(signal_number)
            lines += [line async for line in reading]
    assert process.returncode == 0, lines
    assert lines[0] == "running: Ctrl-C or SIGTERM drains the pipe and stops"
    assert lines[-2] == f"{signal_number.name}: draining", lines
    check_every_event_is_accounted_for(lines)


async def test_the_long_running_service_stops_by_itself_after_its_seconds(tmp_path: Path) -> None:
    lines = await output_of("long_running_service.py", "--seconds", "1.5", cwd=tmp_path)
    assert "events/s" in lines[1]
    assert lines[-2] == "1.5 s are up: draining"
    check_every_event_is_accounted_for(lines)
