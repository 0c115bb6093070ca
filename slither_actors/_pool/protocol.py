"""The worker protocol, sans-IO: messages in, bytes out; bytes in, messages out.

A frame is a 4-byte big-endian length followed by that many bytes of msgpack: an array
whose first element is the message kind. Nothing here reads, writes or awaits, so the
parent and the child share this module and it is tested and fuzzed on its own::

    decoder = FrameDecoder(max_frame=64 * 2**20)
    decoder.feed(chunk)                  # bytes in
    for message in decoder.messages():   # zero or more messages out
        ...

A large frame is never copied whole: `encode` hands its header and body over apart (see
`Frame`), and the decoder lets the caller read it straight into a buffer of its size
(`FrameDecoder.get_buffer`).

Payloads travel as msgpack with a few extension types (see `_codec`): dict, list, tuple,
str, bytes, int, float, bool, None, aware datetimes and numpy arrays. Anything else (a set,
a custom object) is a `PayloadError` naming the item and its type. Nothing is pickled
unless the pool opts in (``allow_pickle``), so by default a compromised worker cannot make
the parent run code.

This module imports only msgpack, attrs and our errors: worker processes import it at start-up.
"""

from __future__ import annotations

import struct
from typing import Any

import msgpack

from slither_actors._pool._codec import (
    CODECS,
    UNPACKABLE,
    Codec,
    Frame,
    FrameTooLarge,
    Refused,
    codec_for,
    payload_error,
)
from slither_actors._pool._messages import (
    FIELD_NAMES,
    PROTOCOL_VERSION,
    SHAPES,
    Call,
    Decoded,
    Error,
    Hello,
    Malformed,
    Message,
    Ping,
    Pong,
    Result,
    Stop,
    ViewReply,
    ViewRequest,
)
from slither_actors.errors import (
    LocalProtocolError,
    PayloadError,
    ProtocolError,
    RemoteProtocolError,
)

__all__ = [
    "DEFAULT_MAX_FRAME",
    "PROTOCOL_VERSION",
    "READ_SIZE",
    "Call",
    "Decoded",
    "Error",
    "Frame",
    "FrameDecoder",
    "Hello",
    "LocalProtocolError",
    "Malformed",
    "Message",
    "PayloadError",
    "Ping",
    "Pong",
    "ProtocolError",
    "RemoteProtocolError",
    "Result",
    "Stop",
    "ViewReply",
    "ViewRequest",
    "decode_body",
    "encode",
    "encode_call",
    "encode_result",
]

DEFAULT_MAX_FRAME = 64 * 2**20
_HEADER = struct.Struct(">I")
_HEADER_SIZE = _HEADER.size


# --- encoding -----------------------------------------------------------------------------------


_CALL, _RESULT = Call.KIND, Result.KIND


def encode(
    message: Message, max_frame: int = DEFAULT_MAX_FRAME, *, allow_pickle: bool = False
) -> Frame:
    """The frame (header and body) for ``message``: bytes, or for a body over 1 MiB the
    header and the body apart (see `Frame`), so that the body is never copied.

    Raises `PayloadError` if a payload cannot be carried (naming the item and its type) or
    if the frame would exceed ``max_frame`` bytes. ``allow_pickle`` lets values that nothing
    else carries travel pickled (only for a pool that opts in).
    """
    fields = [message.KIND, *[getattr(message, name) for name in FIELD_NAMES[type(message)]]]
    return _frame(fields, type(message), max_frame, codec_for(allow_pickle))


def encode_call(
    call_id: int,
    target: str,
    tool: bool,
    payloads: list[Any],
    session_id: str | None,
    max_frame: int = DEFAULT_MAX_FRAME,
    allow_pickle: bool = False,
) -> Frame:
    """`encode` for a `Call`, without building the message first (the hot path)."""
    fields = [_CALL, call_id, target, tool, payloads, session_id]
    return _frame(fields, Call, max_frame, CODECS[allow_pickle])


def encode_result(
    call_id: int,
    results: list[Any],
    max_frame: int = DEFAULT_MAX_FRAME,
    allow_pickle: bool = False,
) -> Frame:
    """`encode` for a `Result`, without building the message first (the hot path)."""
    return _frame([_RESULT, call_id, results], Result, max_frame, CODECS[allow_pickle])


