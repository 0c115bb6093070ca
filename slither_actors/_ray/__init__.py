"""Pools whose worker slots are Ray actors (``PoolSettings(backend="ray")``; extra ``ray``)."""

from slither_actors._ray._running import ray_pool_child_spec

__all__ = ["ray_pool_child_spec"]
