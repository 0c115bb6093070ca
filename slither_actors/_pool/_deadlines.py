"""When calls expire: one heap and one task per pool instead of a cancel scope per call.

A trio cancel scope around every call cost more than all the rest of a call's bookkeeping
(bench/pool.py), so a pool keeps its calls' deadlines here and one task expires them.
"""

from __future__ import annotations

import heapq
import itertools
import math
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

import attrs
import trio

from slither_actors._core import Signal

__all__ = ["Deadlines"]

Call = TypeVar("Call")

_MINIMUM_FLOOR = 256
_INFINITY = math.inf
_heappush = heapq.heappush
_weak = weakref.ref


@attrs.define(eq=False)
class Deadlines(Generic[Call]):
    """Calls by deadline; `run` hands each one still ``due`` at its deadline to ``expire``.

    ``due(call)`` says whether the call's deadline still matters (it has not finished, or
    has not started, whichever this clock is about). Entries hold weak references, so a
    finished call is never kept alive here. The heap is compacted when dead entries pile
    up, so it stays within twice the calls in flight.
    """

    expire: Callable[[Call], None]
    due: Callable[[Call], bool]
    _heap: list[tuple[float, int, weakref.ref[Call]]] = attrs.Factory(list)
    _order: Callable[[], int] = attrs.Factory(lambda: itertools.count().__next__)
    _floor: int = _MINIMUM_FLOOR
    _changed: Signal = attrs.Factory(Signal)

    def add(self, call: Call, deadline: float) -> None:
        """Expire ``call`` at ``deadline`` (trio's clock) unless it is no longer due by then.

        Raises `ValueError` for a NaN deadline here, in the caller, rather than in `run`,
        which every call of the pool depends on.
        """
        if deadline == _INFINITY:
            return
        if deadline != deadline:  # NaN (this runs per call: no math.isnan lookup)
            raise ValueError(f"a deadline must be a time, not {deadline!r}")
        heap = self._heap
        earlier = not heap or deadline < heap[0][0]
        _heappush(heap, (deadline, self._order(), _weak(call)))
        if len(heap) > 2 * self._floor:
            self._compact()
        if earlier:
            self._changed.set()

    def __len__(self) -> int:
        return len(self._heap)

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if self._live(entry[2]) is not None]
        heapq.heapify(self._heap)
        self._floor = max(_MINIMUM_FLOOR, len(self._heap))

    async def run(self) -> None:
        """Expire calls as their deadlines pass, for as long as the pool runs."""
        while True:
            upcoming = self.expire_due(trio.current_time())
            if upcoming is None:
                await self._changed.wait()
            else:
                with trio.move_on_at(upcoming):
                    await self._changed.wait()

    def expire_due(self, now: float) -> float | None:
        """Expire every call still due whose deadline is ``now`` or earlier; return the
        next deadline still ahead (None if there is none)."""
        heap = self._heap
        while heap:
            deadline, _, reference = heap[0]
            call = self._live(reference)
            if call is None:
                heapq.heappop(heap)
            elif deadline > now:
                return deadline
            else:
                heapq.heappop(heap)
                self.expire(call)
        return None

    def _live(self, reference: weakref.ref[Call]) -> Call | None:
        call = reference()
        return call if call is not None and self.due(call) else None
