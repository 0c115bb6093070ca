"""The pool's bookkeeping without processes: deadlines on a mock clock, and a property test
that no call is ever lost or duplicated, whatever workers do."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import given, settings, strategies as st

import slither_actors as sa
from slither_actors._pool._deadlines import Deadlines
from slither_actors._pool._events import CallDone, WorkerReady
from slither_actors._pool._live import LiveWorker, PendingCall
from slither_actors._pool._parent_connection import ParentConnection
from slither_actors._pool._state import PoolState
from slither_actors._pool.protocol import Hello, encode, encode_result


def make_call(
    state: PoolState,
    session: str | None = None,
    timeout: float = 1.0,
    queue_timeout: float | None = None,
) -> PendingCall:
    call_id = state.call_ids()
    return PendingCall(
        call_id,
        "module:function",
        b"frame",
        session,
        timeout=timeout,
        queue_timeout=queue_timeout,
    )


@attrs.define
class FakeDriver:
    """Stands in for `Serving`: records what the pool asks of the worker."""

    replaced: list[str] = attrs.Factory(list)
    on_replace: Callable[[], None] = lambda: None

    def replace(self, reason: str) -> None:
        self.replaced.append(reason)
        self.on_replace()

    def stop(self) -> None:
        pass

    async def read_step(self) -> None:
        raise AssertionError("nothing reads a fake worker")


def make_worker(
    state: PoolState, worker_id: int, written: list[bytes], driver: FakeDriver | None = None
) -> LiveWorker:
    connection = ParentConnection(clock=state.clock)
    connection.receive_data(encode(Hello(1000 + worker_id)))
    assert type(connection.next_event()) is WorkerReady
    return LiveWorker(
        worker_id=worker_id,
        pid=1000 + worker_id,
        where=f"worker {worker_id}",
        write=written.append,  # type: ignore[arg-type]
        capacity=state.settings.calls_per_worker,
        started_at=0.0,
        connection=connection,
        driver=driver or FakeDriver(),
    )


def answer(state: PoolState, worker: LiveWorker, call_id: int) -> None:
    """The worker answers ``call_id``: what `Serving` does with the events that follows."""
    frame = encode_result(call_id, [call_id])
    assert isinstance(frame, bytes)
    worker.connection.receive_data(frame)
    while (event := worker.connection.next_event()) is not None:
        assert type(event) is CallDone, event
        worker.settle(event.call_id).resolve(event.results)
    running = worker.connection.running
    if running is not None and not worker.outstanding[running].running:
        state.call_started(worker.outstanding[running], worker.connection.deadline)


async def test_deadlines_expire_only_unsettled_calls_on_time(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    expired: list[tuple[float, PendingCall]] = []
    deadlines: Deadlines[PendingCall] = Deadlines(
        lambda call: expired.append((trio.current_time(), call)), lambda call: not call.settled
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
    deadlines: Deadlines[PendingCall] = Deadlines(lambda call: None, lambda call: not call.settled)
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
    """Drives a real PoolState with fake workers on a fake clock, and checks after every
    step where each call is, who would read each worker, and that each running call's
    timeout counts."""

    def __init__(self, calls_per_worker: int, queue_limit: int) -> None:
        self.now = 0.0
        self.state = PoolState(
            sa.PoolSettings(calls_per_worker=calls_per_worker, queue_limit=queue_limit),
            clock=lambda: self.now,
        )
        self.calls: list[PendingCall] = []
        self.refused = 0
        self.moved = 0  # calls requeued after a crash: let back in past the queue limit
        self.next_worker = 1
        self.written: list[bytes] = []
        self.replaced: list[LiveWorker] = []

    def add_worker(self) -> None:
        driver = FakeDriver()
        worker = make_worker(self.state, self.next_worker, self.written, driver)
        driver.on_replace = lambda: self.replaced.append(worker)
        self.state.worker_ready(worker)
        self.next_worker += 1

    def submit(self, session: str | None, timeout: float, queue_timeout: float | None) -> None:
        call = make_call(self.state, session, timeout, queue_timeout)
        try:
            self.state.dispatch(call)
        except sa.PoolSaturated:
            self.refused += 1
            return
        self.state.call_submitted(call)
        self.calls.append(call)

    def finish_head(self, pick: int) -> None:
        busy = [worker for worker in self.state.workers.values() if worker.outstanding]
        if busy:
            worker = busy[pick % len(busy)]
            answer(self.state, worker, next(iter(worker.outstanding)))
            self.state.capacity_freed()

    def crash(self, pick: int) -> None:
        workers = list(self.state.workers.values()) + self.replaced
        if workers:
            self.end(workers[pick % len(workers)])

    def end(self, worker: LiveWorker) -> None:
        if worker in self.replaced:
            self.replaced.remove(worker)
        self.state.worker_gone(worker, lambda call: sa.WorkerCrashed(call.target, "died", ""))
        for call in self.calls:  # what a caller still waiting does with a requeued call
            if call.requeued:
                call.requeued = False
                if call.has_waiter:
                    self.moved += 1
                    self.state.dispatch(call, accepted=True)

    def give_up(self, pick: int) -> None:
        waiting = [call for call in self.calls if call.attended]
        if waiting:
            self.state.abandon(waiting[pick % len(waiting)])

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.state.run_deadlines.expire_due(self.now)
        self.state.wait_deadlines.expire_due(self.now)

    def check(self) -> None:
        places: dict[int, list[str]] = {call.call_id: [] for call in self.calls}
        for call in self.state.waiting:
            places[call.call_id].append("waiting")
        for worker in self.state.workers.values():
            assert len(worker.outstanding) <= worker.capacity
            for call_id in worker.outstanding:
                places[call_id].append(f"worker {worker.worker_id}")
            if worker.outstanding and worker.alive:
                head = next(iter(worker.outstanding.values()))
                # Health: the call the worker runs has its run timeout counting.
                assert head.running, head
                # Reading: the head's caller reads if, and only if, it still waits for
                # the call; otherwise the worker's background reader must.
                assert head.attended == (head.has_waiter and not head.settled)
                assert worker.unattended() == (not head.attended)
                assert not any(call.running for call in list(worker.outstanding.values())[1:])
        for call in self.calls:
            where = places[call.call_id]
            if call.settled:
                assert (call.value is None) != (call.error is None)
                assert len(where) <= 1  # a call that timed out may still be in its worker
            elif call.has_waiter:
                assert len(where) == 1, (call, where)  # exactly one place, never lost
            else:
                assert len(where) <= 1  # given up: dropped if it had not been written yet
        assert len(self.state.waiting) <= self.state.settings.queue_limit + self.moved


# Weighted towards submitting and finishing, so that calls pile up behind running ones
# (where the subtle states are), with fewer new workers to spread them out.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.tuples(*[st.integers(0, 2)] * 3)),
        st.tuples(st.just("submit"), st.tuples(*[st.integers(0, 2)] * 3)),
        st.tuples(st.just("finish"), st.integers(0, 7)),
        st.tuples(st.just("advance"), st.integers(1, 4)),
        st.tuples(st.sampled_from(["worker", "crash", "give up"]), st.integers(0, 7)),
    ),
    min_size=10,
    max_size=60,
)


@settings(max_examples=1000, deadline=None)
@given(
    operations=operations,
    calls_per_worker=st.integers(1, 3),
    queue_limit=st.integers(1, 6),
)
def test_every_call_is_in_exactly_one_place_until_it_settles(
    operations: list[tuple[str, Any]], calls_per_worker: int, queue_limit: int
) -> None:
    """Random submissions, results, crashes, callers giving up and time passing: no call is
    ever lost or in two places, no worker is over capacity, the queue stays bounded, every
    running call has its timeout counting and every busy worker has someone to read it;
    and once workers are back and every call has run, every call has settled exactly once."""
    model = PoolModel(calls_per_worker, queue_limit)
    model.add_worker()
    sessions: list[Any] = [None, "a", "b"]
    timeouts = [1.0, 2.5, math.inf]
    queue_timeouts: list[float | None] = [None, 0.5, 1.5]
    for name, argument in operations:
        match name:
            case "worker":
                model.add_worker()
            case "submit":
                session, timeout, queue_timeout = argument
                model.submit(sessions[session], timeouts[timeout], queue_timeouts[queue_timeout])
            case "finish":
                model.finish_head(argument)
            case "crash":
                model.crash(argument)
            case "give up":
                model.give_up(argument)
            case "advance":
                model.advance(argument * 0.4)
                while model.replaced:  # the worker the pool replaced has ended
                    model.end(model.replaced[0])
        model.check()
    model.add_worker()
    for _ in range(10 * len(model.calls) + 10):
        model.finish_head(0)
    model.check()
    assert all(call.settled or not call.has_waiter for call in model.calls)


def test_a_strict_session_whose_worker_died_is_told_so() -> None:
    state = PoolState(sa.PoolSettings(affinity="strict"), clock=lambda: 0.0)
    written: list[bytes] = []
    worker = make_worker(state, 1, written)
    state.worker_ready(worker)
    first = make_call(state, "s")
    state.dispatch(first)
    state.worker_gone(worker, lambda call: sa.WorkerCrashed(call.target, "died", ""))
    state.worker_ready(make_worker(state, 2, written))
    with pytest.raises(sa.SessionLost):
        state.dispatch(make_call(state, "s"))


def test_a_result_read_from_an_ending_worker_starts_no_clock_behind_it() -> None:
    # Its last results are read after it ended; the calls behind move to another worker,
    # and a clock started here could time one out before it ever ran.
    state = PoolState(sa.PoolSettings(calls_per_worker=2), clock=lambda: 0.0)
    worker = make_worker(state, 1, [])
    state.worker_ready(worker)
    first, second = make_call(state), make_call(state)
    state.dispatch(first)
    state.dispatch(second)
    assert first.running and not second.running
    worker.alive = False
    worker.connection.end()  # what `Serving.finish` does as it ends the worker
    answer(state, worker, first.call_id)
    assert first.settled and first.value == [first.call_id]
    assert not second.running and len(state.run_deadlines) == 1
