"""Worker functions for the in-process executor's tests (tests/worker_functions.py has the
rest): what only a run in the test's own process can observe."""

from __future__ import annotations

import threading
from typing import Any

# Two calls of `meet` that run at the same time pass it together.
_PAIR = threading.Barrier(2, timeout=0.2)


def meet(items: list[Any]) -> list[str]:
    """ "met" if another call of this function ran beside this one, else "alone" (after
    waiting 0.2 s for one; from then on every call is alone at once)."""
    try:
        _PAIR.wait()
    except threading.BrokenBarrierError:
        return ["alone" for _ in items]
    return ["met" for _ in items]
