"""What travels to and from workers: tuples, numpy arrays, datetimes, bytes, and pickle only
where a pool opts in. Codec round trips first (any value, any chunking), then real workers."""

from __future__ import annotations

import enum
import importlib.util
import math
import os
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio
from hypothesis import given, settings, strategies as st

import slither_actors as sa
from slither_actors._pool._codec import Ext, codec_for
from slither_actors._pool._process import PipeWriter
from slither_actors._pool.protocol import (
    Call,
    Error,
    FrameDecoder,
    Hello,
    Malformed,
    Ping,
    ProtocolError,
    Result,
    ViewReply,
    ViewRequest,
    encode,
    encode_call,
    encode_result,
)
from tests.pool_helpers import pool_settings, raw_worker, worker_pids

HAS_NUMPY = importlib.util.find_spec("numpy") is not None
needs_numpy = pytest.mark.skipif(not HAS_NUMPY, reason="numpy is not installed")
if HAS_NUMPY:
    import numpy
    from hypothesis.extra import numpy as numpy_strategies


class Color(enum.IntEnum):
    RED = 1


def same(sent: Any, received: Any) -> bool:
    """True if ``received`` is what ``sent`` must arrive as: the same value of the same type,
    all the way down (bytearray and memoryview arrive as bytes, datetimes in UTC, arrays
    as read-only arrays of the same dtype, shape and bytes)."""
    if type(sent) in (bytearray, memoryview):
        return type(received) is bytes and received == bytes(sent)
    if HAS_NUMPY and type(sent) is numpy.ndarray:
        return (
            type(received) is numpy.ndarray
            and (received.dtype, received.shape) == (sent.dtype, sent.shape)
            and received.tobytes() == sent.tobytes()
            and not received.flags.writeable
        )
    if type(received) is not type(sent):
        return False
    if type(sent) is datetime:
        return received == sent and received.tzinfo is UTC
    if type(sent) is float:
        return received == sent or (math.isnan(sent) and math.isnan(received))
    if type(sent) in (list, tuple):
        return len(sent) == len(received) and all(map(same, sent, received))
    if type(sent) is dict:
        return len(sent) == len(received) and all(
            same(key, other_key) and same(value, other_value)
            for (key, value), (other_key, other_value) in zip(
                sent.items(), received.items(), strict=True
            )
        )
    return bool(received == sent)


# --- any value, through either codec ------------------------------------------------------------

offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
# Aware datetimes whose time in UTC is a datetime too (year 1 at +05:30 is not).
aware_datetimes = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=offsets
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=12)
    | aware_datetimes
)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
keys = st.text(max_size=6) | int64 | st.tuples(st.text(max_size=4), int64)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=400)
@given(value=values, pickling=st.booleans())
def test_any_nested_value_comes_back_as_it_was_sent_through_either_codec(
    value: Any, pickling: bool
) -> None:
    codec = codec_for(pickling)
    assert same(value, codec.unpack(codec.pack(value)))


def read_through_buffer(decoder: FrameDecoder, stream: bytes, cuts: list[int]) -> list[Any]:
    """The messages of ``stream``, read into the decoder's own buffer in pieces no larger
    than ``cuts`` say (as a pipe delivers them)."""
    decoded: list[Any] = []
    position = 0
    sizes = iter(cuts)
    while position < len(stream):
        buffer = decoder.get_buffer()
        size = min(len(buffer), len(stream) - position, next(sizes, len(stream)) or 1)
        buffer[:size] = stream[position : position + size]
        position += size
        decoded.extend(decoder.buffer_updated(size))
    return decoded


def joined(frame: bytes | tuple[bytes, memoryview]) -> bytes:
    return frame if isinstance(frame, bytes) else b"".join(frame)


