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
import threading
from typing import Any

import attrs
import msgpack

from slither_actors.errors import PayloadError, ProtocolError

__all__ = [
    "DEFAULT_MAX_FRAME",
    "PROTOCOL_VERSION",
    "Call",
    "Error",
    "FrameDecoder",
    "Hello",
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


_UNPACKABLE = (TypeError, ValueError, OverflowError)
_CALL, _RESULT = Call.KIND, Result.KIND


_local = threading.local()


def _pack(value: Any) -> bytes:
    # strict_types: a tuple is not silently turned into a list, nor an IntEnum into an int;
    # what arrives is exactly what was sent. A Packer per thread, reused: making one per
    # frame cost more than packing a small batch.
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True, strict_types=True)
    return packer.pack(value)  # type: ignore[no-any-return]


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
        body = _pack(fields)
    except _UNPACKABLE as exc:
        # Only now is the message built, from its own fields, to name what cannot travel.
        raise _payload_error(kind(*fields[1:]), exc) from None
    if len(body) > max_frame:
        raise PayloadError(
            f"{kind.__name__} frame of {len(body):,} bytes exceeds the "
            f"{max_frame:,}-byte frame limit"
        )
    return _HEADER.pack(len(body)) + body


def _payload_error(message: Message, cause: Exception) -> PayloadError:
    items = getattr(message, "payloads", None)
    what = "payload"
    if items is None:
        items, what = getattr(message, "results", None), "result"
    if isinstance(items, list):
        for index, item in enumerate(items):
            try:
                _check_item(what, index, item)
            except PayloadError as error:
                return error
    return PayloadError(f"{type(message).__name__} cannot be encoded: {cause}")


def _check_item(what: str, index: int, item: Any) -> None:
    try:
        _pack(item)
    except _UNPACKABLE:
        raise PayloadError(
            f"{what} {index} cannot travel to or from a worker: {_describe_unpackable(item)}"
        ) from None


def _describe_unpackable(item: Any) -> str:
    found = _first_unpackable(item)
    if type(found) is int:
        return f"int {found} does not fit in 64 bits"
    kind = type(found).__name__
    hint = " (use a list)" if isinstance(found, tuple) else ""
    return (
        f"{kind} is not a msgpack type{hint}; payloads are dict, list, str, bytes, int, "
        f"float, bool or None"
    )


def _first_unpackable(item: Any) -> Any:
    """The innermost value msgpack refuses, to name its type precisely."""
    if type(item) is dict:
        for key, value in item.items():
            for part in (key, value):
                try:
                    _pack(part)
                except _UNPACKABLE:
                    return _first_unpackable(part)
    elif type(item) is list:
        for part in item:
            try:
                _pack(part)
            except _UNPACKABLE:
                return _first_unpackable(part)
    return item


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

    def messages(self) -> list[Message]:
        """Every message whose frame is complete; the rest is kept for later."""
        if self._broken is not None:
            raise self._broken
        data = self._data
        decoded, offset = self._parse(data)
        if offset:
            self._data = data[offset:] if offset < len(data) else b""
        return decoded

    def decode(self, chunk: bytes | bytearray) -> list[Message]:
        """`feed` ``chunk``, then return `messages`: the same, in one step (the hot path)."""
        if self._data or self._broken is not None:
            self.feed(chunk)
            return self.messages()
        decoded, offset = self._parse(chunk)
        if offset < len(chunk):
            self._data = chunk[offset:]  # the start of a frame still on its way
        return decoded

    def _parse(self, data: bytes | bytearray) -> tuple[list[Message], int]:
        """The messages of the whole frames at the start of ``data``, and where they end."""
        view = memoryview(data)  # bodies are decoded where they lie, not copied out first
        offset = 0
        decoded: list[Message] = []
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


def decode_body(body: bytes | memoryview) -> Message:
    """The message in one frame body; `ProtocolError` if it is not a valid message."""
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
    if len(fields) != len(field_types):
        raise ProtocolError(f"malformed {cls.__name__} message: {_preview(decoded)}")
    for value, kind in zip(fields, field_types, strict=True):
        if not _is_instance(value, kind):
            raise ProtocolError(f"malformed {cls.__name__} message: {_preview(decoded)}")
    message: Message = cls(*fields)
    return message


def _is_instance(value: Any, kind: Any) -> bool:
    # bool is an int subclass; an id or nonce must be a real int, a flag a real bool.
    if kind is int:
        return type(value) is int
    return isinstance(value, kind)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
