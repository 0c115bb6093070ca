"""The sans-IO worker protocol: round trips, any chunking, and garbage that never escapes."""

from __future__ import annotations

import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from slither_actors._pool import protocol
from slither_actors._pool.protocol import (
    Call,
    Error,
    FrameDecoder,
    Hello,
    Malformed,
    PayloadError,
    Ping,
    Pong,
    ProtocolError,
    Result,
    Stop,
    ViewReply,
    ViewRequest,
    encode,
)

# Values msgpack carries exactly: what a payload may be.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
payloads = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.integers(min_value=0, max_value=2**63 - 1)
messages = st.one_of(
    st.builds(Hello, ids, ids),
    st.builds(
        Call,
        ids,
        st.text(max_size=20),
        st.booleans(),
        st.lists(payloads, max_size=5),
        st.none() | st.text(max_size=12),
    ),
    st.builds(Result, ids, st.lists(payloads, max_size=5)),
    st.builds(Error, ids, st.text(max_size=10), st.text(max_size=30), st.text(max_size=30)),
    st.builds(
        ViewRequest,
        ids,
        ids,
        st.text(max_size=10),
        st.dictionaries(st.text(max_size=8), payloads, max_size=3),
    ),
    st.builds(ViewReply, ids, payloads, st.none() | st.text(max_size=10), st.text(max_size=10)),
    st.builds(Ping, ids),
    st.builds(Pong, ids),
    st.just(Stop()),
)


@settings(max_examples=300)
@given(batch=st.lists(messages, max_size=6), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_any_messages_survive_encoding_and_any_chunking(batch: list[Any], cuts: list[int]) -> None:
    stream = b"".join(encode(message) for message in batch)
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    decoder = FrameDecoder()
    decoded = []
    for start, end in zip([0, *points], [*points, len(stream)], strict=True):
        decoder.feed(stream[start:end])
        decoded.extend(decoder.messages())
    assert decoded == batch
    assert decoder.pending == 0


@settings(max_examples=300)
@given(
    batch=st.lists(messages, max_size=6),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
    bytearrays=st.booleans(),
)
def test_decode_in_one_step_matches_feed_then_messages_for_any_chunking(
    batch: list[Any], cuts: list[int], bytearrays: bool
) -> None:
    stream = b"".join(encode(message) for message in batch)
    points = sorted({cut % (len(stream) + 1) for cut in cuts})
    decoder = FrameDecoder()
    decoded = []
    for start, end in zip([0, *points], [*points, len(stream)], strict=True):
        chunk = stream[start:end]
        decoded.extend(decoder.decode(bytearray(chunk) if bytearrays else chunk))
    assert decoded == batch
    assert decoder.pending == 0


@settings(max_examples=300)
@given(
    batch=st.lists(messages, max_size=6),
    reads=st.lists(st.integers(min_value=1, max_value=300), max_size=12),
)
def test_reading_into_the_decoders_buffer_gives_the_same_messages_for_any_read_sizes(
    batch: list[Any], reads: list[int]
) -> None:
    stream = b"".join(encode(message) for message in batch)
    decoder = FrameDecoder()
    decoded = []
    position = 0
    sizes = iter(reads)
    while position < len(stream):
        buffer = decoder.get_buffer()  # where a read from the pipe would go
        size = min(len(buffer), len(stream) - position, next(sizes, len(stream)))
        buffer[:size] = stream[position : position + size]
        position += size
        decoded.extend(decoder.buffer_updated(size))
    assert decoded == batch
    assert decoder.pending == 0


@settings(max_examples=300)
@given(garbage=st.binary(max_size=200), split=st.integers(min_value=0))
def test_decode_refuses_garbage_and_everything_after_it(garbage: bytes, split: int) -> None:
    decoder = FrameDecoder(max_frame=1024)
    point = split % (len(garbage) + 1)
    try:
        for chunk in (garbage[:point], garbage[point:]):
            for message in decoder.decode(chunk):
                assert isinstance(message, protocol.Decoded)
    except ProtocolError:
        with pytest.raises(ProtocolError):
            decoder.decode(b"more")  # a broken stream is not trusted again


@settings(max_examples=500)
@given(garbage=st.binary(max_size=200))
def test_random_bytes_give_messages_or_a_protocol_error_and_nothing_else(garbage: bytes) -> None:
    decoder = FrameDecoder(max_frame=1024)
    decoder.feed(garbage)
    try:
        for message in decoder.messages():
            assert isinstance(message, protocol.Decoded)
    except ProtocolError:
        with pytest.raises(ProtocolError):
            decoder.feed(b"more")  # a broken stream is not trusted again


@settings(max_examples=300)
@given(body=payloads | st.lists(payloads, max_size=6))
def test_well_formed_msgpack_of_the_wrong_shape_is_a_protocol_error(body: Any) -> None:
    data = msgpack.packb(body)
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">I", len(data)) + data)
    try:
        decoded = list(decoder.messages())
    except ProtocolError:
        return
    # The few shapes that happen to be valid messages (or bad ones naming their call)
    # decode to exactly one.
    assert len(decoded) == 1 and isinstance(decoded[0], protocol.Decoded)


