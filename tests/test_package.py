"""The package surface: every public name resolves, and worker processes stay light."""

from __future__ import annotations

import subprocess
import sys

import slither_actors as sa


def test_every_public_name_resolves() -> None:
    missing = [name for name in sa.__all__ if getattr(sa, name, None) is None]
    assert missing == []
    assert set(sa.__all__) <= set(dir(sa))


def test_worker_processes_import_no_trio_cattrs_or_actor_core() -> None:
    """Workers import slither_actors.worker and the protocol at start-up; keeping trio and
    the actor machinery out is what lets a pool be ready in well under a second."""
    code = (
        "import sys, slither_actors.worker, slither_actors.workers.protocol;"
        "print(sorted(m for m in ('trio', 'cattrs', 'slither_actors.core') if m in sys.modules))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "[]"
