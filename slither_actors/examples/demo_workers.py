"""Functions the ``workers`` demo runs inside worker processes."""

from __future__ import annotations

import os
import time
from typing import Any

from slither_actors.worker import worker_id

CALLS = 0  # worker-local: each process counts its own


def square(numbers: list[int]) -> list[int]:
    global CALLS
    CALLS += 1
    return [number * number for number in numbers]


def shout(words: list[str]) -> list[str]:
    print(f"worker {worker_id()} shouting {len(words)} words")  # reaches the parent's log
    return [word.upper() for word in words]


def crash(items: list[Any]) -> list[Any]:
    os._exit(3)


def stall(items: list[float]) -> list[float]:
    time.sleep(items[0])
    return items


def stats(_: list[Any]) -> list[dict[str, int]]:
    return [{"worker": worker_id(), "pid": os.getpid(), "calls": CALLS}]
