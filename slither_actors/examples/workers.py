"""Demo: a pool of worker processes: calls, a crash, a timeout, print capture, broadcast.

A pool of two workers squares numbers. A call that kills its worker fails alone and the
pool's supervisor starts a new worker; a call that runs past its timeout costs its worker,
which is replaced; what a worker prints arrives in the parent's log; a broadcast asks every
live worker for its own counters. Every worker event is printed from telemetry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import slither_actors as sa

WORKER_EVENTS = [
    ("slither", "worker", name) for name in ("ready", "crashed", "exited", "restarted")
]
TARGETS = "slither_actors.examples.demo_workers"


def print_event(
    event: tuple[str, ...], measurements: Mapping[str, Any], metadata: Mapping[str, Any], _: Any
) -> None:
    """A telemetry handler printing worker lifecycle events."""
    detail = f"  ({metadata['reason']})" if "reason" in metadata else ""
    worker = f"worker {metadata['worker_id']} pid {metadata['pid']}"
    print(f"    telemetry {event[-1]:<10} {worker}{detail}")


async def demo(runtime: sa.Runtime) -> None:
    """Exercise the pool and print what happens."""
    pool = await runtime.pool("demo")
    print("\n1. calls spread over the workers")
    for start in range(0, 12, 4):
        numbers = list(range(start, start + 4))
        print(f"  square {numbers} ->", await pool.call(f"{TARGETS}:square", numbers))

    print("\n2. a call that kills its worker fails alone; the supervisor starts another")
    try:
        await pool.call(f"{TARGETS}:crash", [1])
    except sa.WorkerCrashed as error:
        print(f"  WorkerCrashed: {error}")
    print("  square [7] ->", await pool.call(f"{TARGETS}:square", [7]))
    await pool.wait_until_ready()  # the new worker has said hello

    print("\n3. a call past its timeout costs its worker, which is replaced in place")
    try:
        await pool.call(f"{TARGETS}:stall", [30.0], timeout=0.5)
    except sa.CallTimeout as error:
        print(f"  CallTimeout: {error}")
    await pool.wait_until_ready()

    print("\n4. what a worker prints reaches the parent's log")
    print("  shout ->", await pool.call(f"{TARGETS}:shout", ["hello", "pool"]))

    print("\n5. a broadcast reaches every live worker exactly once")
    for reply in await pool.broadcast(f"{TARGETS}:stats"):
        print(f"  worker {reply.worker_id}: {reply.value}")


def main() -> None:
    """Run the demo in a fresh runtime with one two-worker pool."""
    logging.basicConfig(level=logging.INFO, format="    log %(message)s")
    logging.getLogger("slither_actors.supervisor").setLevel(logging.CRITICAL)  # no traceback
    settings = sa.Settings(
        pools=(sa.PoolSettings(name="demo", size=2, preload=(TARGETS,), kill_grace=0.2),)
    )
    sa.telemetry.attach("workers-demo", WORKER_EVENTS, print_event)
    try:
        sa.run(demo, settings=settings)
    finally:
        sa.telemetry.detach("workers-demo")
