"""The worker link's two ends, sans-IO, talking in memory: whatever the interleaving of calls,
answers, views, heartbeats, expiries, drains, stops and crashes, every call the parent sends
ends exactly once; the peer's garbage is only ever a `RemoteProtocolError`, and our own
misuse a `LocalProtocolError`."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from slither_actors._pool._child_connection import ChildConnection
from slither_actors._pool._connection import LinkState
from slither_actors._pool._events import (
    CallDone,
    CallExpired,
    CallFailed,
    CallLost,
    CallReceived,
    CallUnreadable,
    PingReceived,
    PongReceived,
    ProtocolViolation,
    StartFailed,
    StopReceived,
    ViewAsked,
    WorkerReady,
)
from slither_actors._pool._parent_connection import ParentConnection
from slither_actors._pool.protocol import (
    PROTOCOL_VERSION,
    READ_SIZE,
    Call,
    Error,
    Hello,
    Ping,
    Pong,
    Result,
    Stop,
    ViewReply,
    ViewRequest,
    encode,
    encode_call,
    encode_result,
)
from slither_actors.errors import LocalProtocolError, PayloadError, RemoteProtocolError

ENDINGS = (CallDone, CallFailed, CallUnreadable, CallExpired, CallLost)


def as_bytes(frame: Any) -> bytes:
    return frame if isinstance(frame, bytes) else b"".join(frame)


def ready_pair(
    clock: Any = lambda: 0.0, max_frame: int = 1 << 20
) -> tuple[ParentConnection, ChildConnection]:
    parent = ParentConnection(max_frame, clock=clock)
    child = ChildConnection(max_frame)
    parent.receive_data(as_bytes(child.send_hello(4242)))
    assert parent.next_event() == WorkerReady(4242)
    return parent, child


def events_of(connection: Any, data: Any) -> list[Any]:
    connection.receive_data(as_bytes(data))
    events = []
    while (event := connection.next_event()) is not None:
        events.append(event)
    return events


def call_frame(call_id: int, payloads: list[Any] | None = None) -> Any:
    return encode_call(call_id, "module:function", False, payloads or [call_id], None)


# --- the two ends in memory, under any interleaving -----------------------------------------------


class ConnectionPair(RuleBasedStateMachine):
    """A parent and a worker end joined by two in-memory byte streams, delivered in pieces
    of any size. The worker answers its calls oldest first, as a worker process does."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.next_id = 1
        self.sent: list[int] = []
        self.ended: dict[int, list[Any]] = {}
        self.new_worker()

    def new_worker(self) -> None:
        self.parent, self.child = ready_pair(clock=lambda: self.now)
        self.to_child = bytearray()
        self.to_parent = bytearray()
        self.child_calls: list[CallReceived | CallUnreadable] = []
        self.child_view: int | None = None  # a view request the worker waits on
        self.views_asked: list[ViewAsked] = []
        self.pings_seen: list[int] = []
        self.stopped = False

    # The parent's side.

    @precondition(lambda self: self.parent.accepting and self.parent.in_flight < 3)
    @rule(timeout=st.sampled_from([1.0, 2.5, float("inf")]))
    def send_call(self, timeout: float) -> None:
        call_id = self.next_id
        self.next_id += 1
        self.to_child += as_bytes(self.parent.send_call(call_id, call_frame(call_id), timeout))
        self.sent.append(call_id)

    @precondition(lambda self: self.parent.state is not LinkState.STARTING)
    @rule()
    def ping(self) -> None:
        self.to_child += as_bytes(self.parent.send_ping())

    @precondition(lambda self: self.views_asked)
    @rule(fail=st.booleans())
    def answer_view(self, fail: bool) -> None:
        asked = self.views_asked.pop(0)
        if fail:
            frame = self.parent.send_view_error(asked.request_id, "KeyError", "no such key")
        else:
            frame = self.parent.send_view_reply(asked.request_id, asked.params)
        self.to_child += as_bytes(frame)

    @rule(seconds=st.sampled_from([0.5, 1.0, 2.0]))
    def advance(self, seconds: float) -> None:
        self.now += seconds
        expired = self.parent.expire_overdue(self.now)
        if expired is not None:
            self.end(expired)

    @rule(reason=st.sampled_from(["max_calls", "max_rss"]))
    def drain(self, reason: str) -> None:
        self.parent.drain(reason)

    @precondition(lambda self: not self.stopped)
    @rule()
    def stop(self) -> None:
        if self.parent.state in (LinkState.READY, LinkState.DRAINING, LinkState.ENDING):
            self.to_child += as_bytes(self.parent.send_stop())
            self.stopped = True

    @rule(size=st.integers(1, 200))
    def deliver_to_parent(self, size: int) -> None:
        piece, self.to_parent[:] = bytes(self.to_parent[:size]), self.to_parent[size:]
        for event in events_of(self.parent, piece):
            assert type(event) is not ProtocolViolation, event
            if isinstance(event, ENDINGS):
                self.end(event)
            elif type(event) is ViewAsked:
                assert event.call_id in self.sent
                self.views_asked.append(event)
            elif type(event) is PongReceived:
                assert self.parent.pinging is None
            else:
                raise AssertionError(event)

    @rule()
    def worker_dies(self) -> None:
        """The process ends: what it wrote and the parent has not read is lost with it.
        Another takes its place, with a link of its own."""
        for event in self.parent.connection_lost():
            self.end(event)
        assert self.parent.state is LinkState.CLOSED
        self.new_worker()

    # The worker's side.

    @precondition(lambda self: self.to_child and self.child_view is None)
    @rule(size=st.integers(1, 200))
    def deliver_to_child(self, size: int) -> None:
        self.child_receives(size)

    def child_receives(self, size: int) -> None:
        piece, self.to_child[:] = bytes(self.to_child[:size]), self.to_child[size:]
        for event in events_of(self.child, piece):
            if type(event) in (CallReceived, CallUnreadable):
                self.child_calls.append(event)
            elif type(event) is PingReceived:
                self.pings_seen.append(event.nonce)
            elif type(event) is not StopReceived:
                raise AssertionError(event)

    @precondition(lambda self: self.pings_seen)
    @rule()
    def pong(self) -> None:
        self.to_parent += as_bytes(self.child.send_pong(self.pings_seen.pop(0)))

    @precondition(lambda self: self.child_calls and self.child_view is None)
    @rule(how=st.sampled_from(["result", "error"]))
    def worker_answers(self, how: str) -> None:
        call = self.child_calls.pop(0)
        if how == "result" and type(call) is CallReceived:
            frame = self.child.send_result(call.call_id, call.payloads)
        else:
            frame = self.child.send_error(call.call_id, "ValueError", "bad", "")
        self.to_parent += as_bytes(frame)

    @precondition(lambda self: self.child_calls and self.child_view is None)
    @rule()
    def worker_asks_a_view(self) -> None:
        request_id, frame = self.child.send_view_request("lookup", {"key": 1})
        self.child_view = request_id
        self.to_parent += as_bytes(frame)

    @precondition(lambda self: self.child_view is not None)
    @rule(size=st.integers(1, 200))
    def worker_waits_for_its_view(self, size: int) -> None:
        if self.to_child:
            self.child_receives(size)
        reply = self.child.take_view_reply()
        if reply is not None:
            assert type(reply) is ViewReply and reply.request_id == self.child_view
            self.child_view = None

    # What must always hold.

    def end(self, event: Any) -> None:
        self.ended.setdefault(event.call_id, []).append(event)
        assert len(self.ended[event.call_id]) == 1, self.ended[event.call_id]

    @invariant()
    def calls_are_accounted_for(self) -> None:
        parent = self.parent
        assert parent.state is not LinkState.BROKEN
        open_calls = [call_id for call_id in self.sent if call_id not in self.ended]
        # Exactly the calls not ended are in flight, and the oldest of them runs, with its
        # deadline set, whenever calls flow: someone's clock watches the worker.
        assert parent.in_flight == len(open_calls)
        if parent.state in (LinkState.READY, LinkState.DRAINING) and open_calls:
            assert parent.running == open_calls[0]
        # And a running call is never overdue unnoticed: time passes only with a check.
        assert parent.running is None or parent.deadline > self.now

    def teardown(self) -> None:
        """Everything written is read and answered; then the worker exits. Every call sent
        has ended exactly once."""
        everything = 1 << 20
        for _ in range(1000):
            if self.to_parent:
                self.deliver_to_parent(everything)
            elif self.views_asked:
                self.answer_view(fail=False)
            elif self.child_view is not None:
                self.worker_waits_for_its_view(everything)
            elif self.to_child:
                self.child_receives(everything)
            elif self.child_calls:
                self.worker_answers("result")
            elif self.pings_seen:
                self.pong()
            else:
                break
        self.worker_dies()
        assert sorted(self.ended) == self.sent
        assert all(len(endings) == 1 for endings in self.ended.values())


