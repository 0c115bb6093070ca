"""How a Ray pool runs: connected to Ray for its lifetime, as a supervised child.

The first Ray pool of the process connects: to the cluster at the pool's ``ray_address``,
or, without one, to a local Ray it starts. The last one to stop lets go, and shuts down a
local Ray it started, so that leaving the runtime leaves no Ray process behind. A program
that connected to Ray itself keeps its connection: the pools use it and leave it be.
Connecting and shutting down block, so they run in a thread, never on the loop's.
"""

from __future__ import annotations

import functools
from typing import Any

import trio

from slither_actors._core import ChildSpec
from slither_actors.config import PoolSettings

__all__ = ["ray_pool_child_spec"]

RAY_EXTRA = "pip install 'slither_actors[ray]'"


class _Connection:
    """The process's use of Ray: how many pools hold it, and whether we started it."""

    holders = 0
    ours = False


_lock = trio.Lock()


async def _connect(address: str | None) -> None:
    async with _lock:
        if _Connection.holders == 0:
            _Connection.ours = await trio.to_thread.run_sync(_init, address)
        _Connection.holders += 1


async def _release() -> None:
    async with _lock:
        _Connection.holders -= 1
        if _Connection.holders == 0 and _Connection.ours:
            import ray

            await trio.to_thread.run_sync(ray.shutdown)
            _Connection.ours = False


def _init(address: str | None) -> bool:
    """Connect to Ray (True if this call started or joined it, False if it was connected)."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"a pool with backend 'ray' needs Ray: {RAY_EXTRA}") from error
    if ray.is_initialized():
        return False
    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    return True


def ray_pool_child_spec(settings: PoolSettings, resolve_view: Any = None) -> ChildSpec:
    """A child spec running a `RayPool` of ``settings.worker_count`` Ray actors, with the
    id a runtime gives a pool's child (``pool NAME``), so ``runtime.pool(NAME)``, worker
    stages and `WorkerExecutor` find it."""
    return ChildSpec(f"pool {settings.name}", functools.partial(_run, settings))


async def _run(settings: PoolSettings, *, task_status: trio.TaskStatus[Any]) -> None:
    from slither_actors._ray._pool import RayPool

    await _connect(settings.ray_address)
    try:
        pool = RayPool(settings, _actor_maker(settings))
        try:
            await pool.start()
            async with trio.open_nursery() as nursery:
                pool.watch(nursery)
                task_status.started(pool)
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await pool.close()
    finally:
        with trio.CancelScope(shield=True):
            await _release()


def _actor_maker(settings: PoolSettings) -> Any:
    import ray

    from slither_actors._ray._slot import Slot

    # Ray's default for an actor: a CPU to be placed, none held while it runs, so pools
    # share a machine's CPUs as local worker processes do.
    # (Ray's stubs do not know the concurrency_groups option its docs give actors.)
    make_class: Any = ray.remote
    options: dict[str, Any] = {"max_restarts": 0, "concurrency_groups": {"watch": 1}}
    if settings.env:
        options["runtime_env"] = {"env_vars": dict(settings.env)}
    # Ray takes CPUs and GPUs as options of their own, anything else as custom resources.
    resources = dict(settings.ray_resources)
    if "CPU" in resources:
        options["num_cpus"] = resources.pop("CPU")
    if "GPU" in resources:
        options["num_gpus"] = resources.pop("GPU")
    if resources:
        options["resources"] = resources
    actor_class = make_class(**options)(Slot)
    return functools.partial(
        actor_class.remote, settings.cwd, settings.preload, settings.max_frame
    )
