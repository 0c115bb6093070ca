"""Every test is bounded in time: a hang fails its test rather than stalling the run."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_test_that_hangs_fails_at_the_suites_time_limit(tmp_path: Path) -> None:
    (tmp_path / "test_hangs.py").write_text(
        "import trio\n\n\nasync def test_hangs() -> None:\n    await trio.sleep_forever()\n"
    )
    # The suite's own settings (trio_mode, the time limit), with the limit cut to 1 s.
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            "-o",
            "timeout=1",
            str(tmp_path / "test_hangs.py"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert "Timeout" in completed.stdout and "1 failed" in completed.stdout


def test_the_suite_sets_a_time_limit_for_every_test() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    limit = options["ini_options"].get("timeout")
    assert isinstance(limit, int) and 0 < limit <= 300