TestConnectionPair = ConnectionPair.TestCase
TestConnectionPair.settings = settings(max_examples=400, stateful_step_count=40, deadline=None)


# --- garbage from the peer ------------------------------------------------------------------------

SMALL_LIMIT = 1000

messages_either_way = st.one_of(
    st.builds(Result, st.integers(-2, 6), st.lists(st.integers(-(2**63), 2**63 - 1), max_size=3)),
    st.builds(Error, st.integers(-1, 6), st.just("E"), st.text(max_size=5), st.just("")),
    st.builds(ViewRequest, st.integers(0, 4), st.integers(0, 6), st.just("v"), st.just({})),
    st.builds(ViewReply, st.integers(0, 4), st.integers(-(2**63), 2**63 - 1)),
    st.builds(Pong, st.integers(-1, 4)),
    st.builds(Ping, st.integers(-1, 4)),
    st.builds(Hello, st.integers(0, 9), st.sampled_from([PROTOCOL_VERSION, 99])),
    st.builds(Call, st.integers(-1, 6), st.just("m:f"), st.booleans(), st.just([1]), st.none()),
    st.builds(Stop),
)
pieces = st.lists(
    st.one_of(
        st.binary(max_size=64),
        messages_either_way.map(lambda message: as_bytes(encode(message))),
        st.integers(0, 2 * SMALL_LIMIT).map(lambda size: size.to_bytes(4, "big")),
    ),
    max_size=8,
)