@given(message=messages, keep=st.integers(min_value=0))
def test_a_truncated_frame_waits_for_the_rest(message: Any, keep: int) -> None:
    frame = encode(message)
    decoder = FrameDecoder()
    decoder.feed(frame[: keep % len(frame)])
    assert list(decoder.messages()) == []
    decoder.feed(frame[keep % len(frame) :])
    assert list(decoder.messages()) == [message]


def test_an_oversized_frame_is_refused_from_its_header_alone() -> None:
    decoder = FrameDecoder(max_frame=1000)
    decoder.feed(struct.pack(">I", 2**31) + b"x")  # no body sent, nothing allocated for it
    with pytest.raises(
        ProtocolError, match="frame of 2,147,483,648 bytes announced; the limit is 1,000"
    ):
        list(decoder.messages())


def test_encoding_a_frame_over_the_limit_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="exceeds the 100-byte frame limit"):
        encode(Call(1, "m:f", False, ["x" * 200]), max_frame=100)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([1, (2, {3})], "payload 1 cannot travel.*: set is not a type that travels; payloads"),
        ([{"a": {1, 2}}], "payload 0 cannot travel.*: set is not a type that travels"),
        ([[1, [object()]]], "payload 0 cannot travel.*: object is not a type that travels"),
        ([2**64], "payload 0 cannot travel.*int 18446744073709551616 does not fit in 64 bits"),
    ],
)
def test_a_payload_msgpack_cannot_carry_is_named_with_its_type(
    items: list[Any], expected: str
) -> None:
    with pytest.raises(PayloadError, match=expected):
        encode(Call(1, "m:f", False, items))


def test_an_unencodable_result_is_named_as_a_result() -> None:
    with pytest.raises(PayloadError, match="result 2 cannot travel"):
        encode(Result(1, [1, 2, object()]))


@pytest.mark.parametrize(
    "body",
    [
        [99, 1],  # unknown kind
        [Ping.KIND],  # missing field
        [Ping.KIND, True],  # a bool is not an id
        [Result.KIND, True, []],  # no call id to answer for
        [Call.KIND],
        ["hello"],
        {"kind": 1},
    ],
)
def test_malformed_messages_are_protocol_errors(body: Any) -> None:
    data = msgpack.packb(body)
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">I", len(data)) + data)
    with pytest.raises(ProtocolError):
        list(decoder.messages())


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ([Call.KIND, 7, "m:f", False, ["payload"], 123], Call),  # a session id that is no str
        ([Call.KIND, 7, "m:f"], Call),
        ([Result.KIND, 7, "not a list"], Result),
        ([Error.KIND, 7, None, "", ""], Error),
    ],
)
def test_a_malformed_message_that_names_its_call_is_reported_and_the_stream_goes_on(
    body: Any, kind: type[Any]
) -> None:
    data = msgpack.packb(body)
    decoder = FrameDecoder()
    following = encode(Ping(3))
    decoded = decoder.decode(struct.pack(">I", len(data)) + data + following)
    assert decoded[1:] == [Ping(3)]
    (malformed,) = decoded[:1]
    assert isinstance(malformed, Malformed)
    assert (malformed.kind, malformed.call_id) == (kind, 7)
    assert malformed.problem.startswith(f"malformed {kind.__name__} message: [")


def test_a_body_that_is_not_msgpack_is_a_protocol_error() -> None:
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">I", 3) + b"\xc1\xc1\xc1")
    with pytest.raises(ProtocolError, match="not msgpack"):
        list(decoder.messages())
