"""Running a demo as a user would, for the tests of each demo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import trio

ROOT = Path(__file__).resolve().parent.parent


async def small_run(name: str, *, seconds: float = 60) -> dict[str, dict[str, Any]]:
    """Run demo ``name`` through the command line at ``--size small`` with 2 workers under
    ``--json``; check that it exited 0 and passed; its runs by mode."""
    command = [sys.executable, "-m", "slither_actors.examples", name]
    with trio.fail_after(seconds):
        done = await trio.run_process(
            [*command, "--size", "small", "--workers", "2", "--json"],
            capture_stdout=True,
            capture_stderr=True,
            cwd=ROOT,
            check=False,
        )
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    assert report["passed"] is True and report["error"] is None
    return {run["mode"]: run for run in report["runs"]}


def verdicts(run: dict[str, Any]) -> dict[str, bool]:
    """Each check of a run's JSON, by name: passed or not."""
    return {one["name"]: one["passed"] for one in run["checks"]}


def details(run: dict[str, Any]) -> dict[str, str]:
    """Each check of a run's JSON, by name: its detail."""
    return {one["name"]: one["detail"] for one in run["checks"]}
