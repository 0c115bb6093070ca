"""The messages of the worker protocol: what each frame carries, and the shape each must have.

On the wire a message is a msgpack array: its KIND, then its fields in the order declared
here. `protocol` encodes and decodes them; this module only declares them.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = [
    "FIELD_NAMES",
    "PROTOCOL_VERSION",
    "SHAPES",
    "Call",
    "Decoded",
    "Error",
    "Hello",
    "Malformed",
    "Message",
    "Ping",
    "Pong",
    "Result",
    "Stop",
    "ViewReply",
    "ViewRequest",
]

PROTOCOL_VERSION = 1

# Each message is an attrs class with a KIND; on the wire it is [KIND, *fields]. They are
# not frozen: one is built for every frame, frozen construction costs three times as much,
# and nothing keeps a message once it has been acted on.


@attrs.define(slots=True)
class Hello:
    """Child → parent, once its preload modules are imported: ready for calls."""

    KIND = 1
    pid: int
    version: int = PROTOCOL_VERSION


@attrs.define(slots=True)
class Call:
    """Parent → child: run ``target`` on ``payloads``.

    ``target`` is ``"module:function"`` or, when ``tool`` is true, the name of a tool.
    """

    KIND = 2
    call_id: int
    target: str
    tool: bool
    payloads: list[Any]
    session_id: str | None = None


@attrs.define(slots=True)
class Result:
    """Child → parent: the results of call ``call_id``, one per payload."""

    KIND = 3
    call_id: int
    results: list[Any]


@attrs.define(slots=True)
class Error:
    """Child → parent: call ``call_id`` failed (call_id 0: the worker failed to start)."""

    KIND = 4
    call_id: int
    type_name: str
    message: str
    traceback: str = ""


@attrs.define(slots=True)
class ViewRequest:
    """Child → parent: user code in call ``call_id`` asks the store view ``name``."""

    KIND = 5
    request_id: int
    call_id: int
    name: str
    params: dict[str, Any]


@attrs.define(slots=True)
class ViewReply:
    """Parent → child: the view's value, or the error it raised (``error_type`` set)."""

    KIND = 6
    request_id: int
    value: Any = None
    error_type: str | None = None
    error_message: str = ""


@attrs.define(slots=True)
class Ping:
    """Parent → child: are you alive? The child answers with a `Pong` of the same nonce."""

    KIND = 7
    nonce: int


@attrs.define(slots=True)
class Pong:
    """Child → parent: the answer to `Ping`."""

    KIND = 8
    nonce: int


@attrs.define(slots=True)
class Stop:
    """Parent → child: finish the current call and exit."""

    KIND = 9


Message = Hello | Call | Result | Error | ViewRequest | ViewReply | Ping | Pong | Stop


@attrs.define(slots=True)
class Malformed:
    """Not sent, only decoded: a frame whose body is not a valid message but names the call
    it was for (a `Call`, `Result` or `Error` with an int call id and bad fields). The frame
    itself was sound, so the stream is still in step: the receiver can answer that one call
    with an error instead of giving up the whole link.

    ``refused`` marks a well-formed message holding a value this side will not or cannot
    decode (a pickle where pickle is off, a numpy array without numpy); ``problem`` then
    says which, and nothing of the message was decoded. A `ViewReply` may be refused too;
    ``call_id`` is then its request id.
    """

    kind: type[Message]
    call_id: int
    problem: str
    refused: bool = False


# What the decoder yields.
Decoded = Message | Malformed

# The field types each kind must carry, checked on decode so garbage never gets further.
SHAPES: dict[int, tuple[type[Any], tuple[Any, ...]]] = {
    Hello.KIND: (Hello, (int, int)),
    Call.KIND: (Call, (int, str, bool, list, (str, type(None)))),
    Result.KIND: (Result, (int, list)),
    Error.KIND: (Error, (int, str, str, str)),
    ViewRequest.KIND: (ViewRequest, (int, int, str, dict)),
    ViewReply.KIND: (ViewReply, (int, object, (str, type(None)), str)),
    Ping.KIND: (Ping, (int,)),
    Pong.KIND: (Pong, (int,)),
    Stop.KIND: (Stop, ()),
}

# Each kind's field names in wire order (attrs.astuple cost more than packing a small reply).
FIELD_NAMES = {cls: tuple(field.name for field in attrs.fields(cls)) for cls, _ in SHAPES.values()}
