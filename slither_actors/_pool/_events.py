"""What a worker connection reports: the events each end's driver acts on.

A connection (see `_connection`) turns bytes from its peer into these. The parent's end
reports the worker's answers; the child's end reports the parent's requests. Every call
the parent sends ends in exactly one of `CallDone`, `CallFailed`, `CallUnreadable`,
`CallExpired` or `CallLost`.

They are plain slotted classes, equal by type and fields: one is made for most frames
received, and worker processes import this module at start-up, where defining a dozen
attrs classes cost more (about 6 ms) than the rest of the link.
"""

from __future__ import annotations

from typing import Any

from slither_actors._pool._messages import Call, Result
from slither_actors.errors import RemoteProtocolError

__all__ = [
    "CallDone",
    "CallExpired",
    "CallFailed",
    "CallLost",
    "CallReceived",
    "CallUnreadable",
    "ChildEvent",
    "PingReceived",
    "PongReceived",
    "ProtocolViolation",
    "StartFailed",
    "StopReceived",
    "ViewAsked",
    "WorkerReady",
]


class _Event:
    """Equal by type and fields, and shown with its fields."""

    __slots__: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


# --- at the parent's end ----------------------------------------------------------------------


class WorkerReady(_Event):
    """The worker said hello, in this parent's protocol version: calls may be sent."""

    __slots__ = ("pid",)

    def __init__(self, pid: int) -> None:
        self.pid = pid


class StartFailed(_Event):
    """The worker could not start (a preload module failed) and says why; it exits."""

    __slots__ = ("message", "traceback", "type_name")

    def __init__(self, type_name: str, message: str, traceback: str) -> None:
        self.type_name = type_name
        self.message = message
        self.traceback = traceback


# A `Result` message is itself the event that its call is done (``call_id``, ``results``):
# one is decoded for every call, and a second object per call would only copy it.
CallDone = Result


class CallFailed(_Event):
    """User code in call ``call_id`` raised; the worker's type name, message and traceback."""

    __slots__ = ("call_id", "message", "traceback", "type_name")

    def __init__(self, call_id: int, type_name: str, message: str, traceback: str) -> None:
        self.call_id = call_id
        self.type_name = type_name
        self.message = message
        self.traceback = traceback


class CallUnreadable(_Event):
    """A sound frame for call ``call_id`` that this side cannot take: at the parent, an
    answer holding a value it refuses to decode (a pickle where pickle is off, an array
    without numpy); at the worker, a call whose payloads it refuses (``refused``) or whose
    fields are malformed. ``problem`` says which. The link stays sound: only that call
    fails (the worker answers it with an error)."""

    __slots__ = ("call_id", "problem", "refused")

    def __init__(self, call_id: int, problem: str, refused: bool = True) -> None:
        self.call_id = call_id
        self.problem = problem
        self.refused = refused


class CallExpired(_Event):
    """Call ``call_id`` ran past its deadline. The worker is stuck in it: the connection
    takes no more calls, and calls written behind it are lost when the worker ends."""

    __slots__ = ("call_id", "deadline")

    def __init__(self, call_id: int, deadline: float) -> None:
        self.call_id = call_id
        self.deadline = deadline


class CallLost(_Event):
    """The worker went away before answering call ``call_id``. ``started``: it may have
    begun the call (so the call may have had effects); otherwise it never did, and the
    call may go to another worker."""

    __slots__ = ("call_id", "started")

    def __init__(self, call_id: int, started: bool) -> None:
        self.call_id = call_id
        self.started = started


class ViewAsked(_Event):
    """User code in the running call ``call_id`` asks for store view ``name``; the worker
    waits for the reply (`ParentConnection.send_view_reply` or ``send_view_error``)."""

    __slots__ = ("call_id", "name", "params", "request_id")

    def __init__(self, request_id: int, call_id: int, name: str, params: dict[str, Any]) -> None:
        self.request_id = request_id
        self.call_id = call_id
        self.name = name
        self.params = params


class PongReceived(_Event):
    """The worker answered the ping awaited, of this ``nonce``."""

    __slots__ = ("nonce",)

    def __init__(self, nonce: int) -> None:
        self.nonce = nonce


# --- at the child's end -------------------------------------------------------------------------


# A `Call` message is itself the event that the parent asks for a call (``call_id``,
# ``target``, ``tool`` (``target`` names a tool), ``payloads``, ``session_id``).
CallReceived = Call


class PingReceived(_Event):
    """The parent asks whether this worker is alive: answer with `send_pong` (``nonce``)."""

    __slots__ = ("nonce",)

    def __init__(self, nonce: int) -> None:
        self.nonce = nonce


class StopReceived(_Event):
    """The parent asks this worker to exit once it has answered what it received before."""

    __slots__ = ()


# --- at either end ------------------------------------------------------------------------------


class ProtocolViolation(_Event):
    """The peer broke the protocol; ``error`` says how. It is the last event: the
    connection takes no more bytes and its peer must be ended."""

    __slots__ = ("error",)

    def __init__(self, error: RemoteProtocolError) -> None:
        self.error = error


ChildEvent = CallReceived | CallUnreadable | PingReceived | StopReceived | ProtocolViolation
