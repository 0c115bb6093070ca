"""Worker functions for tests/test_codec.py: what arrives in a worker, and what it sends back."""

from __future__ import annotations

import datetime
import os
from typing import Any

from slither_actors import worker


def echo(items: list[Any]) -> list[Any]:
    return items


def type_names(items: list[Any]) -> list[Any]:
    """Each payload's type, and its elements' types for a tuple or a list, as the worker
    sees them: what arrived, before anything is sent back."""
    return [
        [type(item).__name__, [type(part).__name__ for part in item]]
        if isinstance(item, tuple | list)
        else [type(item).__name__, []]
        for item in items
    ]


def made_here(items: list[str]) -> list[Any]:
    """Values built in the worker, one per name."""
    import numpy

    made = {
        "tuple": (1, ("nested", b"bytes")),
        "array": numpy.arange(6, dtype=numpy.int32).reshape(2, 3),
        "aware": datetime.datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=datetime.UTC),
        "naive": datetime.datetime(2024, 5, 6, 7, 8, 9),
        "set": {1, 2},
    }
    return [made[item] for item in items]


def is_writable(items: list[Any]) -> list[bool]:
    """Whether each array arrived writable (they arrive read-only: views of the frame)."""
    return [bool(item.flags.writeable) for item in items]


def ask_pair(items: list[Any]) -> list[Any]:
    """Asks the view "pair" with each payload as its ``key``; the reply and its type."""
    answers = []
    for item in items:
        reply = worker.call_view("pair", key=item)
        answers.append([reply, type(reply).__name__])
    return answers


def ask_quietly(items: list[str]) -> list[str]:
    """Asks the view each payload names; what it raised, as text."""
    answers = []
    for item in items:
        try:
            answers.append(repr(worker.call_view(item)))
        except worker.ViewError as error:
            answers.append(f"{error.type_name}: {error}")
    return answers


class Trap:
    """Unpickling this makes the directory ``path``: proof that unpickling ran code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (self.path,))


def send_pickled(items: list[str]) -> list[Any]:
    """Returns a `Trap` per path, pickled whatever the pool allows, as a worker that does
    not play by the rules would: it turns pickle on in its own end of the link."""
    loop: Any = worker._connection
    loop.connection.allow_pickle = True
    return [Trap(item) for item in items]
