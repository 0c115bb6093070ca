"""Helpers for tests that run real worker processes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import trio

import slither_actors as sa
from slither_actors._pool._process import spawn
from slither_actors._pool.protocol import FrameDecoder, Stop, encode

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


@attrs.define
class RawWorker:
    """A worker process spoken to frame by frame, with no pool around it."""

    process: Any
    decoder: FrameDecoder = attrs.Factory(FrameDecoder)
    received: list[Any] = attrs.Factory(list)

    async def next_message(self) -> Any:
        """The next message the worker sent, read as it arrives."""
        while not self.received:
            chunk = await self.process.reader.receive_some(1 << 16)
            self.received.extend(self.decoder.decode(chunk))
        return self.received.pop(0)

    def write(self, frame: Any) -> None:
        """Send a frame (bytes, or a header and body pair) as it is."""
        self.process.writer.write(frame)


@contextlib.asynccontextmanager
async def raw_worker(settings: sa.PoolSettings) -> AsyncIterator[RawWorker]:
    """Start one worker of ``settings`` outside any pool; stop it when the block ends."""
    process = await spawn(settings, 1, "test worker")
    try:
        yield RawWorker(process)
    finally:
        await process.stop(stop_frame=encode(Stop()), stop_grace=1.0, kill_grace=0.5)
        await process.close()
