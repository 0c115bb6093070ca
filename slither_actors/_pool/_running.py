"""How a pool runs: its workers under a supervisor, as a child spec or for one block."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio

from slither_actors._core import ChildKind, ChildSpec, Supervisor, open_own_nursery, require_trio
from slither_actors._pool._pool import WorkerPool
from slither_actors._pool._state import PoolState, ViewResolver
from slither_actors._pool._worker import WorkerActor
from slither_actors.config import PoolSettings

__all__ = ["open_pool", "pool_child_spec", "run_pool"]


async def run_pool(
    settings: PoolSettings,
    resolve_view: ViewResolver | None = None,
    *,
    task_status: trio.TaskStatus[WorkerPool] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a pool until it is stopped: one `WorkerActor` per worker under a one_for_one
    supervisor. Reports the `WorkerPool` once every worker has said hello; raises
    `WorkerStartFailed` if one cannot start, `SupervisorExhausted` if workers keep dying."""
    state = PoolState(settings, resolve_view=resolve_view)
    size = settings.worker_count
    shutdown = settings.stop_grace + settings.kill_grace + 1.0
    workers = Supervisor(
        [
            ChildSpec.actor(
                f"worker {number}", partial(WorkerActor, state, number), shutdown=shutdown
            )
            for number in range(1, size + 1)
        ],
        max_restarts=settings.max_restarts,
        max_seconds=settings.max_seconds,
        name=f"pool {settings.name}",
    )
    pool = WorkerPool(state)
    try:
        async with open_own_nursery() as nursery:
            nursery.start_soon(state.run_deadlines.run)
            nursery.start_soon(state.wait_deadlines.run)
            pool._supervisor = await nursery.start(workers.start)
            try:
                await state.wait_until_ready(size)
            except BaseException:
                pool.request_stop()
                raise
            task_status.started(pool)
            await pool._supervisor.wait_exited()
            nursery.cancel_scope.cancel()  # the deadline tasks are all that is left
    finally:
        state.close()


def pool_child_spec(settings: PoolSettings, resolve_view: ViewResolver | None = None) -> ChildSpec:
    """A child spec that runs the pool ``settings`` describes under a supervisor; its
    workers' ``call_view`` is answered by ``resolve_view`` (the runtime's views)."""
    return ChildSpec(
        f"pool {settings.name}",
        partial(run_pool, settings, resolve_view),
        kind=ChildKind.SUPERVISOR,
    )


@asynccontextmanager
async def open_pool(settings: PoolSettings | None = None) -> AsyncIterator[WorkerPool]:
    """Run a pool for the duration of the block, outside any runtime; stop it after.

    ::

        async with open_pool(PoolSettings(size=2, preload=["my_model"])) as pool:
            results = await pool.call("my_model:predict_batch", [1, 2, 3])
    """
    require_trio("open_pool")
    async with open_own_nursery() as nursery:
        pool: WorkerPool = await nursery.start(run_pool, settings or PoolSettings())
        try:
            yield pool
        finally:
            pool.request_stop()