@settings(max_examples=200)
@given(
    payloads=st.lists(values, max_size=5),
    pickling=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=64), max_size=20),
)
def test_payloads_and_results_keep_their_types_through_frames_and_any_chunking(
    payloads: list[Any], pickling: bool, cuts: list[int]
) -> None:
    # Parent to worker (a call) and worker to parent (a result): the same codec both ends.
    call = encode_call(7, "m:f", False, payloads, None, allow_pickle=pickling)
    result = encode_result(7, payloads, allow_pickle=pickling)
    decoder = FrameDecoder(allow_pickle=pickling)
    decoded = read_through_buffer(decoder, joined(call) + joined(result), cuts)
    assert [type(message) for message in decoded] == [Call, Result]
    assert same(payloads, decoded[0].payloads) and same(payloads, decoded[1].results)
    assert decoder.pending == 0


def test_bytearray_and_memoryview_travel_as_bytes_and_a_scattered_view_is_refused() -> None:
    codec = codec_for(False)
    assert codec.unpack(codec.pack([bytearray(b"ab"), memoryview(b"cd")])) == [b"ab", b"cd"]
    scattered = memoryview(b"abcdef")[::2]
    with pytest.raises(sa.PayloadError, match=r"payload 0 .* not C-contiguous.*tobytes"):
        encode_call(1, "m:f", False, [scattered], None)


def test_an_aware_datetime_arrives_as_the_same_moment_in_utc() -> None:
    codec = codec_for(False)
    sent = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    received = codec.unpack(codec.pack(sent))
    assert received == sent
    assert received.tzinfo is UTC and received.hour == 7


# --- numpy arrays ---------------------------------------------------------------------------


if HAS_NUMPY:
    endianness = "?"
    dtypes = (
        numpy_strategies.integer_dtypes(endianness=endianness)
        | numpy_strategies.unsigned_integer_dtypes(endianness=endianness)
        | numpy_strategies.floating_dtypes(endianness=endianness)
        | numpy_strategies.complex_number_dtypes(endianness=endianness)
        | numpy_strategies.boolean_dtypes()
        | numpy_strategies.datetime64_dtypes(endianness=endianness)
        | numpy_strategies.timedelta64_dtypes(endianness=endianness)
        | numpy_strategies.byte_string_dtypes(endianness=endianness, min_len=1, max_len=6)
        | numpy_strategies.unicode_string_dtypes(endianness=endianness, min_len=1, max_len=6)
    )
    arrays = numpy_strategies.arrays(
        dtypes, numpy_strategies.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
    )
else:
    arrays = st.nothing()


@needs_numpy
@settings(max_examples=300)
@given(array=arrays, view=st.sampled_from(["whole", "transposed", "every other"]))
def test_any_array_arrives_read_only_with_its_dtype_shape_and_bytes(array: Any, view: str) -> None:
    if view == "transposed":
        array = array.T  # Fortran order: made contiguous to travel
    elif view == "every other" and array.ndim:
        array = array[::2]
    for pickling in (False, True):
        codec = codec_for(pickling)
        received = codec.unpack(codec.pack([array, {"inside": (array,)}]))
        assert same([array, {"inside": (array,)}], received)
        assert received[0].flags.c_contiguous and received[0].flags.aligned


@needs_numpy
def test_an_array_is_a_view_of_the_frame_not_a_copy() -> None:
    array = numpy.arange(1000, dtype=numpy.float64)
    (received,) = codec_for(False).unpack(codec_for(False).pack([array]))
    assert received.base is not None and not received.flags.owndata
    with pytest.raises(ValueError, match="read-only"):
        received[0] = 1.0
    assert received.copy().flags.writeable  # a copy is the user's to make


@needs_numpy
@pytest.mark.parametrize(
    ("array", "expected"),
    [
        ("objects", "payload 0 .* numpy array of dtype object: its items are Python objects"),
        ("structured", "payload 0 .* numpy array of dtype .*only plain numeric"),
        ("masked", "payload 0 .*MaskedArray is not a type that travels .*numpy.asarray"),
    ],
)
def test_arrays_whose_items_are_not_plain_bytes_are_refused(array: str, expected: str) -> None:
    made = {
        "objects": lambda: numpy.array([object(), 1], dtype=object),
        "structured": lambda: numpy.zeros(3, dtype=[("a", "i4"), ("b", "f8")]),
        "masked": lambda: numpy.ma.masked_array([1, 2], mask=[False, True]),
    }[array]()
    with pytest.raises(sa.PayloadError, match=expected):
        encode_call(1, "m:f", False, [made], None)


