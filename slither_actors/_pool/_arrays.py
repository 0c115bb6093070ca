"""numpy arrays on the wire: dtype, shape and the raw bytes, for one msgpack extension.

The extension's data is a small header, padded to 16 bytes so that the array's bytes stay
aligned where they arrive, then the bytes in C order::

    u8 len(dtype)  u8 ndim  dtype.str (ascii)  ndim x u64 shape (little-endian)  padding  data

numpy stays optional. This module never imports it to send (an array exists only once
numpy is loaded) and imports it to receive only when an array arrives. Errors are
`ValueError` with a reason; the codec turns them into its own.
"""

from __future__ import annotations

import importlib
import math
import struct
from typing import Any

__all__ = ["pack_array", "refusal", "unpack_array"]

_ALIGN = 16
_COUNTS = struct.Struct("<BB")
# Numbers, bools, datetime64/timedelta64, fixed-size bytes and str, raw void: the kinds whose
# bytes are their whole value. Object arrays (pointers) and numpy 2's StringDType are not.
_KINDS = frozenset("biufcmMSUV")


def refusal(dtype: Any) -> str | None:
    """Why an array of ``dtype`` cannot travel as raw bytes, or None if it can."""
    if dtype.hasobject:
        return (
            f"numpy array of dtype {dtype}: its items are Python objects, not bytes (use a "
            f"numeric, bool, datetime64, bytes or str dtype, or a list)"
        )
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        return (
            f"numpy array of dtype {dtype}: only plain numeric, bool, datetime64, "
            f"timedelta64, bytes and str dtypes travel (send a structured array as one "
            f"array per field)"
        )
    return None


def pack_array(array: Any) -> bytes:
    """The extension data for ``array`` (an exact ``numpy.ndarray``); `ValueError` if its
    dtype cannot travel. A non-contiguous array is copied into C order first."""
    problem = refusal(array.dtype)
    if problem is not None:
        raise ValueError(problem)
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    descr = array.dtype.str.encode("ascii")
    shape = array.shape
    head = _COUNTS.pack(len(descr), len(shape)) + descr + struct.pack(f"<{len(shape)}Q", *shape)
    head += bytes(-len(head) % _ALIGN)
    # A C-contiguous array seen as flat bytes is a view, not a copy; join copies it once.
    return b"".join((head, array.reshape(-1).view("u1")))


def unpack_array(data: bytes) -> Any:
    """The array in extension ``data``, read-only: a view of ``data``, not a copy.

    Raises `ValueError` naming what is wrong: numpy cannot be imported in this process,
    or the data is not a sound array of a dtype that travels.
    """
    try:
        numpy = importlib.import_module("numpy")
    except ImportError as exc:
        raise ValueError(
            f"it holds a numpy array, but numpy cannot be imported here "
            f"({type(exc).__name__}: {exc})"
        ) from None
    try:
        length, ndim = _COUNTS.unpack_from(data)
        descr = data[_COUNTS.size : _COUNTS.size + length].decode("ascii")
        shape = struct.unpack_from(f"<{ndim}Q", data, _COUNTS.size + length)
        offset = _COUNTS.size + length + 8 * ndim
        offset += -offset % _ALIGN
        dtype = numpy.dtype(descr)
        problem = refusal(dtype)
        if problem is not None:
            raise ValueError(problem)
        count = math.prod(shape)
        if count * dtype.itemsize != len(data) - offset:
            raise ValueError(
                f"{len(data) - offset} bytes of data for {count} items of {dtype.itemsize}"
            )
        return numpy.frombuffer(data, dtype, count, offset).reshape(shape)
    except (ValueError, TypeError, struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"it holds a numpy array that does not decode: {exc}") from None