def buffers_held(connection: Any) -> int:
    decoder = connection._decoder
    return max(len(decoder._buffer), len(decoder._large or b""))


@settings(max_examples=10_000, deadline=None)
@given(
    side=st.sampled_from(["parent", "parent after hello", "child"]),
    chunks=pieces,
    calls=st.integers(0, 3),
)
def test_any_bytes_from_the_peer_give_events_or_a_remote_protocol_error(
    side: str, chunks: list[bytes], calls: int
) -> None:
    connection: Any
    if side == "child":
        connection = ChildConnection(SMALL_LIMIT)
        connection.send_hello(1)
        allowed: tuple[type, ...] = (
            CallReceived,
            CallUnreadable,
            PingReceived,
            StopReceived,
        )
    else:
        connection = ParentConnection(SMALL_LIMIT, clock=lambda: 0.0)
        allowed = (WorkerReady, StartFailed, CallDone, CallFailed, CallUnreadable)
        allowed += (ViewAsked, PongReceived)
        if side == "parent after hello":
            connection.receive_data(as_bytes(encode(Hello(1))))
            assert type(connection.next_event()) is WorkerReady
            for call_id in range(1, calls + 1):
                connection.send_call(call_id, call_frame(call_id), 5.0)
            connection.send_ping()
    bound = max(READ_SIZE, SMALL_LIMIT + 4 + READ_SIZE // 4)
    violated = False
    for chunk in chunks:
        try:
            connection.receive_data(chunk)
        except RemoteProtocolError:
            assert violated, "raised before the violation was reported"
            continue
        assert buffers_held(connection) <= bound
        while (event := connection.next_event()) is not None:
            assert not violated, "an event after the violation"
            if type(event) is ProtocolViolation:
                violated = True
                assert connection.state is LinkState.BROKEN
            else:
                assert isinstance(event, allowed), event


def test_a_large_chunk_is_taken_in_pieces_never_held_whole() -> None:
    parent, child = ready_pair(max_frame=SMALL_LIMIT)
    for call_id in range(1, 401):
        parent.send_call(call_id, call_frame(call_id), 5.0)
    # Four hundred answers in one chunk of 160 KB: each is decoded as it comes.
    answers = b"".join(
        as_bytes(encode_result(call_id, [call_id] * 200)) for call_id in range(1, 401)
    )
    assert len(answers) > 2 * READ_SIZE
    done = [event for event in events_of(parent, answers) if type(event) is CallDone]
    assert [event.call_id for event in done] == list(range(1, 401))
    assert buffers_held(parent) <= READ_SIZE
    del child


# --- the frame limit, at its edge -----------------------------------------------------------------


def result_body_of(size: int) -> tuple[bytes, bytes]:
    """A result and the body of a Result for call 1 of it, exactly ``size`` bytes long."""
    for padding in range(size):
        result = b"x" * padding
        body = msgpack.packb([Result.KIND, 1, [result]], use_bin_type=True)
        if len(body) == size:
            return result, body
    raise AssertionError(size)


@pytest.mark.parametrize("over", [-1, 0, 1])
def test_the_frame_limit_holds_at_its_edge(over: int) -> None:
    limit = 500
    result, body = result_body_of(limit + over)
    assert len(body) == limit + over
    frame = len(body).to_bytes(4, "big") + body
    parent, child = ready_pair(max_frame=limit)
    parent.send_call(1, call_frame(1), 5.0)
    (event,) = events_of(parent, frame)
    if over <= 0:
        assert event == CallDone(1, [result])
    else:
        assert type(event) is ProtocolViolation
        assert f"frame of {limit + 1} bytes announced; the limit is {limit}" in str(event.error)
    # The worker's end refuses to write what the parent would refuse to read.
    events_of(child, call_frame(1))
    if over <= 0:
        assert as_bytes(child.send_result(1, [result]))[4:] == body
    else:
        with pytest.raises(PayloadError, match="exceeds the 500-byte frame limit"):
            child.send_result(1, [result])
        assert child.running == 1  # still unanswered: it can be answered with an error


# --- our own mistakes: LocalProtocolError, and nothing sent ---------------------------------------


def test_the_parent_refuses_to_send_what_the_protocol_does_not_allow() -> None:
    parent = ParentConnection(clock=lambda: 0.0)
    with pytest.raises(LocalProtocolError, match="cannot send call 1 on a link that is starting"):
        parent.send_call(1, call_frame(1), 1.0)
    parent.receive_data(as_bytes(encode(Hello(7))))
    parent.next_event()
    parent.send_call(1, call_frame(1), 1.0)
    with pytest.raises(LocalProtocolError, match="call id 1 is in use"):
        parent.send_call(1, call_frame(1), 1.0)
    with pytest.raises(LocalProtocolError, match="view request 3 does not await a reply"):
        parent.send_view_reply(3, "value")
    parent.send_stop()
    with pytest.raises(LocalProtocolError, match="on a link that is ending"):
        parent.send_call(2, call_frame(2), 1.0)
    assert parent.in_flight == 1


def test_the_worker_refuses_to_send_what_the_protocol_does_not_allow() -> None:
    parent, child = ready_pair()
    with pytest.raises(LocalProtocolError, match="cannot send a hello on a link that is ready"):
        child.send_hello(1)
    with pytest.raises(LocalProtocolError, match="only while a call runs"):
        child.send_view_request("lookup", {})
    for call_id in (1, 2):
        events_of(child, parent.send_call(call_id, call_frame(call_id), 1.0))
    with pytest.raises(LocalProtocolError, match=r"call 2 is not the running call \(1\)"):
        child.send_result(2, [2])
    child.send_view_request("lookup", {})
    with pytest.raises(LocalProtocolError, match="while its view request awaits a reply"):
        child.send_result(1, [1])
    with pytest.raises(LocalProtocolError, match="view request 1 still awaits a reply"):
        child.send_view_request("lookup", {})


# --- the peer's mistakes: one violation, then nothing ---------------------------------------------


@pytest.mark.parametrize(
    ("before", "message", "problem"),
    [
        ([], Result(1, [1]), "not in flight"),
        ([], Error(5, "E", "m", ""), "a reply to call 5, which is not in flight"),
        ([1, 2], Result(2, [2]), "a reply to call 2 before one to call 1"),
        ([], Hello(9), "a second hello"),
        ([], Pong(1), "a pong of nonce 1, for no ping sent"),
        ([1, 2], ViewRequest(1, 2, "v", {}), "a view request from call 2, which is not running"),
        ([], Call(1, "m:f", False, [], None), "a Call message from a worker"),
    ],
)
def test_what_a_worker_must_not_send_ends_the_link(
    before: list[int], message: Any, problem: str
) -> None:
    parent, _ = ready_pair()
    for call_id in before:
        parent.send_call(call_id, call_frame(call_id), 1.0)
    (event,) = events_of(parent, encode(message))
    assert type(event) is ProtocolViolation and problem in str(event.error)
    assert parent.state is LinkState.BROKEN
    with pytest.raises(RemoteProtocolError, match=problem):
        parent.receive_data(as_bytes(encode(Pong(1))))
    with pytest.raises(LocalProtocolError, match="broken"):
        parent.send_ping()
    # The calls in flight still end, once, when the worker is gone.
    assert [lost.call_id for lost in parent.connection_lost()] == before


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (Hello(1, 99), f"protocol version 99; this parent speaks version {PROTOCOL_VERSION}"),
        (Result(1, []), "not in flight"),
        (Error(3, "E", "m", ""), "an Error before hello"),
    ],
)
def test_a_worker_that_breaks_the_protocol_before_hello_is_refused(
    message: Any, problem: str
) -> None:
    parent = ParentConnection(clock=lambda: 0.0)
    (event,) = events_of(parent, encode(message))
    assert type(event) is ProtocolViolation and problem in str(event.error)


