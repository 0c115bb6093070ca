"""The chaos scripts, each in its small version, keep every promise they check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ["kill_workers", "hang_workers", "cancel_parent", "slow_consumer", "bad_inputs"]
# Far beyond the few seconds each takes, so only a hang fails on time.
SCRIPT_TIMEOUT = 180


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_small_chaos_run_breaks_no_promise(name: str) -> None:
    finished = subprocess.run(
        [sys.executable, str(ROOT / "chaos" / f"{name}.py"), "--small"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    output = finished.stdout + finished.stderr
    summaries = re.findall(rf"^chaos {name}: \d+ faults, .*$", finished.stdout, re.MULTILINE)
    assert len(summaries) == 1, output
    assert re.fullmatch(
        rf"chaos {name}: [1-9]\d* faults, 0 lost, 0 duplicated, 0 orphans", summaries[0]
    ), output
    assert finished.returncode == 0, output
