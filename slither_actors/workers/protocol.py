"""The worker protocol, sans-IO: messages in, bytes out; bytes in, messages out.

A frame is a 4-byte big-endian length followed by that many bytes of msgpack: an array
whose first element is the message kind. Nothing here reads, writes or awaits, so the
parent and the child share this module and it is tested and fuzzed on its own::

    decoder = FrameDecoder(max_frame=64 * 2**20)
    decoder.feed(chunk)                  # bytes in
    for message in decoder.messages():   # zero or more messages out
        ...

Payloads travel as msgpack: dict, list, str, bytes, int, float, bool and None. Anything
else (a tuple, a set, a custom object) is a `PayloadError` naming the item and its type;
nothing is pickled, so a compromised worker cannot make the parent run code.

This module imports only msgpack, attrs and our errors: worker processes import it at start-up.
"""

from __future__ import annotations

import struct
from typing import Any

import attrs
import msgpack

from slither_actors.errors import PayloadError, ProtocolError
from slither_actors.workers._codec import UNPACKABLE, pack, payload_error

__all__ = [
    "DEFAULT_MAX_FRAME",
    "PROTOCOL_VERSION",
    "Call",
    "Error",
    "FrameDecoder",
    "Hello",
    "Malformed",
    "Message",
    "PayloadError",
    "Ping",
    "Pong",
    "ProtocolError",
    "Result",
    "Stop",
    "ViewReply",
    "ViewRequest",
    "encode",
    "encode_call",
    "encode_result",
]

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME = 64 * 2**20
_HEADER = struct.Struct(">I")
_HEADER_SIZE = _HEADER.size