def test_a_worker_that_cannot_start_says_why_and_ends_the_link() -> None:
    parent, child = ParentConnection(clock=lambda: 0.0), ChildConnection()
    frame = child.send_start_failure("ImportError", "no module x", "Traceback")
    assert events_of(parent, frame) == [StartFailed("ImportError", "no module x", "Traceback")]
    assert parent.state is LinkState.ENDING


def test_a_second_view_request_while_one_waits_ends_the_link() -> None:
    parent, _ = ready_pair()
    parent.send_call(1, call_frame(1), 1.0)
    first = events_of(parent, encode(ViewRequest(1, 1, "v", {})))
    assert type(first[0]) is ViewAsked
    (event,) = events_of(parent, encode(ViewRequest(2, 1, "v", {})))
    assert type(event) is ProtocolViolation and "awaits its reply" in str(event.error)


def test_what_the_parent_must_not_send_ends_the_link_at_the_worker() -> None:
    parent, child = ready_pair()
    events_of(child, parent.send_call(1, call_frame(1), 1.0))
    (event,) = events_of(child, call_frame(1))
    assert type(event) is ProtocolViolation and "a second call 1" in str(event.error)
    _, child = ready_pair()
    (event,) = events_of(child, encode(ViewReply(1, "value")))
    assert type(event) is ProtocolViolation and "view request 1, never made" in str(event.error)
    _, child = ready_pair()
    events_of(child, encode(Stop()))
    (event,) = events_of(child, call_frame(2))
    assert type(event) is ProtocolViolation and "on a link that is ending" in str(event.error)


