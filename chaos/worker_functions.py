"""Functions the chaos scripts run inside real worker processes (imported there, not here).

Each takes a list of payloads and returns one result per payload, unless misbehaving on
purpose is its point. The pools of the scripts preload this module from chaos/.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from slither_actors.worker import call_view

# Seconds of work per item of `double_slowly`, set per pool through its `env`.
ITEM_SECONDS = float(os.environ.get("CHAOS_ITEM_SECONDS", "0"))
FOREVER = 10**6  # seconds: longer than any chaos run


def double(items: list[int]) -> list[int]:
    """The good call: every number doubled."""
    return [item * 2 for item in items]


def double_slowly(items: list[int]) -> list[int]:
    """`double`, after ``CHAOS_ITEM_SECONDS`` of sleep per item (real work takes time)."""
    time.sleep(ITEM_SECONDS * len(items))
    return [item * 2 for item in items]


def double_unless_hang(items: list[Any]) -> list[Any]:
    """`double`, but a batch holding ``"hang"`` sleeps forever."""
    if "hang" in items:
        time.sleep(FOREVER)
    return [item * 2 for item in items]


def sleep_forever(items: list[Any]) -> list[Any]:
    """Never returns: a hung call."""
    time.sleep(FOREVER)
    return items


def sleep_then_pid(items: list[float]) -> list[int]:
    """Sleeps the seconds given, then says which process it ran in."""
    time.sleep(sum(items))
    return [os.getpid() for _ in items]


def pid(items: list[Any]) -> list[int]:
    """Which process each item ran in."""
    return [os.getpid() for _ in items]


def drop_last(items: list[Any]) -> list[Any]:
    """One result too few."""
    return items[:-1]


def as_tuple(items: list[Any]) -> tuple[Any, ...]:
    """Not a list."""
    return tuple(items)


def set_result(items: list[Any]) -> list[Any]:
    """A result msgpack cannot carry (a set)."""
    return [{1, 2} for _ in items]


def inflate(sizes: list[int]) -> list[bytes]:
    """A result of the given number of bytes per item (too big for a small ``max_frame``)."""
    return [b"x" * size for size in sizes]


def scribble(items: list[Any]) -> list[Any]:
    """Binary garbage straight to fd 1 and fd 2 (a frame header among it), then `double`."""
    garbage = b"\x00\x00\x00\x10\xc1\xff\xfe binary \x00\x01\x02\x03\n"
    os.write(1, garbage)
    os.write(2, garbage)
    sys.stdout.write("\x00\x00\x00\x05 text that looks like a frame\n")
    return double(items)


def raise_value_error(items: list[Any]) -> list[Any]:
    """A plain exception in user code."""
    raise ValueError(f"cannot handle {items!r}")


def raise_system_exit(items: list[Any]) -> list[Any]:
    """``sys.exit`` in user code (a library calling it, say)."""
    sys.exit(3)


def raise_keyboard_interrupt(items: list[Any]) -> list[Any]:
    """``KeyboardInterrupt`` raised by user code."""
    raise KeyboardInterrupt


def exit_process(items: list[Any]) -> list[Any]:
    """The process ends under the call (a segfault, an ``os._exit`` in a C library)."""
    os._exit(3)


def read_view(questions: list[dict[str, Any]]) -> list[Any]:
    """Calls the view each question names, letting a `ViewError` out."""
    return [call_view(question["view"], **question.get("params", {})) for question in questions]
