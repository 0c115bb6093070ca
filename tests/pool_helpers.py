"""Helpers for tests that run real worker processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

import slither_actors as sa

TESTS = Path(__file__).resolve().parent
# How often to look again at something only the OS can tell us (a process gone from /proc).
POLL_INTERVAL = 0.02


def pool_settings(**overrides: Any) -> sa.PoolSettings:
    """Small, quick pools whose workers can import tests/worker_functions.py."""
    options: dict[str, Any] = {
        "size": 2,
        "cwd": str(TESTS),
        "preload": ("worker_functions",),
        "call_timeout": 20.0,
        "stop_grace": 1.0,
        "kill_grace": 0.5,
    }
    options.update(overrides)
    return sa.PoolSettings(**options)


def process_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (checked in /proc, not by the pool)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    with trio.fail_after(timeout):
        # The OS sends no event when a process leaves /proc, so polling is the only way.
        while not condition():  # noqa: ASYNC110
            await trio.sleep(POLL_INTERVAL)


def worker_pids(pool: sa.WorkerPool) -> list[int]:
    return [worker.pid for worker in pool.workers()]
