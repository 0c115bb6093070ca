"""What runs inside a Ray actor: one worker slot, calling worker functions as a worker
process does (the same target lookup, the same result checks), with payloads and results
carried in the worker link's own frames, so that exactly the values a local pool carries
travel, and come back the same types.

Imported in the Ray actor's process, and in the parent to define the actor class (so only
where Ray is installed).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import traceback
from typing import Any

import ray

from slither_actors import worker
from slither_actors._dispatch._in_process import _function
from slither_actors._pool._messages import Call, Malformed
from slither_actors._pool.child import check_results
from slither_actors._pool.protocol import FrameDecoder, encode_result
from slither_actors.errors import ViewError

NO_VIEWS = (
    "store views are not reachable from a Ray actor (a pool with backend 'ray'); "
    "run the function on a local pool, or pass what it needs in its payloads"
)


class _RayCall:
    """What ``slither_actors.worker`` offers a function running in a Ray actor."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id
        self.session_id: str | None = None

    def current_session_id(self) -> str | None:
        return self.session_id

    def call_view(self, name: str, params: dict[str, Any]) -> Any:
        raise ViewError(name, "NotSupported", NO_VIEWS)

__all__ = ["Slot"]


class Slot:
    """One Ray actor's work: `call` takes an encoded call and gives an encoded answer."""

    def __init__(
        self, cwd: str | None, preload: tuple[str, ...], max_frame: int, worker_id: int
    ) -> None:
        if cwd is not None:
            sys.path.insert(0, cwd)
        for module in preload:
            importlib.import_module(module)
        self.max_frame = max_frame
        self.running = _RayCall(worker_id)
        worker._connection = self.running

    def pid(self) -> int:
        """The actor's process id (also: it has started)."""
        return os.getpid()

    @ray.method(concurrency_group="watch")
    def watch(self) -> None:
        """Never returns: the parent's watch on the actor, which ends in an error the moment
        the actor dies. Runs in a concurrency group of its own, beside the calls."""
        threading.Event().wait()

    def call(self, frame: bytes, allow_pickle: bool) -> tuple[str, Any]:
        """``("result", frame)`` with the encoded results, or ``("error", (type, message,
        traceback))`` for what the worker function raised."""
        try:
            (message,) = FrameDecoder(self.max_frame, allow_pickle=allow_pickle).decode(frame)
            if isinstance(message, Malformed) or not isinstance(message, Call):
                raise ValueError(f"not a call: {message!r:.200}")
            self.running.session_id = message.session_id
            function = _function(message.target, message.tool)
            results = check_results(function(message.payloads), message.payloads)
            encoded = encode_result(message.call_id, results, self.max_frame, allow_pickle)
            return "result", encoded if isinstance(encoded, bytes) else b"".join(encoded)
        except Exception as error:
            trace = "".join(traceback.format_exception(error))
            return "error", (type(error).__name__, str(error), trace)
