"""A long-running pipe for `python -m slither_actors run tests.pipe_service:main` tests.

Its source counts up forever, a little at a time; its sink prints the first item it gets
(so that a test knows it runs), and at exit the process says how many items the source
gave and the sink got.
"""

from __future__ import annotations

import atexit
from collections.abc import AsyncIterator

import trio

import slither_actors as sa

READ = 0
DELIVERED = 0


async def pause(item: sa.Item, ctx: sa.Context) -> int:
    await trio.sleep(0.002)
    return int(item.payload)


class Doubling(sa.Pipe):
    stages = [
        sa.LocalStage("pause", pause),
        sa.WorkerStage("double", module="worker_functions", function="double", batch_size=8),
    ]


async def counting() -> AsyncIterator[int]:
    global READ
    number = 0
    while True:
        READ += 1
        yield number
        number += 1
        await trio.sleep(0.001)


async def sink(output: str, item: sa.Item) -> None:
    global DELIVERED
    DELIVERED += 1
    if DELIVERED == 1:
        print(f"first item out: {item.payload}", flush=True)


async def main(runtime: sa.Runtime) -> sa.PipeService:
    pool = await runtime.pool("default")
    print("worker pids:", *(info.pid for info in pool.workers()), flush=True)
    return await sa.start_pipe(Doubling, counting(), sink)


atexit.register(lambda: print(f"read {READ}, delivered {DELIVERED}", flush=True))
