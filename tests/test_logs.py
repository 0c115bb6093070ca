"""`sa.run` and the run command log to stderr when the program configured no logging, so a
crash report is seen by default; as text or JSON lines; never twice, never over the
program's own configuration. Run in subprocesses: pytest configures logging itself."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import slither_actors as sa
from slither_actors._logs import JsonFormatter

ROOT = Path(__file__).resolve().parent.parent


def run_app(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tests/crashing_app.py", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


def test_a_crash_is_logged_to_stderr_by_default() -> None:
    done = run_app("text")
    assert done.stdout.strip() == "done"
    assert "ERROR slither_actors.supervisor: supervisor 'runtime': child 'fragile' crashed" in (
        done.stderr
    )
    assert "ValueError: boom" in done.stderr  # with its traceback


def test_json_lines_carry_the_record_and_its_traceback() -> None:
    done = run_app("json")
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    (crash,) = [entry for entry in entries if entry["logger"] == "slither_actors.supervisor"]
    assert crash["level"] == "ERROR"
    assert crash["message"] == "supervisor 'runtime': child 'fragile' crashed"
    assert crash["traceback"].endswith("ValueError: boom")
    assert crash["time"].endswith("+00:00")


def test_a_program_that_configured_logging_keeps_its_own_and_sees_each_record_once() -> None:
    done = run_app("text", "configured")
    lines = [line for line in done.stderr.splitlines() if "crashed" in line]
    crashed = "supervisor 'runtime': child 'fragile' crashed"
    assert lines == [f"APP ERROR slither_actors.supervisor {crashed}"]


def test_no_log_format_sets_nothing_up() -> None:
    done = run_app("none")
    assert "crashed" not in done.stderr and done.stdout.strip() == "done"


def test_the_run_command_takes_a_log_format() -> None:
    command = [sys.executable, "-m", "slither_actors", "run", "tests.nowhere:main"]
    done = subprocess.run(
        [*command, "--log-format", "xml"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "invalid choice: 'xml'" in done.stderr


@pytest.mark.parametrize("bad", ["xml", "", 1, True])
def test_a_bad_log_format_is_refused_before_anything_runs(bad: object) -> None:
    async def main(runtime: sa.Runtime) -> None:
        raise AssertionError("ran")

    with pytest.raises(ValueError, match=f"log_format must be 'text', 'json' or None, not {bad!r}"):
        sa.run(main, log_format=bad)  # type: ignore[arg-type]


def test_extra_fields_travel_and_what_json_cannot_hold_is_its_repr() -> None:
    record = logging.makeLogRecord(
        {"name": "slither_actors.worker", "levelno": 20, "levelname": "INFO", "msg": "hello %s"}
    )
    record.args = ("there",)
    record.worker_id = 3
    record.odd = {1, 2}
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hello there" and entry["worker_id"] == 3
    assert entry["odd"] == "{1, 2}" and "traceback" not in entry