# --- what is refused, and how it is named -------------------------------------------------------


def tuples_inside_tuples(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = (value,)
    return value


@pytest.mark.parametrize(
    ("payloads", "expected"),
    [
        ([datetime(2024, 1, 1)], "payload 0 .*datetime without a timezone: give it one"),
        ([1, (2, [3, {4}])], "payload 1 .*: set is not a type that travels; payloads are dict"),
        ([Color.RED], "payload 0 .*Color is not a type that travels \\(a subclass of int"),
        ([{"a": object()}], "payload 0 .*object is not a type that travels.*allow_pickle=True"),
        ([(2**64,)], "payload 0 .*int 18446744073709551616 does not fit in 64 bits"),
        ([tuples_inside_tuples(100)], "payload 0 .*tuples or pickles nested more than 64 deep"),
        ([3, sa.Item(1, "x")], r"payload 1 .*\(an Item: send its payload, item\.payload\)"),
    ],
)
def test_what_cannot_travel_is_named_with_its_type_and_why(
    payloads: list[Any], expected: str
) -> None:
    with pytest.raises(sa.PayloadError, match=expected):
        encode_call(1, "m:f", False, payloads, None)


@needs_numpy
def test_a_numpy_scalar_is_refused_with_a_hint() -> None:
    with pytest.raises(sa.PayloadError, match=r"float64 .* \(a numpy scalar: use value.item\(\)"):
        encode(Result(1, [numpy.float64(1.5)]))


def test_with_pickle_allowed_everything_else_travels_but_a_naive_datetime_still_does_not() -> None:
    codec = codec_for(True)
    sent = [{1, 2}, Fraction(1, 3), Color.RED, frozenset({"a"}), 2**70]
    assert codec.unpack(codec.pack(sent)) == sent
    assert type(codec.unpack(codec.pack(Color.RED))) is Color
    with pytest.raises(sa.PayloadError, match="without a timezone"):
        encode_call(1, "m:f", False, [datetime(2024, 1, 1)], None, allow_pickle=True)
    with pytest.raises(sa.PayloadError, match="function cannot be pickled"):
        encode_call(1, "m:f", False, [lambda: 1], None, allow_pickle=True)


# --- pickle refused where it is off -------------------------------------------------------------


class Trap:
    """Unpickling this makes the directory ``path``: proof that unpickling ran code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


def test_a_pickle_where_pickle_is_off_is_refused_for_its_call_alone_and_never_unpickled(
    tmp_path: Path,
) -> None:
    traps = [tmp_path / f"unpickled {number}" for number in range(3)]
    stream = (
        joined(encode_result(7, [Trap(str(traps[0]))], allow_pickle=True))
        + encode(Call(8, "m:f", False, [Trap(str(traps[1]))]), allow_pickle=True)
        + encode(ViewReply(9, Trap(str(traps[2]))), allow_pickle=True)
        + encode(Ping(3))
    )
    decoded = FrameDecoder().decode(stream)
    assert [(type(message), getattr(message, "kind", None)) for message in decoded] == [
        (Malformed, Result),
        (Malformed, Call),
        (Malformed, ViewReply),
        (Ping, None),
    ]
    for message, call_id in zip(decoded, (7, 8, 9), strict=False):
        assert message.call_id == call_id and message.refused
        assert "pickled value, and this pool does not allow pickle" in message.problem
        assert "nothing was unpickled" in message.problem
    assert not any(trap.exists() for trap in traps)
    # Where pickle is allowed, the same bytes run code: the reason it is off by default.
    FrameDecoder(allow_pickle=True).decode(stream)
    assert all(trap.is_dir() for trap in traps)


def test_a_refused_value_in_a_message_that_names_no_call_breaks_the_stream() -> None:
    frame = encode(ViewRequest(1, 2, "view", {"key": {1, 2}}), allow_pickle=True)
    with pytest.raises(ProtocolError, match="does not decode: it holds a pickled value"):
        FrameDecoder().decode(frame)


def frame_of(body: Any) -> bytes:
    data = msgpack.packb(body, use_bin_type=True)
    return struct.pack(">I", len(data)) + data


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (msgpack.ExtType(42, b"?"), "msgpack extension of unknown type 42"),
        (msgpack.ExtType(Ext.TUPLE, msgpack.packb("abc")), "tuple extension that is not an array"),
        (msgpack.Timestamp(-62135596800 - 3600), "datetime out of range in UTC"),
    ],
)
def test_extension_values_that_do_not_decode_fail_their_call_alone(
    value: Any, expected: str
) -> None:
    decoded = FrameDecoder().decode(frame_of([Result.KIND, 5, [value]]) + encode(Ping(1)))
    assert decoded[1:] == [Ping(1)]
    (refused,) = decoded[:1]
    assert isinstance(refused, Malformed) and (refused.kind, refused.call_id) == (Result, 5)
    assert expected in refused.problem


def array_extension(descr: bytes, shape: tuple[int, ...], data: bytes) -> bytes:
    """The data of an array extension, as `_arrays` lays it out, with any contents."""
    head = bytes([len(descr), len(shape)]) + descr + struct.pack(f"<{len(shape)}Q", *shape)
    return head + bytes(-len(head) % 16) + data


@needs_numpy
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x03", "does not decode"),  # cut short
        (array_extension(b"|O", (1,), bytes(8)), "Python objects"),  # pointers: never built
        (array_extension(b"<f8", (4,), bytes(8)), "8 bytes of data for 4 items of 8"),
        (array_extension(b"<f8", (1,), bytes(8)), ""),  # sound: decodes
    ],
)
def test_an_array_extension_is_decoded_only_if_it_is_a_sound_array(
    data: bytes, expected: str
) -> None:
    if not expected:
        (result,) = FrameDecoder().decode(frame_of([Result.KIND, 5, [msgpack.ExtType(2, data)]]))
        assert isinstance(result, Result) and result.results[0].tolist() == [0.0]
        return
    (refused,) = FrameDecoder().decode(frame_of([Result.KIND, 5, [msgpack.ExtType(2, data)]]))
    assert isinstance(refused, Malformed) and refused.refused and expected in refused.problem


# --- numpy stays optional -----------------------------------------------------------------------


def test_a_worker_starts_without_importing_numpy_or_pickle() -> None:
    program = (
        "import sys\n"
        "import slither_actors._pool.child\n"
        "from slither_actors._pool.protocol import FrameDecoder, encode_call\n"
        "FrameDecoder().decode(encode_call(1, 'm:f', False, [(1, b'x')], None))\n"
        "print(sorted({'numpy', 'pickle'} & set(sys.modules)))\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert finished.stdout.strip() == "[]"


@needs_numpy
def test_an_array_arriving_where_numpy_cannot_be_imported_is_refused_for_its_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frame = joined(encode_result(4, [numpy.arange(3)]))
    monkeypatch.setitem(sys.modules, "numpy", None)  # import numpy now fails, as without it
    (refused,) = FrameDecoder().decode(frame)
    assert isinstance(refused, Malformed) and refused.refused and refused.call_id == 4
    assert "it holds a numpy array, but numpy cannot be imported here" in refused.problem


# --- large frames: never copied chunk by chunk --------------------------------------------------


def test_a_large_body_is_framed_without_being_joined_to_its_header() -> None:
    small = encode_result(1, [b"x" * 1000])
    large = encode_result(1, [b"x" * (2 * 2**20)])
    assert isinstance(small, bytes)
    assert isinstance(large, tuple) and len(large[0]) == 4
    assert FrameDecoder().decode(joined(large)) == [Result(1, [b"x" * (2 * 2**20)])]


def test_a_packer_lent_to_a_large_frame_packs_again_only_once_that_frame_is_gone() -> None:
    first = encode_result(1, [b"a" * (2 * 2**20)])
    second = encode_result(2, [b"b" * (2 * 2**20)])  # the first frame is still alive
    assert isinstance(first, tuple) and isinstance(second, tuple)
    assert first[1].obj is not second[1].obj
    assert FrameDecoder().decode(joined(first)) == [Result(1, [b"a" * (2 * 2**20)])]
    packer = second[1].obj
    del first, second  # both frames written and gone: the last packer packs the next one
    third = encode_result(3, [b"c" * (2 * 2**20)])
    assert isinstance(third, tuple) and third[1].obj is packer
    del third
    encode(Ping(1))  # small frames again: the grown packer is let go
    fourth = encode_result(4, [b"d" * (2 * 2**20)])
    assert isinstance(fourth, tuple) and fourth[1].obj is not packer


def read_large_frame(decoder: FrameDecoder, frame: bytes, already: int = 0) -> tuple[Any, Any]:
    """Read ``frame`` as a pipe would: its first 1000 bytes (unless ``already`` were fed
    before), then its rest into the buffer the decoder offers. That buffer's bytearray, and
    what was decoded."""
    if not already:
        decoder.get_buffer()[:1000] = frame[:1000]
        assert decoder.buffer_updated(1000) == []
        already = 1000
    rest = decoder.get_buffer()
    assert len(rest) == len(frame) - already  # exactly this frame's rest: it lands in place
    rest[:] = frame[already:]
    return rest.obj, decoder.buffer_updated(len(rest))


def test_a_large_frame_is_read_into_one_buffer_of_its_size_kept_only_for_large_ones() -> None:
    payload = bytes(range(256)) * (3 * 2**12)  # 3 MiB
    first, second = (joined(encode_result(n, [payload[: 2**21 * n]])) for n in (1, 2))
    decoder = FrameDecoder()
    buffer, decoded = read_large_frame(decoder, second)
    assert decoded == [Result(2, [payload[: 2**22]])]
    assert decoder.pending == 0 and len(decoder.get_buffer()) == 2**16  # small reads again
    # The next large frame reuses that buffer, even when it starts behind another frame.
    assert decoder.decode(encode(Ping(1)) + first[:1000])[0] == Ping(1)
    again, decoded = read_large_frame(decoder, first, already=1000)
    assert again is buffer and decoded == [Result(1, [payload[: 2**21]])]
    # Once a small frame comes, it is let go: a large frame after it gets a fresh buffer.
    assert decoder.decode(encode(Ping(2))) == [Ping(2)]
    fresh, decoded = read_large_frame(decoder, first)
    assert fresh is not buffer and decoded == [Result(1, [payload[: 2**21]])]


async def test_a_pipe_writer_delivers_large_and_small_frames_whole_and_in_order() -> None:
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    writer = PipeWriter(write_fd)
    reader = trio.lowlevel.FdStream(read_fd)
    sent = [
        Result(1, [b"a" * (3 * 2**20)]),
        Ping(2),
        Result(3, [b"c" * 5]),
        Result(4, [b"d" * (2 * 2**20)]),
        Ping(5),
    ]
    decoder = FrameDecoder()
    received: list[Any] = []
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.flush_forever)
            for message in sent:
                writer.write(encode(message))
            with trio.fail_after(10):
                while len(received) < len(sent):
                    received.extend(decoder.decode(await reader.receive_some(1 << 16)))
            nursery.cancel_scope.cancel()
    finally:
        writer.close()
        await reader.aclose()
    assert received == sent


# --- through real workers -----------------------------------------------------------------------


def codec_pool(**overrides: Any) -> sa.PoolSettings:
    return pool_settings(**{"size": 1, "preload": ("codec_functions",), **overrides})


@needs_numpy
async def test_tuples_arrays_datetimes_and_bytes_go_to_a_worker_and_back_as_they_were() -> None:
    payloads = [
        (1, 2),
        {"pair": (1, (2, "x")), (3, "key"): [(), [4]]},
        numpy.arange(12, dtype=numpy.float32).reshape(3, 4),
        datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))),
        b"raw",
        bytearray(b"ba"),
        memoryview(b"mv"),
    ]
    async with sa.open_pool(codec_pool()) as pool:
        assert same(payloads, await pool.call("codec_functions:echo", payloads))
        arrived = await pool.call("codec_functions:type_names", payloads)
        assert arrived[0] == ["tuple", ["int", "int"]]
        assert [kind for kind, _ in arrived[2:]] == ["ndarray", "datetime", *["bytes"] * 3]
        assert await pool.call("codec_functions:is_writable", [payloads[2]]) == [False]
        made = await pool.call("codec_functions:made_here", ["tuple", "array", "aware"])
        assert made[0] == (1, ("nested", b"bytes"))
        assert made[1].dtype == numpy.int32 and made[1].tolist() == [[0, 1, 2], [3, 4, 5]]
        assert made[2] == datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=UTC)


@needs_numpy
async def test_twenty_megabytes_of_bytes_and_of_array_go_to_a_worker_and_back() -> None:
    array = numpy.random.default_rng(3).random(20 * 2**20 // 8)
    data = array.tobytes()
    async with sa.open_pool(codec_pool()) as pool:
        echoed_array, echoed_bytes = await pool.call("codec_functions:echo", [array, data])
    assert numpy.array_equal(echoed_array, array) and echoed_bytes == data


async def test_a_naive_datetime_is_refused_before_it_is_sent_and_as_a_result() -> None:
    async with sa.open_pool(codec_pool()) as pool:
        with pytest.raises(sa.PayloadError, match=r"payload 0 .*datetime without a timezone"):
            await pool.call("codec_functions:echo", [datetime(2024, 1, 1)])
        with pytest.raises(sa.WorkerError, match=r"result 0 .*datetime without a timezone") as e:
            await pool.call("codec_functions:made_here", ["naive"])
        assert e.value.remote_type == "PayloadError"


async def test_view_params_and_replies_keep_their_tuples() -> None:
    async def resolve(name: str, params: dict[str, Any], session_id: str | None) -> Any:
        assert type(params["key"]) is tuple
        return (params["key"], "from the parent")

    async with sa.open_pool(codec_pool()) as pool:
        pool.set_view_resolver(resolve)
        assert await pool.call("codec_functions:ask_pair", [(1, (2, 3))]) == [
            [((1, (2, 3)), "from the parent"), "tuple"]
        ]


async def test_pickle_is_refused_by_default_naming_the_opt_in() -> None:
    async with sa.open_pool(codec_pool()) as pool:
        with pytest.raises(sa.PayloadError, match=r"set is not a type .*allow_pickle=True"):
            await pool.call("codec_functions:echo", [{1, 2}])
        with pytest.raises(sa.WorkerError, match=r"result 0 .*set is not a type"):
            await pool.call("codec_functions:made_here", ["set"])


@needs_numpy
async def test_a_pool_that_allows_pickle_carries_what_nothing_else_does_both_ways() -> None:
    objects = numpy.array([Fraction(1, 2), None], dtype=object)
    async with sa.open_pool(codec_pool(allow_pickle=True)) as pool:
        echoed = await pool.call("codec_functions:echo", [{1, 2}, Fraction(1, 3), objects])
        assert echoed[:2] == [{1, 2}, Fraction(1, 3)]
        assert echoed[2].dtype == object and echoed[2].tolist() == [Fraction(1, 2), None]
        assert (await pool.call("codec_functions:type_names", [{1}]))[0][0] == "set"
        assert await pool.call("codec_functions:made_here", ["set"]) == [{1, 2}]


async def test_a_worker_sending_a_pickle_to_a_pool_without_the_opt_in_fails_that_call_only(
    tmp_path: Path,
) -> None:
    trap = tmp_path / "unpickled"
    async with sa.open_pool(codec_pool(calls_per_worker=2)) as pool:
        (pid,) = worker_pids(pool)
        outcomes: dict[str, Any] = {}

        async def run(name: str, target: str, payloads: list[Any]) -> None:
            try:
                outcomes[name] = await pool.call(target, payloads)
            except sa.SlitherError as error:
                outcomes[name] = error

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, "bad", "codec_functions:send_pickled", [str(trap)])
            # The bad call is written first, the good one behind it on the same worker.
            await trio.lowlevel.checkpoint()
            nursery.start_soon(run, "good", "codec_functions:echo", [(1, 2)])
        bad = outcomes["bad"]
        assert isinstance(bad, sa.PayloadError)
        assert "the result of codec_functions:send_pickled from pool 'default' worker 1" in str(bad)
        assert "does not allow pickle (PoolSettings.allow_pickle is False)" in str(bad)
        assert outcomes["good"] == [(1, 2)]
        assert not trap.exists()  # nothing was unpickled
        assert worker_pids(pool) == [pid]  # the frame was sound: the worker lives on
        assert await pool.call("codec_functions:echo", ["after"]) == ["after"]


async def test_a_worker_refuses_a_pickled_call_when_its_pool_does_not_allow_pickle() -> None:
    async with raw_worker(codec_pool()) as worker:
        with trio.fail_after(10):
            assert isinstance(await worker.next_message(), Hello)
            pickled = Call(7, "codec_functions:echo", False, [{1, 2}])
            worker.write(encode(pickled, allow_pickle=True))
            worker.write(encode(Call(8, "codec_functions:echo", False, [(5,)])))
            error = await worker.next_message()
            assert isinstance(error, Error) and error.call_id == 7
            assert error.type_name == "PayloadError"
            assert "cannot decode this call's payloads: it holds a pickled value" in error.message
            assert await worker.next_message() == Result(8, [(5,)])


@needs_numpy
async def test_a_worker_without_numpy_answers_an_array_with_an_error_and_lives_on(
    tmp_path: Path,
) -> None:
    hidden = tmp_path / "hidden" / "numpy"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('numpy is hidden from this worker')\n")
    async with sa.open_pool(codec_pool(env={"PYTHONPATH": str(hidden.parent)})) as pool:
        pids = worker_pids(pool)
        with pytest.raises(sa.WorkerError) as caught:
            await pool.call("codec_functions:echo", [numpy.arange(3)])
        assert caught.value.remote_type == "PayloadError"
        assert "numpy cannot be imported here (ImportError: numpy is hidden" in str(caught.value)
        assert await pool.call("codec_functions:echo", [(1,)]) == [(1,)]

        async def resolve(name: str, params: dict[str, Any], session_id: str | None) -> Any:
            return numpy.arange(2)

        pool.set_view_resolver(resolve)
        [answer] = await pool.call("codec_functions:ask_quietly", ["numbers"], timeout=5)
        assert answer.startswith("PayloadError: view 'numbers' failed: PayloadError: the worker")
        assert "cannot decode the reply: it holds a numpy array, but numpy cannot" in answer
        assert worker_pids(pool) == pids


@needs_numpy
async def test_a_parent_without_numpy_refuses_an_array_result_and_the_worker_lives_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with sa.open_pool(codec_pool()) as pool:
        pids = worker_pids(pool)
        with monkeypatch.context() as patched:
            patched.setitem(sys.modules, "numpy", None)
            with pytest.raises(sa.PayloadError, match="numpy cannot be imported here"):
                await pool.call("codec_functions:made_here", ["array"])
        assert await pool.call("codec_functions:echo", [1]) == [1]
        assert worker_pids(pool) == pids


def test_allow_pickle_is_a_bool_in_code_and_in_settings_files() -> None:
    assert sa.PoolSettings().allow_pickle is False
    with pytest.raises(ValueError, match="allow_pickle must be a bool, not int 1"):
        sa.PoolSettings(allow_pickle=1)
    with pytest.raises(sa.ConfigError, match=r"expected bool, got str 'yes' @ .*allow_pickle"):
        sa.Settings.from_dict({"pools": [{"allow_pickle": "yes"}]})
    settings = sa.Settings.from_dict({"pools": [{"name": "p", "allow_pickle": True}]})
    assert settings.pools[0].allow_pickle is True
