"""Python work the parent does per call: opcodes traced, a figure the machine's load does not move.

Timings on a shared machine spread by ±20 %; a count of the Python opcodes the parent runs
does not, so it decides whether a change to the pool's hot path costs the parent more.
Two shapes, on a pool of the bench's workers (`workloads.echo_batch`):

- per batch: 4 tasks looping on `WorkerPool.call` with 64 items each, 2 workers, 2 calls
  per worker (the shape of ``bench/pool.py``'s trivial workload);
- per lone call: one task calling with 1 item, 1 worker (its round trip).

Only Python is counted (not C, not syscalls), in the parent's thread, for frames entered
after tracing starts. Compare two checkouts by running this in each::

    python bench/opcodes.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import trio

import slither_actors as sa

BENCH = Path(__file__).resolve().parent


class OpcodeCounter:
    """A trace function that counts every opcode of every frame it sees."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> OpcodeCounter:
        frame.f_trace_opcodes = True
        if event == "opcode":
            self.count += 1
        return self


async def opcodes_per_call(tasks: int, workers: int, items: int, calls: int) -> float:
    settings = sa.PoolSettings(
        size=workers, calls_per_worker=2, cwd=str(BENCH), preload=("workloads",)
    )
    async with sa.open_pool(settings) as pool:
        payload = list(range(items))
        for _ in range(100):  # warm: imports done, caches filled
            await pool.call("workloads:echo_batch", payload)
        left = calls

        async def loop() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await pool.call("workloads:echo_batch", payload)

        counter = OpcodeCounter()
        sys.settrace(counter)
        try:
            async with trio.open_nursery() as nursery:
                for _ in range(tasks):
                    nursery.start_soon(loop)
        finally:
            sys.settrace(None)
    return counter.count / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="calls traced per shape (400)")
    calls = parser.parse_args().calls
    batch = trio.run(opcodes_per_call, 4, 2, 64, calls)
    lone = trio.run(opcodes_per_call, 1, 1, 1, calls)
    print(f"Python opcodes in the parent, {calls} calls each ({sa.__file__})")
    print(f"  per batch of 64 (4 tasks, 2 workers)  {batch:8.1f}")
    print(f"  per lone 1-item call (1 worker)       {lone:8.1f}")


if __name__ == "__main__":
    main()
