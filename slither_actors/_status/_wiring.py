"""What a runtime's settings ask of operations: metrics bridges, and the status server."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import trio

from slither_actors._core import ChildSpec, Restart
from slither_actors._status._snapshot import ObservedRuntime
from slither_actors.config import MetricsSettings, StatusSettings

__all__ = ["attached_metrics", "status_child_spec"]


@contextlib.contextmanager
def attached_metrics(runtime: ObservedRuntime, metrics: MetricsSettings) -> Iterator[None]:
    """Attach the bridges ``metrics`` asks for to ``runtime`` (as ``runtime.prometheus`` and
    ``runtime.otel``) for the duration of the block, and detach them after.

    Raises `ImportError` naming the extra when a bridge's package is missing.
    """
    with contextlib.ExitStack() as stack:
        if metrics.prometheus:
            from slither_actors.metrics import attach_prometheus

            runtime.prometheus = stack.enter_context(attach_prometheus(runtime=runtime))
        if metrics.otel:
            from slither_actors.metrics import attach_otel

            runtime.otel = stack.enter_context(attach_otel(runtime=runtime))
        try:
            yield
        finally:
            runtime.prometheus = runtime.otel = None


def status_child_spec(runtime: ObservedRuntime, status: StatusSettings) -> ChildSpec:
    """The child that serves ``runtime``'s status page on ``status.address``.

    Transient: restarted if the server crashes, under the root's restart intensity. A port
    already taken fails the runtime's start with `ChildStartFailed`, saying so.
    """
    assert status.address is not None
    return ChildSpec(
        "status",
        functools.partial(_serve, runtime, status.address),
        restart=Restart.TRANSIENT,
    )


async def _serve(
    runtime: ObservedRuntime, address: str, *, task_status: trio.TaskStatus[Any]
) -> None:
    from slither_actors._status._server import serve_status

    await serve_status(runtime, address, task_status=task_status)
