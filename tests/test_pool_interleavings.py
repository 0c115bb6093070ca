"""The pool's real calling, reading and expiry code under any interleaving of calls,
answers, callers giving up, workers dying or freezing, time passing and the pool stopping.

The workers are played by the test over real pipes (`FakeChild`), on a mock clock, so a
hypothesis example runs in milliseconds. After every step, with every task blocked:
every worker with calls out is being read by some task and its running call's timeout
counts, and no caller has seen more than one outcome. At the end every caller has seen
exactly one.
"""

from __future__ import annotations

import collections
import math
import os
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import given, settings, strategies as st

import slither_actors as sa
from slither_actors._pool._child_connection import ChildConnection
from slither_actors._pool._events import CallReceived, PingReceived, StopReceived, WorkerReady
from slither_actors._pool._parent_connection import ParentConnection
from slither_actors._pool._pool import WorkerPool
from slither_actors._pool._process import PipeWriter
from slither_actors._pool._serving import Serving
from slither_actors._pool._state import PoolState
from slither_actors._pool.protocol import Frame

WORKERS = 2
HEARTBEAT = 1.0  # interval and timeout: frozen idle workers are found within 2 s


@attrs.define(eq=False)
class FakeChild:
    """The far end of one worker's pipes: reads what the pool writes, answers pings at once
    and the call it runs when told to, echoing the payloads; frozen, it answers nothing."""

    to_child: tuple[int, int] = attrs.Factory(os.pipe)
    from_child: tuple[int, int] = attrs.Factory(os.pipe)
    connection: ChildConnection = attrs.Factory(ChildConnection)
    calls: collections.deque[CallReceived] = attrs.Factory(collections.deque)  # head runs
    frozen: bool = False
    returncode: int | None = None
    exited: trio.Event = attrs.Factory(trio.Event)

    def __attrs_post_init__(self) -> None:
        os.set_blocking(self.to_child[0], False)
        os.set_blocking(self.to_child[1], False)

    def pump(self) -> None:
        """Read what the pool wrote; answer pings (unless frozen)."""
        if self.frozen or self.returncode is not None:
            return
        while True:
            try:
                data = os.read(self.to_child[0], 1 << 16)
            except BlockingIOError:
                return
            self.connection.receive_data(data)
            while (event := self.connection.next_event()) is not None:
                if type(event) is CallReceived:
                    self.calls.append(event)
                elif type(event) is PingReceived:
                    self._send(self.connection.send_pong(event.nonce))
                elif type(event) is StopReceived:
                    self.exit(0)
                    return
                else:
                    raise AssertionError(event)

    def answer(self) -> None:
        """Finish the running call, if any."""
        self.pump()
        if self.calls and not self.frozen and self.returncode is None:
            call = self.calls.popleft()
            self._send(self.connection.send_result(call.call_id, call.payloads))

    def _send(self, frame: Frame) -> None:
        assert isinstance(frame, bytes)
        os.write(self.from_child[1], frame)

    def exit(self, code: int) -> None:
        """End: the pool reads end-of-file and its wait for the process returns."""
        if self.returncode is None:
            self.returncode = code
            os.close(self.from_child[1])
            os.close(self.to_child[0])
            self.exited.set()


@attrs.define(eq=False)
class FakeProcess:
    """What `Serving` uses of a worker process, standing in for `WorkerProcess`."""

    child: FakeChild
    pid: int
    writer: PipeWriter = attrs.field(init=False)
    reader: trio.lowlevel.FdStream = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.writer = PipeWriter(self.child.to_child[1])
        self.reader = trio.lowlevel.FdStream(self.child.from_child[0])

    @property
    def process(self) -> FakeProcess:
        return self

    @property
    def where(self) -> str:
        return f"fake worker pid {self.pid}"

    @property
    def returncode(self) -> int | None:
        return self.child.returncode

    async def wait(self) -> None:
        await self.child.exited.wait()

    def is_stopped(self) -> bool:
        return self.child.frozen