# --- deadlines, as data ---------------------------------------------------------------------------


def test_a_call_that_runs_over_ends_and_its_late_answer_is_dropped() -> None:
    now = [0.0]
    parent, child = ready_pair(clock=lambda: now[0])
    parent.send_call(1, call_frame(1), 2.0)
    parent.send_call(2, call_frame(2), 2.0)
    assert (parent.running, parent.deadline) == (1, 2.0)
    now[0] = 1.9
    assert parent.expire_overdue(now[0]) is None
    now[0] = 2.0
    assert parent.expire_overdue(now[0]) == CallExpired(1, 2.0)
    assert parent.state is LinkState.ENDING and parent.running is None
    assert parent.deadline == float("inf")
    # The worker comes out of it after all: the late answer is dropped, the next answered.
    events_of(child, call_frame(1) + call_frame(2))
    late = as_bytes(child.send_result(1, [1])) + as_bytes(child.send_result(2, [2]))
    assert events_of(parent, late) == [CallDone(2, [2])]
    assert parent.running is None  # and no clock starts for it: the link is ending
    # Calls behind an expired one that never answered were never begun.
    parent, _ = ready_pair(clock=lambda: 0.0)
    parent.send_call(1, call_frame(1), 1.0)
    parent.send_call(2, call_frame(2), 1.0)
    parent.expire_overdue(5.0)
    assert parent.connection_lost() == [CallLost(2, started=False)]


def test_the_next_call_starts_its_clock_when_the_one_before_answers() -> None:
    now = [0.0]
    parent, child = ready_pair(clock=lambda: now[0])
    for call_id in (1, 2):
        events_of(child, parent.send_call(call_id, call_frame(call_id), 3.0))
    now[0] = 10.0
    assert events_of(parent, child.send_result(1, [1])) == [CallDone(1, [1])]
    assert (parent.running, parent.deadline) == (2, 13.0)
    assert parent.connection_lost() == [CallLost(2, started=True)]