# --- messages -----------------------------------------------------------------------------------
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
    with an error instead of giving up the whole link."""

    kind: type[Message]
    call_id: int
    problem: str


# What the decoder yields.
Decoded = Message | Malformed

# The field types each kind must carry, checked on decode so garbage never gets further.
_SHAPES: dict[int, tuple[type[Any], tuple[Any, ...]]] = {
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
_FIELD_NAMES = {
    cls: tuple(field.name for field in attrs.fields(cls)) for cls, _ in _SHAPES.values()
}

# --- encoding -----------------------------------------------------------------------------------


_CALL, _RESULT = Call.KIND, Result.KIND


def encode(message: Message, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """The frame (header and body) for ``message``.

    Raises `PayloadError` if a payload cannot be carried (naming the item and its type) or
    if the frame would exceed ``max_frame`` bytes.
    """
    fields = [message.KIND, *[getattr(message, name) for name in _FIELD_NAMES[type(message)]]]
    return _frame(fields, type(message), max_frame)


def encode_call(
    call_id: int,
    target: str,
    tool: bool,
    payloads: list[Any],
    session_id: str | None,
    max_frame: int = DEFAULT_MAX_FRAME,
) -> bytes:
    """`encode` for a `Call`, without building the message first (the hot path)."""
    return _frame([_CALL, call_id, target, tool, payloads, session_id], Call, max_frame)


def encode_result(call_id: int, results: list[Any], max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """`encode` for a `Result`, without building the message first (the hot path)."""
    return _frame([_RESULT, call_id, results], Result, max_frame)


def _frame(fields: list[Any], kind: type[Message], max_frame: int) -> bytes:
    """The frame for ``fields`` (a message's kind, then its fields in wire order)."""
    try:
        body = pack(fields)
    except UNPACKABLE as exc:
        # Only now is the message built, from its own fields, to name what cannot travel.
        raise payload_error(kind(*fields[1:]), exc) from None
    if len(body) > max_frame:
        raise PayloadError(
            f"{kind.__name__} frame of {len(body):,} bytes exceeds the "
            f"{max_frame:,}-byte frame limit"
        )
    return _HEADER.pack(len(body)) + body


# --- decoding -----------------------------------------------------------------------------------


class FrameDecoder:
    """Turns a byte stream into messages, one complete frame at a time.

    A frame whose header announces more than ``max_frame`` bytes is a `ProtocolError` as
    soon as the header is seen, before anything is allocated for it. Bytes that do not
    decode to a known message raise `ProtocolError` too. After an error the stream cannot
    be trusted: the decoder refuses further input.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        # Bytes not decoded yet. A chunk that holds whole frames is parsed where it lies;
        # only a partial frame is copied into a bytearray to grow.
        self._data: bytes | bytearray = b""
        self._broken: ProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet decoded (part of a frame)."""
        return len(self._data)

    def feed(self, data: bytes | bytearray) -> None:
        """Add bytes received from the peer."""
        if self._broken is not None:
            raise self._broken
        if not self._data:
            self._data = data
        elif isinstance(self._data, bytearray):
            self._data += data
        else:
            self._data = bytearray(self._data) + data

    def messages(self) -> list[Decoded]:
        """Every message whose frame is complete; the rest is kept for later."""
        if self._broken is not None:
            raise self._broken
        data = self._data
        decoded, offset = self._parse(data)
        if offset:
            self._data = data[offset:] if offset < len(data) else b""
        return decoded

    def decode(self, chunk: bytes | bytearray) -> list[Decoded]:
        """`feed` ``chunk``, then return `messages`: the same, in one step (the hot path)."""
        if self._data or self._broken is not None:
            self.feed(chunk)
            return self.messages()
        decoded, offset = self._parse(chunk)
        if offset < len(chunk):
            self._data = chunk[offset:]  # the start of a frame still on its way
        return decoded

    def _parse(self, data: bytes | bytearray) -> tuple[list[Decoded], int]:
        """The messages of the whole frames at the start of ``data``, and where they end."""
        view = memoryview(data)  # bodies are decoded where they lie, not copied out first
        offset = 0
        decoded: list[Decoded] = []
        try:
            while len(data) - offset >= _HEADER_SIZE:
                (size,) = _HEADER.unpack_from(data, offset)
                if size > self.max_frame:
                    raise ProtocolError(
                        f"frame of {size:,} bytes announced; the limit is {self.max_frame:,}"
                    )
                end = offset + _HEADER_SIZE + size
                if len(data) < end:
                    break
                decoded.append(decode_body(view[offset + _HEADER_SIZE : end]))
                offset = end
        except ProtocolError as error:
            self._broken = error
            raise
        finally:
            view.release()
        return decoded, offset


def decode_body(body: bytes | memoryview) -> Decoded:
    """The message in one frame body: `Malformed` for a bad call, result or error that names
    its call id, `ProtocolError` for anything else that is not a valid message."""
    try:
        decoded = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception as exc:
        raise ProtocolError(f"frame body is not msgpack: {type(exc).__name__}: {exc}") from None
    if (
        type(decoded) is list
        and len(decoded) == 3
        and decoded[0] == _RESULT
        and type(decoded[1]) is int
        and type(decoded[2]) is list
    ):
        return Result(decoded[1], decoded[2])  # the parent's most common message
    if (
        type(decoded) is list
        and len(decoded) == 6
        and decoded[0] == _CALL
        and type(decoded[1]) is int
        and type(decoded[2]) is str
        and type(decoded[3]) is bool
        and type(decoded[4]) is list
        and (decoded[5] is None or type(decoded[5]) is str)
    ):
        return Call(*decoded[1:])  # the worker's most common message
    if not isinstance(decoded, list) or not decoded or type(decoded[0]) is not int:
        raise ProtocolError(f"frame body is not a message: {_preview(decoded)}")
    shape = _SHAPES.get(decoded[0])
    if shape is None:
        raise ProtocolError(f"unknown message kind {decoded[0]}")
    cls, field_types = shape
    fields = decoded[1:]
    if len(fields) != len(field_types) or not all(
        _is_instance(value, kind) for value, kind in zip(fields, field_types, strict=False)
    ):
        problem = f"malformed {cls.__name__} message: {_preview(decoded)}"
        if cls in _ATTRIBUTABLE and fields and type(fields[0]) is int:
            return Malformed(cls, fields[0], problem)
        raise ProtocolError(problem)
    message: Message = cls(*fields)
    return message


# Messages whose first field is a call id, so a bad one can be answered for that call alone.
_ATTRIBUTABLE = (Call, Result, Error)


def _is_instance(value: Any, kind: Any) -> bool:
    # bool is an int subclass; an id or nonce must be a real int, a flag a real bool.
    if kind is int:
        return type(value) is int
    return isinstance(value, kind)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