@attrs.define(eq=False)
class Harness:
    """A pool of `WORKERS` slots whose processes are `FakeChild`ren, each slot restarted
    when its process ends, as the pool's supervisor does."""

    state: PoolState
    pool: WorkerPool
    children: dict[int, FakeChild] = attrs.Factory(dict)
    servings: dict[int, Serving] = attrs.Factory(dict)
    outcomes: dict[int, list[Any]] = attrs.Factory(dict)
    scopes: dict[int, trio.CancelScope] = attrs.Factory(dict)
    pids: Any = attrs.Factory(lambda: iter(range(1000, 100000)))

    async def run_slot(self, worker_id: int) -> None:
        while not self.state.closed:
            child = FakeChild()
            process = FakeProcess(child, next(self.pids))
            connection = ParentConnection(clock=trio.current_time)
            connection.receive_data(child.connection.send_hello(process.pid))
            assert type(connection.next_event()) is WorkerReady
            serving = Serving(
                self.state,
                process,  # type: ignore[arg-type]
                connection,
                worker_id,
                trio.current_time(),
            )
            live = serving.live
            self.children[worker_id], self.servings[worker_id] = child, serving
            try:
                await serving.run()
            finally:
                with trio.CancelScope(shield=True):
                    live.alive = False
                    child.exit(-9)
                    process.writer.close()
                    await process.reader.aclose()
                    ended = sa.WorkerCrashed("fake:echo", "ended", live.where)
                    self.state.worker_gone(live, lambda call, error=ended: error)

    async def caller(self, number: int, options: dict[str, Any]) -> None:
        outcome = self.outcomes.setdefault(number, [])
        with trio.CancelScope() as scope:
            self.scopes[number] = scope
            try:
                value = await self.pool.call("fake:echo", [number], **options)
            except sa.SlitherError as error:
                outcome.append(error)
            else:
                assert value == [number], (value, number)  # never another call's result
                outcome.append(value)
        if scope.cancelled_caught:
            outcome.append("gave up")

    def check(self) -> None:
        for worker in self.state.workers.values():
            if not (worker.alive and worker.outstanding):
                continue
            # Read by someone: a task is parked on this worker's pipe.
            assert worker.reader is not None, f"nobody reads {worker.where}"
            # Health-checked: the running call's timeout counts.
            head = next(iter(worker.outstanding.values()))
            assert head.running, f"no timeout counts for call {head.call_id} in {worker.where}"
        for number, outcome in self.outcomes.items():
            assert len(outcome) <= 1, (number, outcome)


async def settle(harness: Harness) -> None:
    """Let every task run, and the fake children read, until nothing more happens."""
    for _ in range(3):
        await trio.testing.wait_all_tasks_blocked()
        for child in list(harness.children.values()):
            child.pump()
    await trio.testing.wait_all_tasks_blocked()


steps = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.tuples(*[st.integers(0, 2)] * 3)),
        st.tuples(st.just("call"), st.tuples(*[st.integers(0, 2)] * 3)),
        st.tuples(st.just("answer"), st.integers(1, WORKERS)),
        st.tuples(st.just("answer"), st.integers(1, WORKERS)),
        st.tuples(st.just("advance"), st.integers(1, 4)),
        st.tuples(st.just("freeze"), st.integers(0, 7)),
        st.tuples(st.sampled_from(["kill", "give up", "stop"]), st.integers(0, 7)),
    ),
    min_size=5,
    max_size=40,
)


async def scenario(
    operations: list[tuple[str, Any]], calls_per_worker: int, clock: trio.testing.MockClock
) -> None:
    state = PoolState(
        sa.PoolSettings(
            size=WORKERS,
            calls_per_worker=calls_per_worker,
            queue_limit=4,
            heartbeat_interval=HEARTBEAT,
            heartbeat_timeout=HEARTBEAT,
        )
    )
    harness = Harness(state, WorkerPool(state))
    sessions = [None, "a", "b"]
    timeouts = [1.0, 2.5, math.inf]
    queue_timeouts = [None, 0.5, 1.5]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(state.run_deadlines.run)
        nursery.start_soon(state.wait_deadlines.run)
        for worker_id in range(1, WORKERS + 1):
            nursery.start_soon(harness.run_slot, worker_id)
        await settle(harness)
        callers = 0
        for name, argument in operations:
            match name:
                case "call":
                    session, timeout, queue_timeout = argument
                    options = {
                        "session_id": sessions[session],
                        "timeout": timeouts[timeout],
                        "queue_timeout": queue_timeouts[queue_timeout],
                    }
                    nursery.start_soon(harness.caller, callers, options)
                    callers += 1
                case "answer":
                    harness.children[argument].answer()
                case "advance":
                    clock.jump(argument * 0.4)
                case "kill":
                    harness.children[argument % WORKERS + 1].exit(-9)
                case "freeze":
                    harness.children[argument % WORKERS + 1].frozen = True
                case "give up":
                    if callers:
                        harness.scopes[argument % callers].cancel()
                case "stop":
                    harness.pool.request_stop()
            await settle(harness)
            harness.check()
        # Everything still out is answered, or times out, or its worker is replaced.
        for _ in range(100):
            if len(harness.outcomes) == callers and all(harness.outcomes.values()):
                break
            for child in list(harness.children.values()):
                child.answer()
            clock.jump(0.5)
            await settle(harness)
            harness.check()
        assert len(harness.outcomes) == callers
        assert all(len(outcome) == 1 for outcome in harness.outcomes.values()), harness.outcomes
        harness.pool.request_stop()
        await settle(harness)
        nursery.cancel_scope.cancel()


@settings(max_examples=300, deadline=None)
@given(operations=steps, calls_per_worker=st.integers(1, 3))
def test_every_call_ends_exactly_once_and_every_busy_worker_is_read_and_watched(
    operations: list[tuple[str, Any]], calls_per_worker: int
) -> None:
    clock = trio.testing.MockClock()
    trio.run(scenario, operations, calls_per_worker, clock, clock=clock)
