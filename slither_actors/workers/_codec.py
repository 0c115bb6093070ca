"""Packing values with msgpack, and naming precisely what cannot be packed.

Imports only msgpack and our errors: worker processes import it at start-up.
"""

from __future__ import annotations

import threading
from typing import Any

import msgpack

from slither_actors.errors import PayloadError

__all__ = ["UNPACKABLE", "pack", "payload_error"]

# What msgpack raises for a value it cannot carry.
UNPACKABLE = (TypeError, ValueError, OverflowError)

_local = threading.local()


def pack(value: Any) -> bytes:
    """``value`` as msgpack bytes; raises one of `UNPACKABLE` if msgpack cannot carry it."""
    # strict_types: a tuple is not silently turned into a list, nor an IntEnum into an int;
    # what arrives is exactly what was sent. A Packer per thread, reused: making one per
    # frame cost more than packing a small batch.
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True, strict_types=True)
    return packer.pack(value)  # type: ignore[no-any-return]


def payload_error(message: Any, cause: Exception) -> PayloadError:
    """The error for ``message`` (a protocol message) that msgpack refused with ``cause``:
    it names the first payload or result that cannot travel, and its innermost bad type."""
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
        pack(item)
    except UNPACKABLE:
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
                    pack(part)
                except UNPACKABLE:
                    return _first_unpackable(part)
    elif type(item) is list:
        for part in item:
            try:
                pack(part)
            except UNPACKABLE:
                return _first_unpackable(part)
    return item
