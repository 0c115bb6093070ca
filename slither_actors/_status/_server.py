"""The status server: ``/status`` (JSON), ``/metrics`` (Prometheus text) and ``/`` (a page).

It runs in the service's own Trio loop, under hypercorn's Trio worker, as a child of the
runtime's root supervisor. Every endpoint only reads: a snapshot of the tree and the
queues, or the metrics the Prometheus bridge keeps. Anything but GET or HEAD is refused
with 405, so nothing reached over HTTP can change the service.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

import trio

from slither_actors._status._snapshot import ObservedRuntime, StatusReader
from slither_actors.config import parse_address

__all__ = ["StatusApp", "serve_status"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_log = logging.getLogger("slither_actors.status")
_PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class StatusApp:
    """The ASGI application behind the status server (read-only)."""

    def __init__(
        self, runtime: ObservedRuntime, metrics: Callable[[], bytes] | None = None
    ) -> None:
        self._reader = StatusReader(runtime)
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return  # websockets are not served
        method, path = scope["method"], scope["path"]
        if method not in ("GET", "HEAD"):
            await _respond(send, 405, "text/plain", b"read-only: only GET and HEAD\n",
                           extra=[(b"allow", b"GET, HEAD")])
            return
        if path == "/status":
            body = json.dumps(self._reader.read(), default=str).encode()
            await _respond(send, 200, "application/json", body, head=method == "HEAD")
        elif path == "/metrics":
            if self._metrics is None:
                text = b"no metrics: install the extra, pip install 'slither_actors[status]'\n"
                await _respond(send, 503, "text/plain", text)
            else:
                await _respond(send, 200, _PROMETHEUS_TEXT, self._metrics(), head=method == "HEAD")
        elif path in ("/", "/index.html"):
            from slither_actors._status._page import PAGE

            await _respond(send, 200, "text/html; charset=utf-8", PAGE.encode(),
                           head=method == "HEAD")
        else:
            await _respond(send, 404, "text/plain", b"not found: try /, /status or /metrics\n")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _respond(
    send: Send,
    status: int,
    content_type: str,
    body: bytes,
    *,
    head: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def serve_status(
    runtime: ObservedRuntime,
    address: str,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the status of ``runtime`` on ``address`` (``host:port``) until cancelled.

    Reports the addresses it listens on through ``task_status`` (port 0 picks a free one).
    Needs the ``status`` extra (hypercorn and prometheus_client).
    """
    host, port = parse_address(address)
    try:
        from hypercorn.config import Config
        from hypercorn.trio import serve
    except ImportError as error:
        raise ImportError(
            "the status server needs hypercorn: pip install 'slither_actors[status]'"
        ) from error
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = _log
    config.graceful_timeout = 1.0
    bridge = _prometheus_bridge(runtime)
    announce = _Announce(task_status)
    try:
        app = StatusApp(runtime, bridge.render if bridge is not None else None)
        await serve(cast(Any, app), config, task_status=announce, mode="asgi")
    except BaseExceptionGroup as group:
        refused = group.subgroup(OSError)
        if announce.done or refused is None:
            raise
        first = _first(refused)
        raise OSError(
            first.errno, f"cannot serve the status page on {address}: {first.strerror}"
        ) from group
    finally:
        if bridge is not None:
            bridge.detach()


class _Announce:
    """Passes the server's addresses on to the supervisor, logging where the page is."""

    def __init__(self, task_status: trio.TaskStatus[list[str]]) -> None:
        self._task_status = task_status
        self.done = False

    def started(self, urls: list[str] | None = None) -> None:
        urls = list(urls or [])
        _log.info("status page at %s", ", ".join(urls))
        self.done = True
        self._task_status.started(urls)


def _prometheus_bridge(runtime: ObservedRuntime) -> Any:
    """The runtime's Prometheus bridge if the settings attached one, else a new one for the
    server (None without the extra)."""
    if runtime.prometheus is not None:
        return _Borrowed(runtime.prometheus)
    try:
        from slither_actors.metrics import attach_prometheus
    except ImportError:
        return None
    try:
        return attach_prometheus(runtime=runtime)
    except ImportError:
        _log.warning("/metrics is off: pip install 'slither_actors[status]' for prometheus_client")
        return None


class _Borrowed:
    """The runtime's own bridge, lent to the server: the runtime detaches it, not the server."""

    def __init__(self, bridge: Any) -> None:
        self.render = bridge.render

    def detach(self) -> None:
        pass


def _first(group: BaseExceptionGroup[OSError]) -> OSError:
    """The first error of a group, however deeply nested."""
    error = group.exceptions[0]
    return error if isinstance(error, OSError) else _first(error)
