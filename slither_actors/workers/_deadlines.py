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
from typing import Generic, Protocol, TypeVar

import attrs
import trio

from slither_actors.core import Signal

__all__ = ["Deadlines"]


class Expirable(Protocol):
    settled: bool


Call = TypeVar("Call", bound=Expirable)

_MINIMUM_FLOOR = 256


@attrs.define(eq=False)
class Deadlines(Generic[Call]):
    """Calls by deadline; `run` hands each one still unsettled at its deadline to ``expire``.

    Entries hold weak references, so a finished call is never kept alive here. The heap is
    compacted when dead entries pile up, so it stays within twice the calls in flight.
    """

    expire: Callable[[Call], None]
    _heap: list[tuple[float, int, weakref.ref[Call]]] = attrs.Factory(list)
    _order: Callable[[], int] = attrs.Factory(lambda: itertools.count().__next__)
    _floor: int = _MINIMUM_FLOOR
    _changed: Signal = attrs.Factory(Signal)

    def add(self, call: Call, deadline: float) -> None:
        """Expire ``call`` at ``deadline`` (trio's clock) unless it has settled by then."""
        if deadline == math.inf:
            return
        earlier = not self._heap or deadline < self._heap[0][0]
        heapq.heappush(self._heap, (deadline, self._order(), weakref.ref(call)))
        if len(self._heap) > 2 * self._floor:
            self._compact()
        if earlier:
            self._changed.set()

    def __len__(self) -> int:
        return len(self._heap)

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if _live(entry[2]) is not None]
        heapq.heapify(self._heap)
        self._floor = max(_MINIMUM_FLOOR, len(self._heap))

    async def run(self) -> None:
        """Expire calls as their deadlines pass, for as long as the pool runs."""
        while True:
            heap = self._heap
            while heap and _live(heap[0][2]) is None:
                heapq.heappop(heap)
            if not heap:
                await self._changed.wait()
                continue
            deadline = heap[0][0]
            if deadline <= trio.current_time():
                call = _live(heapq.heappop(heap)[2])
                if call is not None:
                    self.expire(call)
                continue
            with trio.move_on_at(deadline):
                await self._changed.wait()


def _live(reference: weakref.ref[Call]) -> Call | None:
    call = reference()
    return call if call is not None and not call.settled else None
