"""Values as msgpack, with our extension types, and naming precisely what cannot travel.

msgpack carries dict, list, str, bytes (bytearray and memoryview go as bytes), int within
64 bits, float, bool and None itself; aware datetimes go as msgpack timestamps. The
extension types below carry tuples, numpy arrays and, only on a link that opts in, pickles
of anything else. Types are strict: a subclass (an `IntEnum`, an `OrderedDict`) is not
silently sent as its base, so what arrives is exactly what was sent, or nothing is sent.

Imports only the standard library, msgpack and our errors: worker processes import it at
start-up. numpy and pickle are imported when first needed.
"""

from __future__ import annotations

import datetime
import enum
import struct
import sys
import threading
from typing import Any, cast

import msgpack

from slither_actors._pool._arrays import pack_array, refusal, unpack_array
from slither_actors.errors import PayloadError

__all__ = [
    "CODECS",
    "PICKLING",
    "STRICT",
    "UNPACKABLE",
    "Codec",
    "Ext",
    "Frame",
    "FrameTooLarge",
    "Refused",
    "Unpackable",
    "codec_for",
    "payload_error",
]


class Ext(enum.IntEnum):
    """Our msgpack extension type codes, all of them (msgpack's own timestamp is -1)."""

    TUPLE = 1  # the elements, packed as a msgpack array
    NDARRAY = 2  # dtype, shape and the raw C-ordered bytes (see _arrays)
    PICKLE = 3  # pickle.dumps of the value, only where the link allows pickle


# What packing raises for a value that cannot travel (BufferError: a memoryview that is not
# contiguous).
UNPACKABLE = (TypeError, ValueError, OverflowError, BufferError)

# A frame body larger than this is not copied out of its packer (see Codec.frame), and a
# packer that grew past it is not kept for small frames nor for parts of values.
_KEEP_BUFFER = 1 << 20
# Tuples (or pickles) inside tuples, deeper than this, are refused: each level is a packer.
_MAX_NESTING = 64

_CARRIED = (
    "dict, list, tuple, str, bytes, int, float, bool, None, datetime with a timezone "
    "or numpy array, nested freely"
)


class Unpackable(TypeError):
    """A value that cannot travel; the message names it and says why."""


class Refused(Exception):
    """A received value this side will not or cannot decode (a pickle where pickle is off,
    a numpy array without numpy); the message says why, and nothing of it was decoded."""


# A frame as it is written: one bytes, or (header, body) for a large body, not joined.
Frame = bytes | tuple[bytes, memoryview]


class FrameTooLarge(Exception):
    """A packed value larger than the frame limit; ``size`` is its size in bytes."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class _PerThread(threading.local):
    """A codec's packers in one thread (class attributes are the defaults: looking up one
    that was never set must not cost an exception on the hot path)."""

    packer: Any = None  # packs frames
    lent: Any = None  # packed the last large frame, whose body may still be being written
    depth = 0  # how deep packing parts of a value (tuples, pickles) has gone

    def __init__(self) -> None:
        self.spares: list[Any] = []  # packers for parts of a value


class Codec:
    """Packs and unpacks values for one kind of link: with or without pickle.

    Only two exist, `STRICT` and `PICKLING` (see `codec_for`); each keeps its msgpack
    packers per thread and reuses them (making one per frame cost more than packing a
    small batch).
    """

    def __init__(self, allow_pickle: bool) -> None:
        self.allow_pickle = allow_pickle
        self._local = _PerThread()
        self._unpack_options = {
            "raw": False,
            "strict_map_key": False,
            "timestamp": 3,  # a msgpack timestamp arrives as an aware datetime in UTC
            "ext_hook": self._unpack_ext,
        }

    # --- packing ----------------------------------------------------------------------

    def frame(self, value: Any, header: struct.Struct, max_body: int) -> Frame:
        """``header.pack(size)`` followed by ``value`` packed (``size`` bytes): one bytes, or
        for a body over 1 MiB the header and a view of the body where msgpack packed it.

        The large body is not copied: its packer is lent to the frame, and packs nothing
        else while a view of the frame is alive. It packs the next frame if the last one is
        gone by then (its grown buffer saves the page faults of a new one), and is let go
        once small frames follow. Raises one of `UNPACKABLE` (an `Unpackable` says why) if
        ``value`` cannot travel, and `FrameTooLarge` if its packed size exceeds
        ``max_body``.
        """
        local = self._local
        packer = local.packer
        if packer is None:
            packer = local.packer = self._packer_for_frame()
        packer.pack(value)  # msgpack empties the packer if this raises
        body: memoryview = packer.getbuffer()
        size = len(body)
        if size > _KEEP_BUFFER:
            local.packer = None
            local.lent = packer  # back in use once this frame is gone (see _packer_for_frame)
            if size > max_body:
                raise FrameTooLarge(size)
            return (header.pack(size), body)
        try:
            if size > max_body:
                raise FrameTooLarge(size)
            return header.pack(size) + body  # the small body copied once, out of the packer
        finally:
            body.release()
            packer.reset()
            if packer is local.lent:
                local.lent = local.packer = None  # small frames again: let the grown one go

    def _packer_for_frame(self) -> Any:
        """The packer of the last large frame if that frame is gone (its buffer is grown and
        its pages are mapped already: new ones cost a page fault per 4 KiB), else a new one."""
        lent = self._local.lent
        if lent is not None:
            try:
                lent.reset()  # BufferError while a view of the frame it packed is alive
            except BufferError:
                pass
            else:
                return lent
        return self._new_packer(autoreset=False)

    def pack(self, value: Any) -> bytes:
        """``value`` alone as msgpack; raises one of `UNPACKABLE` if it cannot travel."""
        local = self._local
        depth = local.depth
        if depth >= _MAX_NESTING:
            raise Unpackable(f"tuples or pickles nested more than {_MAX_NESTING} deep")
        spares = local.spares
        # The packer of the frame may be busy packing the value this is a part of: packing
        # a part takes a packer of its own.
        packer = spares.pop() if spares else self._new_packer(autoreset=True)
        local.depth = depth + 1
        data = b""
        try:
            data = cast(bytes, packer.pack(value))
        finally:
            local.depth = depth
            if len(data) <= _KEEP_BUFFER:
                spares.append(packer)
        return data

    def _new_packer(self, *, autoreset: bool) -> Any:
        return msgpack.Packer(
            use_bin_type=True,
            strict_types=True,
            datetime=True,  # an aware datetime as a msgpack timestamp; naive ones reach _default
            default=self._default,
            autoreset=autoreset,
        )

    def _default(self, value: Any) -> Any:
        """What msgpack does not carry itself: our extension types, or `Unpackable`."""
        kind = type(value)
        if kind is tuple:
            return msgpack.ExtType(Ext.TUPLE, self.pack(list(value)))
        numpy = sys.modules.get("numpy")  # an array exists only once numpy has been imported
        if numpy is not None and kind is numpy.ndarray:
            problem = refusal(value.dtype)
            if problem is None:
                return msgpack.ExtType(Ext.NDARRAY, pack_array(value))
            if not self.allow_pickle:
                raise Unpackable(problem)
        elif kind is datetime.datetime:
            raise Unpackable(
                "datetime without a timezone: give it one, such as datetime.now(timezone.utc) "
                "or value.replace(tzinfo=timezone.utc); it then arrives as the same moment in UTC"
            )
        if self.allow_pickle:
            return msgpack.ExtType(Ext.PICKLE, _pickle(value))
        raise Unpackable(_not_carried(value))

    # --- unpacking --------------------------------------------------------------------

    def unpack(self, data: bytes | memoryview) -> Any:
        """The value packed in ``data``; raises `Refused` for an extension value this side
        will not or cannot decode, and msgpack's errors for bytes that are not msgpack."""
        return msgpack.unpackb(data, **self._unpack_options)

    def _unpack_ext(self, code: int, data: bytes) -> Any:
        if code == Ext.TUPLE:
            elements = self.unpack(data)
            if type(elements) is not list:
                raise Refused("it holds a tuple extension that is not an array")
            return tuple(elements)
        if code == Ext.NDARRAY:
            try:
                return unpack_array(data)
            except ValueError as exc:
                raise Refused(str(exc)) from None
        if code == Ext.PICKLE:
            if not self.allow_pickle:
                raise Refused(
                    "it holds a pickled value, and this pool does not allow pickle "
                    "(PoolSettings.allow_pickle is False); nothing was unpickled"
                )
            import pickle

            return pickle.loads(data)
        raise Refused(f"it holds a msgpack extension of unknown type {code}")


