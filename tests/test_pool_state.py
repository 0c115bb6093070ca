"""The pool's bookkeeping without processes: deadlines on a mock clock, and a property test
that no call is ever lost or duplicated, whatever workers do."""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

import slither_actors as sa
from slither_actors.workers._deadlines import Deadlines
from slither_actors.workers._state import LiveWorker, PendingCall, PoolState


def make_call(state: PoolState, session: str | None = None) -> PendingCall:
    call_id = state.call_ids()
    return PendingCall(call_id, "module:function", b"frame", session, timeout=1.0)


def make_worker(state: PoolState, worker_id: int, written: list[bytes]) -> LiveWorker:
    return LiveWorker(
        worker_id=worker_id,
        pid=1000 + worker_id,
        where=f"worker {worker_id}",
        write=written.append,
        capacity=state.settings.calls_per_worker,
        started_at=0.0,
    )


async def test_deadlines_expire_only_unsettled_calls_on_time(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    expired: list[tuple[float, PendingCall]] = []
    deadlines: Deadlines[PendingCall] = Deadlines(
        lambda call: expired.append((trio.current_time(), call))
    )
    nursery.start_soon(deadlines.run)
    state = PoolState(sa.PoolSettings())
    late, settled, early = make_call(state), make_call(state), make_call(state)
    deadlines.add(late, 5.0)
    deadlines.add(settled, 3.0)
    deadlines.add(early, 1.0)  # earlier than anything before: the task must notice
    deadlines.add(make_call(state), math.inf)  # never expires, never stored
    settled.resolve([1])
    await trio.sleep(10)
    assert [(time, call.call_id) for time, call in expired] == [
        (1.0, early.call_id),
        (5.0, late.call_id),
    ]


def test_deadlines_keep_no_finished_call_alive_and_stay_bounded() -> None:
    deadlines: Deadlines[PendingCall] = Deadlines(lambda call: None)
    state = PoolState(sa.PoolSettings())
    live = [make_call(state) for _ in range(10)]
    for call in live:
        deadlines.add(call, 100.0)
    for number in range(5000):  # calls that finish and are dropped at once
        call = make_call(state)
        deadlines.add(call, 100.0 + number)
        call.resolve([number])
    assert len(deadlines) <= 2 * 256 + 1


class PoolModel:
    """Drives a real PoolState with fake workers and checks where every call is."""

    def __init__(self, calls_per_worker: int, queue_limit: int) -> None:
        self.state = PoolState(
            sa.PoolSettings(calls_per_worker=calls_per_worker, queue_limit=queue_limit)
        )
        self.calls: list[PendingCall] = []
        self.refused = 0
        self.moved = 0  # calls requeued after a crash: let back in past the queue limit
        self.next_worker = 1
        self.written: list[bytes] = []

    def add_worker(self) -> None:
        self.state.worker_ready(make_worker(self.state, self.next_worker, self.written))
        self.next_worker += 1

    def submit(self, session: str | None) -> None:
        call = make_call(self.state, session)
        try:
            self.state.dispatch(call)
        except sa.PoolSaturated:
            self.refused += 1
            return
        self.calls.append(call)

    def finish_head(self, pick: int) -> None:
        busy = [worker for worker in self.state.workers.values() if worker.outstanding]
        if busy:
            worker = busy[pick % len(busy)]
            call_id, call = next(iter(worker.outstanding.items()))
            del worker.outstanding[call_id]
            call.resolve([call_id])
            self.state.capacity_freed()

    def crash(self, pick: int) -> None:
        workers = list(self.state.workers.values())
        if workers:
            worker = workers[pick % len(workers)]
            self.state.worker_gone(worker, lambda call: sa.WorkerCrashed(call.target, "died", ""))
            for call in self.calls:  # what a caller does with a requeued call
                if call.requeued:
                    call.requeued = False
                    self.moved += 1
                    self.state.dispatch(call, accepted=True)

    def expire(self, pick: int) -> None:
        unsettled = [call for call in self.calls if not call.settled]
        if unsettled:
            self.state.expire(unsettled[pick % len(unsettled)])

    def check(self) -> None:
        places: dict[int, list[str]] = {call.call_id: [] for call in self.calls}
        for call in self.state.waiting:
            places[call.call_id].append("waiting")
        for worker in self.state.workers.values():
            assert len(worker.outstanding) <= worker.capacity
            for call_id in worker.outstanding:
                places[call_id].append(f"worker {worker.worker_id}")
        for call in self.calls:
            where = places[call.call_id]
            if call.settled:
                assert where == [] or call.error is not None  # a timed-out call may still run
                assert (call.value is None) != (call.error is None)
            else:
                assert len(where) == 1, (call, where)  # exactly one place, never lost
        assert len(self.state.waiting) <= self.state.settings.queue_limit + self.moved


operations = st.lists(
    st.one_of(
        st.tuples(st.just("worker"), st.integers(0, 0)),
        st.tuples(st.just("submit"), st.integers(0, 3)),
        st.tuples(st.just("finish"), st.integers(0, 7)),
        st.tuples(st.just("crash"), st.integers(0, 7)),
        st.tuples(st.just("expire"), st.integers(0, 7)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    operations=operations,
    calls_per_worker=st.integers(1, 3),
    queue_limit=st.integers(1, 6),
)
def test_every_call_is_in_exactly_one_place_until_it_settles(
    operations: list[tuple[str, int]], calls_per_worker: int, queue_limit: int
) -> None:
    """Random submissions, results, crashes and timeouts: no call is ever lost or in two
    places, no worker is over capacity, the queue stays bounded; and once workers are back
    and every call has run, every call has settled exactly once."""
    model = PoolModel(calls_per_worker, queue_limit)
    sessions: list[Any] = [None, "a", "b", None]
    for name, argument in operations:
        match name:
            case "worker":
                model.add_worker()
            case "submit":
                model.submit(sessions[argument])
            case "finish":
                model.finish_head(argument)
            case "crash":
                model.crash(argument)
            case "expire":
                model.expire(argument)
        model.check()
    model.add_worker()
    for _ in range(10 * len(model.calls) + 10):
        model.finish_head(0)
    model.check()
    assert all(call.settled for call in model.calls)


def test_a_strict_session_whose_worker_died_is_told_so() -> None:
    state = PoolState(sa.PoolSettings(affinity="strict"))
    written: list[bytes] = []
    worker = make_worker(state, 1, written)
    state.worker_ready(worker)
    first = make_call(state, "s")
    state.dispatch(first)
    state.worker_gone(worker, lambda call: sa.WorkerCrashed(call.target, "died", ""))
    state.worker_ready(make_worker(state, 2, written))
    with pytest.raises(sa.SessionLost):
        state.dispatch(make_call(state, "s"))
