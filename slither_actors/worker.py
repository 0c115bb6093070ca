"""What code running inside a worker process can use: tools, store views, where it runs.

Import it from a worker module::

    from slither_actors.worker import call_view, tool

    @tool("resize")
    def resize(images):                 # a tool takes a list and returns a list, as functions do
        return [shrink(image) for image in images]

    def predict_batch(payloads):        # called as "my_model:predict_batch"
        tier = call_view("lookup_feature", key="user:42")["value"]
        ...

This module is light on purpose (no trio): worker processes import it at start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from slither_actors.errors import ViewError

__all__ = [
    "ViewError",
    "call_view",
    "current_session_id",
    "in_worker",
    "tool",
    "worker_id",
]

Function = TypeVar("Function", bound=Callable[[list[Any]], list[Any]])


class _Connection(Protocol):
    worker_id: int

    def call_view(self, name: str, params: dict[str, Any]) -> Any: ...

    def current_session_id(self) -> str | None: ...


# Set by the worker process's main loop (slither_actors._pool.child) when it starts.
_connection: _Connection | None = None

# Tools registered with @tool in this process, by name.
tools: dict[str, Callable[[list[Any]], list[Any]]] = {}


def tool(name: str) -> Callable[[Function], Function]:
    """Register the decorated function as the tool ``name``.

    A tool is called by name (``Tool("resize")`` on the parent side) with a list of payloads
    and must return a list of the same length. Its module must be imported in the worker,
    usually by listing it in the pool's ``preload``. Registering a name twice is an error.
    """

    def register(function: Function) -> Function:
        if name in tools and tools[name] is not function:
            raise ValueError(f"a tool named {name!r} is already registered ({tools[name]!r})")
        tools[name] = function
        return function

    return register


def in_worker() -> bool:
    """True inside a worker process started by a pool."""
    return _connection is not None


def worker_id() -> int:
    """This worker's number in its pool (1, 2, …); raises `RuntimeError` outside a worker."""
    return _require().worker_id


def current_session_id() -> str | None:
    """The session id of the call being handled (None without one)."""
    return _require().current_session_id()


def call_view(name: str, **params: Any) -> Any:
    """Call the store view ``name`` in the parent with ``params`` and return its reply.

    Only views global to the runtime or registered for the current call's session are
    reachable. Blocks until the parent answers; raises `ViewError` if the view is unknown,
    refused, times out or raises. Only usable while a worker handles a call.
    """
    return _require().call_view(name, params)


def _require() -> _Connection:
    if _connection is None:
        raise RuntimeError(
            "slither_actors.worker works only inside a worker process started by a pool"
        )
    return _connection