def _frame(fields: list[Any], kind: type[Message], max_frame: int, codec: Codec) -> Frame:
    """The frame for ``fields`` (a message's kind, then its fields in wire order)."""
    try:
        return codec.frame(fields, _HEADER, max_frame)
    except UNPACKABLE as exc:
        # Only now is the message built, from its own fields, to name what cannot travel.
        raise payload_error(kind(*fields[1:]), exc, codec) from None
    except FrameTooLarge as exc:
        raise PayloadError(
            f"{kind.__name__} frame of {exc.size:,} bytes exceeds the "
            f"{max_frame:,}-byte frame limit"
        ) from None


# --- decoding -----------------------------------------------------------------------------------

# How much is read from a worker's pipe (or the parent's) at a time while no large frame
# is on its way: the decoder's small buffer, and every reader's chunk.
READ_SIZE = 1 << 16


class FrameDecoder:
    """Turns a byte stream into messages, one complete frame at a time.

    Bytes come in by `feed`, or are read straight into the decoder's own buffer, in the
    manner of asyncio's ``BufferedProtocol``::

        size = os.readv(fd, [decoder.get_buffer()])
        messages = decoder.buffer_updated(size)

    Once a frame's header has arrived, the buffer is made as large as that frame, so a
    large frame is read into its final place and decoded where it lies, never copied from
    chunk to chunk. After it, reading goes back to a small buffer; the large one is kept
    for the next large frame (fresh memory costs a page fault per 4 KiB, more than the
    copy it holds) until a small frame comes, so it is held only while large frames keep
    coming. Reusing it is safe: decoding copies out everything it builds.

    A frame whose header announces more than ``max_frame`` bytes is a `RemoteProtocolError`
    as soon as the header is seen, before anything is allocated for it. Bytes that do not
    decode to a known message raise `RemoteProtocolError` too. After an error the stream cannot
    be trusted: the decoder refuses further input. ``allow_pickle`` decodes pickled values
    (which runs code from the peer); without it they are refused.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, allow_pickle: bool = False) -> None:
        self.max_frame = max_frame
        self._codec = codec_for(allow_pickle)
        # Received bytes live in _buffer[_start:_end]; those before _start are decoded.
        self._small = self._buffer = bytearray(READ_SIZE)
        self._view = memoryview(self._buffer)
        self._start = 0
        self._end = 0
        self._large: bytearray | None = None  # the last large frame's buffer, for the next
        self._broken: RemoteProtocolError | None = None

    @property
    def pending(self) -> int:
        """Bytes received but not yet decoded (part of a frame)."""
        return self._end - self._start

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes received from the peer."""
        if self._broken is not None:
            raise self._broken
        size = len(data)
        self._make_room(size)
        end = self._end
        self._view[end : end + size] = data
        self._end = end + size

    def messages(self) -> list[Decoded]:
        """Every message whose frame is complete; the rest is kept for later."""
        if self._broken is not None:
            raise self._broken
        if self._end - self._start < _HEADER_SIZE:
            return []
        return self._parse()

    def decode(self, chunk: bytes | bytearray | memoryview) -> list[Decoded]:
        """`feed` ``chunk``, then return `messages`: the same, in one step."""
        self.feed(chunk)
        return self.messages()

    def get_buffer(self) -> memoryview:
        """Where the next bytes from the peer go: write up to its length at its start, then
        call `buffer_updated` with the count before anything else uses this decoder."""
        if self._broken is not None:
            raise self._broken
        if self._end == 0:
            return self._view  # the usual case: no frame on its way (this runs per read)
        missing = self._missing()
        self._make_room(max(missing, READ_SIZE // 4))
        if missing > READ_SIZE:
            return self._view[self._end : self._end + missing]  # this frame's rest, no more
        return self._view[self._end :]

    def buffer_updated(self, size: int) -> list[Decoded]:
        """``size`` bytes were written at the start of the last `get_buffer`: the messages
        of the frames they complete."""
        self._end += size
        return self.messages()

    def _missing(self) -> int:
        """Bytes still to come for the frame being received, 0 until its header is known
        (or if it announces more than the limit: the next parse refuses it)."""
        pending = self._end - self._start
        if pending < _HEADER_SIZE:
            return 0
        (size,) = _HEADER.unpack_from(self._buffer, self._start)
        return max(_HEADER_SIZE + size - pending, 0) if size <= self.max_frame else 0

    def _make_room(self, size: int) -> None:
        """Room for ``size`` more bytes after those received."""
        buffer, start, end = self._buffer, self._start, self._end
        if len(buffer) - end >= size:
            return
        pending = end - start
        if len(buffer) - pending >= size:
            self._view[:pending] = buffer[start:end]  # the start of a frame, moved to the front
        else:
            # Room for the whole frame being received, if its header is known (never more
            # than the frame limit plus this chunk); otherwise twice what is pending, so
            # that feeding many small chunks without parsing stays linear.
            missing = self._missing()
            grown = pending + missing if missing else 2 * pending
            capacity = max(pending + size, grown, READ_SIZE)
            large = self._large
            if large is None or large is buffer or len(large) < capacity:
                large = self._large = bytearray(capacity)
            self._use(large)
            self._view[:pending] = buffer[start:end]
        self._start, self._end = 0, pending

    def _use(self, buffer: bytearray) -> None:
        # A new buffer, never a resized one: views of the old one may still be held.
        self._buffer, self._view = buffer, memoryview(buffer)

    def _parse(self) -> list[Decoded]:
        buffer, view, start, end = self._buffer, self._view, self._start, self._end
        decoded: list[Decoded] = []
        try:
            while end - start >= _HEADER_SIZE:
                (size,) = _HEADER.unpack_from(buffer, start)
                if size > self.max_frame:
                    raise RemoteProtocolError(
                        f"frame of {size:,} bytes announced; the limit is {self.max_frame:,}"
                    )
                stop = start + _HEADER_SIZE + size
                if end < stop:
                    break
                # Decoded where it lies: msgpack copies out only what it builds.
                decoded.append(_decode(view[start + _HEADER_SIZE : stop], self._codec))
                start = stop
        except RemoteProtocolError as error:
            self._broken = error
            raise
        if start == end:
            start = end = 0
            if buffer is not self._small:
                self._use(self._small)
            elif decoded:
                self._large = None  # small frames again: the large buffer is not kept
        self._start, self._end = start, end
        return decoded


def decode_body(body: bytes | memoryview, *, allow_pickle: bool = False) -> Decoded:
    """The message in one frame body: `Malformed` for a bad call, result or error that names
    its call id (or a reply holding a value this side refuses, naming its request id),
    `RemoteProtocolError` for anything else that is not a valid message."""
    return _decode(body, codec_for(allow_pickle))


def _decode(body: bytes | memoryview, codec: Codec) -> Decoded:
    try:
        decoded = codec.unpack(body)
    except Refused as refusal:
        return _refused(body, str(refusal))
    except OverflowError as exc:
        # Only a timestamp raises this for bytes that are msgpack: an aware datetime whose
        # time in UTC falls outside years 1 to 9999 (a year-1 datetime at +05:00, say).
        return _refused(body, f"it holds a datetime out of range in UTC ({exc})")
    except Exception as exc:
        problem = f"frame body is not msgpack: {type(exc).__name__}: {exc}"
        raise RemoteProtocolError(problem) from None
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
        raise RemoteProtocolError(f"frame body is not a message: {_preview(decoded)}")
    shape = SHAPES.get(decoded[0])
    if shape is None:
        raise RemoteProtocolError(f"unknown message kind {decoded[0]}")
    cls, field_types = shape
    fields = decoded[1:]
    if len(fields) != len(field_types) or not all(
        _is_instance(value, kind) for value, kind in zip(fields, field_types, strict=False)
    ):
        problem = f"malformed {cls.__name__} message: {_preview(decoded)}"
        if cls in _ATTRIBUTABLE and fields and type(fields[0]) is int:
            return Malformed(cls, fields[0], problem)
        raise RemoteProtocolError(problem)
    message: Message = cls(*fields)
    return message


# Messages whose first field is a call id, so a bad one can be answered for that call alone.
_ATTRIBUTABLE = (Call, Result, Error)
# And those that may hold a value the receiver refuses: a view reply names its request.
_REFUSABLE = (*_ATTRIBUTABLE, ViewReply)


def _refused(body: bytes | memoryview, reason: str) -> Malformed:
    """`Malformed` for a sound frame holding a value this side will not decode (``reason``
    says which), if its message names its call (or request); else `RemoteProtocolError`."""
    head = msgpack.Unpacker(raw=False)
    head.feed(bytes(body[:32]))  # the array header, the kind and the first field fit in 32
    try:
        kind = head.unpack() if head.read_array_header() >= 2 else None
        first = head.unpack()
    except Exception:
        raise RemoteProtocolError(f"a frame that does not decode: {reason}") from None
    shape = SHAPES.get(kind) if type(kind) is int else None
    if shape is None or shape[0] not in _REFUSABLE or type(first) is not int:
        raise RemoteProtocolError(f"a frame that does not decode: {reason}")
    return Malformed(shape[0], first, reason, refused=True)


def _is_instance(value: Any, kind: Any) -> bool:
    # bool is an int subclass; an id or nonce must be a real int, a flag a real bool.
    if kind is int:
        return type(value) is int
    return isinstance(value, kind)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
