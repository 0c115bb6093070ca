"""The functions every contender in bench/pool.py runs, importable by all their workers."""

from __future__ import annotations

import time

SPIN_SECONDS = 50e-6


def trivial(item: int) -> int:
    return item + 1


def cpu(item: int) -> int:
    """About 50 µs of pure-Python work per item."""
    end = time.perf_counter() + SPIN_SECONDS
    while time.perf_counter() < end:
        pass
    return item + 1


def trivial_batch(items: list[int]) -> list[int]:
    return [item + 1 for item in items]


def cpu_batch(items: list[int]) -> list[int]:
    return [cpu(item) for item in items]


BATCH_FUNCTIONS = {"trivial": trivial_batch, "cpu": cpu_batch}
ITEM_FUNCTIONS = {"trivial": trivial, "cpu": cpu}


def view_once(items: list[int]) -> list[object]:
    """One store view call per item (bench/store.py)."""
    from slither_actors.worker import call_view

    return [call_view("value_of", key=item) for item in items]


def echo_batch(items: list[object]) -> list[object]:
    """Each payload back as it came (bench/payloads.py: what travelling costs)."""
    return items