STRICT = Codec(allow_pickle=False)
PICKLING = Codec(allow_pickle=True)
# Indexed by allow_pickle (a bool is 0 or 1), for the hot paths: CODECS[allow_pickle].
CODECS = (STRICT, PICKLING)


def codec_for(allow_pickle: bool) -> Codec:
    """`PICKLING` if ``allow_pickle``, else `STRICT`."""
    return CODECS[allow_pickle]


def _pickle(value: Any) -> bytes:
    import pickle

    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise Unpackable(
            f"{type(value).__name__} cannot be pickled: {type(exc).__name__}: {exc}"
        ) from None


def _not_carried(value: Any) -> str:
    kind = type(value)
    if kind is int:
        return f"int {value} does not fit in 64 bits"
    hint = ""
    numpy = sys.modules.get("numpy")
    items = sys.modules.get("slither_actors.item")
    if items is not None and isinstance(value, items.Item):
        hint = " (an Item: send its payload, item.payload)"
    elif numpy is not None and isinstance(value, numpy.generic):
        hint = " (a numpy scalar: use value.item())"
    elif numpy is not None and isinstance(value, numpy.ndarray):
        hint = " (a subclass of numpy.ndarray: use numpy.asarray(value))"
    else:
        for base in (int, float, str, bytes, list, dict, tuple, datetime.datetime):
            if isinstance(value, base):
                hint = f" (a subclass of {base.__name__}: convert it to a {base.__name__})"
                break
    return (
        f"{kind.__name__} is not a type that travels{hint}; payloads are {_CARRIED} "
        f"(a pool with allow_pickle=True pickles the rest)"
    )


# --- errors -----------------------------------------------------------------------------


def payload_error(message: Any, cause: Exception, codec: Codec) -> PayloadError:
    """The error for ``message`` (a protocol message) that ``codec`` refused with ``cause``:
    it names the first payload or result that cannot travel, and why."""
    items = getattr(message, "payloads", None)
    what = "payload"
    if items is None:
        items, what = getattr(message, "results", None), "result"
    if isinstance(items, list):
        for index, item in enumerate(items):
            try:
                codec.pack(item)
            except UNPACKABLE as exc:
                return PayloadError(
                    f"{what} {index} cannot travel to or from a worker: {_reason(exc)}"
                )
    return PayloadError(f"{type(message).__name__} cannot be encoded: {_reason(cause)}")


def _reason(error: BaseException) -> str:
    # Our own refusals already name the innermost value that cannot travel, and why.
    if isinstance(error, Unpackable):
        return str(error)
    if isinstance(error, BufferError):
        return f"a memoryview that is not C-contiguous cannot travel; pass view.tobytes() ({error})"
    return f"msgpack cannot pack it: {error}"
