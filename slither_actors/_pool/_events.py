"""What a worker connection reports: the events each end's driver acts on.

A connection (see `_connection`) turns bytes from its peer into these. The parent's end
reports the worker's answers; the child's end reports the parent's requests. Every call
the parent sends ends in exactly one of `CallDone`, `CallFailed`, `CallUnreadable`,
`CallExpired` or `CallLost`.

They are plain slotted classes, not frozen: one is made for every frame received, and a
frozen one costs three times as much to build.
"""

from __future__ import annotations

from typing import Any

import attrs

from slither_actors._pool._messages import Result
from slither_actors.errors import RemoteProtocolError

__all__ = [
    "CallDone",
    "CallEnded",
    "CallExpired",
    "CallFailed",
    "CallLost",
    "CallReceived",
    "CallUnreadable",
    "ChildEvent",
    "ParentEvent",
    "PingReceived",
    "PongReceived",
    "ProtocolViolation",
    "StartFailed",
    "StopReceived",
    "ViewAsked",
    "WorkerReady",
]

# --- at the parent's end ----------------------------------------------------------------------


@attrs.define(slots=True)
class WorkerReady:
    """The worker said hello, in this parent's protocol version: calls may be sent."""

    pid: int


@attrs.define(slots=True)
class StartFailed:
    """The worker could not start (a preload module failed) and says why; it exits."""

    type_name: str
    message: str
    traceback: str


# A `Result` message is itself the event that its call is done (``call_id``, ``results``):
# one is decoded for every call, and a second object per call would only copy it.
CallDone = Result


@attrs.define(slots=True)
class CallFailed:
    """User code in call ``call_id`` raised; the worker's type name, message and traceback."""

    call_id: int
    type_name: str
    message: str
    traceback: str


@attrs.define(slots=True)
class CallUnreadable:
    """A sound frame for call ``call_id`` that this side cannot take: at the parent, an
    answer holding a value it refuses to decode (a pickle where pickle is off, an array
    without numpy); at the worker, a call whose payloads it refuses (``refused``) or whose
    fields are malformed. ``problem`` says which. The link stays sound: only that call
    fails (the worker answers it with an error)."""

    call_id: int
    problem: str
    refused: bool = True


@attrs.define(slots=True)
class CallExpired:
    """Call ``call_id`` ran past its deadline. The worker is stuck in it: the connection
    takes no more calls, and calls written behind it are lost when the worker ends."""

    call_id: int
    deadline: float


@attrs.define(slots=True)
class CallLost:
    """The worker went away before answering call ``call_id``. ``started``: it may have
    begun the call (so the call may have had effects); otherwise it never did, and the
    call may go to another worker."""

    call_id: int
    started: bool


@attrs.define(slots=True)
class ViewAsked:
    """User code in the running call ``call_id`` asks for store view ``name``; the worker
    waits for the reply (`ParentConnection.send_view_reply` or ``send_view_error``)."""

    request_id: int
    call_id: int
    name: str
    params: dict[str, Any]


@attrs.define(slots=True)
class PongReceived:
    """The worker answered the ping awaited, of this ``nonce``."""

    nonce: int


# --- at the child's end -------------------------------------------------------------------------


@attrs.define(slots=True)
class CallReceived:
    """The parent asks for ``target`` (a tool's name if ``tool``) on ``payloads``."""

    call_id: int
    target: str
    tool: bool
    payloads: list[Any]
    session_id: str | None


@attrs.define(slots=True)
class PingReceived:
    """The parent asks whether this worker is alive: answer with `send_pong` (``nonce``)."""

    nonce: int


@attrs.define(slots=True)
class StopReceived:
    """The parent asks this worker to exit once it has answered what it received before."""


# --- at either end ------------------------------------------------------------------------------


@attrs.define(slots=True)
class ProtocolViolation:
    """The peer broke the protocol; ``error`` says how. It is the last event: the
    connection takes no more bytes and its peer must be ended."""

    error: RemoteProtocolError


CallEnded = CallDone | CallFailed | CallUnreadable | CallExpired | CallLost
ParentEvent = (
    WorkerReady
    | StartFailed
    | CallDone
    | CallFailed
    | CallUnreadable
    | ViewAsked
    | PongReceived
    | ProtocolViolation
)
ChildEvent = CallReceived | CallUnreadable | PingReceived | StopReceived | ProtocolViolation
