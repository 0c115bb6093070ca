"""A hand-made /status snapshot, and a tiny HTTP server in a thread that serves fixed
answers, for the tests of the status page and of ``top``."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

Answer = tuple[int, str, bytes]  # status, content type, body


def node(node_id: str, kind: str, state: str = "running", **fields: Any) -> dict[str, Any]:
    """A tree node as the snapshot writes it."""
    return {"id": node_id, "kind": kind, "state": state, "restarts": 0, "last_exit": None,
            "mailbox": None, "children": [], **fields}


SNAPSHOT: dict[str, Any] = {
    "service": "slither_actors",
    "pid": 12345,
    "time": 1796558400.0,
    "uptime": 3725.5,
    "tree": node("runtime", "supervisor", strategy="one_for_one", children=[
        node("services", "supervisor", strategy="one_for_one", children=[
            node("pipe etl", "pipe", children=[
                node("parse", "task"),
                node("score", "task", "restarting", restarts=1,
                     last_exit="WorkerCrashed('was killed by signal SIGKILL')"),
            ]),
        ]),
        node("counter", "actor", restarts=2, last_exit="RuntimeError('boom')",
             mailbox={"depth": 12, "bound": 16}),
        node("<b>evil</b>", "actor", "stopped", last_exit="<script>alert(1)</script>"),
        node("pool default", "pool"),
    ]),
    "mailboxes": [{"path": "runtime/counter", "depth": 12, "bound": 16}],
    "pools": [{"name": "default", "size": 2, "live": 2, "in_flight": 1, "waiting": 0,
               "sessions": 0, "workers": [
                   {"worker_id": 1, "pid": 4242, "state": "busy", "in_flight": 1,
                    "calls_done": 130, "rss_mb": 31.5},
                   {"worker_id": 2, "pid": 4243, "state": "idle", "in_flight": 0,
                    "calls_done": 128, "rss_mb": None}]}],
    "pipes": [{"name": "etl", "session_id": "3f2a", "running": True,
               "delivered": {"default": 1200}, "errors": 3, "stages": [
                   {"name": "parse", "kind": "local", "inbox": {"depth": 12, "bound": 256},
                    "in_flight": 0, "items": 1212, "items_per_second": 240.0},
                   {"name": "score", "kind": "worker", "inbox": {"depth": 200, "bound": 256},
                    "in_flight": 4, "items": 1180, "items_per_second": 236.4}]}],
    "stores": [{"name": "features", "tables": {"users": 10, "scores": 3}}],
}

NODE_PATHS = [
    "runtime",
    "runtime/services",
    "runtime/services/pipe etl",
    "runtime/services/pipe etl/parse",
    "runtime/services/pipe etl/score",
    "runtime/counter",
    "runtime/<b>evil</b>",
    "runtime/pool default",
]


@contextlib.contextmanager
def serving(answer: Callable[[str], Answer]) -> Iterator[str]:
    """Serve ``answer(path)`` for every GET on 127.0.0.1 from a thread; yields the
    ``host:port`` it listens on and stops the server on exit."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output stays clean

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
