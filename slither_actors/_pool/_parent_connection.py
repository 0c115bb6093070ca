"""The parent's end of a worker link, sans-IO (see `_connection` for what both ends share).

It knows the calls written and not yet answered, in order (the worker runs the oldest),
the deadline of the one running, the heartbeat's nonce and the view request awaiting its
reply; `Serving` drives it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from slither_actors._pool._connection import Connection, LinkState
from slither_actors._pool._events import (
    CallExpired,
    CallFailed,
    CallLost,
    CallUnreadable,
    PongReceived,
    StartFailed,
    ViewAsked,
    WorkerReady,
)
from slither_actors._pool.protocol import (
    DEFAULT_MAX_FRAME,
    PROTOCOL_VERSION,
    Error,
    Frame,
    Hello,
    Malformed,
    Ping,
    Pong,
    Result,
    Stop,
    ViewReply,
    ViewRequest,
)
from slither_actors.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["ParentConnection"]

_NEVER = math.inf  # the deadline while no call runs


_CALLS_FLOW = (LinkState.READY, LinkState.DRAINING)
_ANSWERS_FLOW = (LinkState.READY, LinkState.DRAINING, LinkState.ENDING)


class ParentConnection(Connection):
    """The parent's end of the link to one worker process.

    Calls are written in order and the worker runs them one at a time, oldest first: the
    oldest unanswered call is `running`, and must answer by `deadline` (from ``clock``,
    when it began to run). ``clock`` is read only when a call starts; pass the event
    loop's clock.
    """

    def __init__(
        self,
        max_frame: int = DEFAULT_MAX_FRAME,
        *,
        allow_pickle: bool = False,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(max_frame, allow_pickle=allow_pickle)
        self.clock = clock
        self.pid: int | None = None
        self.calls_done = 0
        self.draining: str | None = None  # why no new calls are taken, once draining
        self.running: int | None = None  # the call the worker runs now
        self.deadline = _NEVER  # by when the running call must answer (inf: none runs)
        self._calls: dict[int, float] = {}  # unanswered call id -> run timeout, write order
        self._expired: int | None = None  # the call that ran over: its late answer is dropped
        self._pings = 0
        self._awaited_nonce: int | None = None
        self._view_request: int | None = None

    @property
    def in_flight(self) -> int:
        """Calls written and not yet answered (the running one included)."""
        return len(self._calls)

    # --- requests -------------------------------------------------------------------------

    def send_call(self, call_id: int, frame: Frame, timeout: float) -> Frame:
        """Send call ``call_id``, whose frame is ``frame`` (from `protocol.encode_call`, made
        once even if the call waits for a worker or moves to another), to run for at most
        ``timeout`` seconds once started. Returns the bytes to write. If the worker was
        idle, the call runs at once: `running` is its id and `deadline` its deadline.
        """
        if not self.accepting:
            self._require((LinkState.READY,), f"call {call_id}")
        calls = self._calls
        if call_id in calls:
            raise LocalProtocolError(f"call id {call_id} is in use")
        if not calls:  # the worker is idle: it runs this call at once
            self.running = call_id
            self.deadline = self.clock() + timeout
        calls[call_id] = timeout
        return frame

    def send_ping(self) -> Frame:
        """A heartbeat: the worker answers with `PongReceived` of the nonce `pinging`."""
        self._require(_ANSWERS_FLOW, "a ping")
        self._pings += 1
        self._awaited_nonce = self._pings
        return self._encode(Ping(self._pings))

    @property
    def pinging(self) -> int | None:
        """The nonce of the ping not yet answered, if any."""
        return self._awaited_nonce

    def send_view_reply(self, request_id: int, value: Any) -> Frame:
        """Answer view request ``request_id`` with ``value``. Raises `PayloadError` if the
        value cannot travel; the request then still awaits an answer (send an error)."""
        self._check_view_request(request_id)
        frame = self._encode(ViewReply(request_id, value))
        self._view_request = None
        return frame

    def send_view_error(self, request_id: int, type_name: str, message: str) -> Frame:
        """Answer view request ``request_id`` with the error the view raised."""
        self._check_view_request(request_id)
        frame = self._encode(ViewReply(request_id, None, type_name, message))
        self._view_request = None
        return frame

    def _check_view_request(self, request_id: int) -> None:
        self._require(_ANSWERS_FLOW, f"a reply to view request {request_id}")
        if request_id != self._view_request:
            raise LocalProtocolError(f"view request {request_id} does not await a reply")

    def drain(self, reason: str) -> None:
        """Take no new calls; those sent run to the end. `drained` once they have."""
        if self.state is LinkState.READY:
            self.state = LinkState.DRAINING
            self.draining = reason

    @property
    def drained(self) -> bool:
        """True once a draining link has no call left."""
        return self.draining is not None and not self._calls

    def end(self) -> None:
        """Take no new calls, and start no more (the worker is being ended); answers to
        calls sent are still received until `connection_lost`."""
        if self.state in _CALLS_FLOW or self.state is LinkState.STARTING:
            self.state = LinkState.ENDING

    def send_stop(self) -> Frame:
        """Ask the worker to exit once it has answered what it was sent. Takes no new calls."""
        self._require(_ANSWERS_FLOW, "a stop")
        self.state = LinkState.ENDING
        return self._encode(Stop())

    def expire_overdue(self, now: float) -> CallExpired | None:
        """End the running call if ``now`` is past its deadline: the worker is stuck in it,
        so the link takes and starts no more calls (the worker must be replaced)."""
        deadline = self.deadline
        call_id = self.running
        if call_id is None or now < deadline:
            return None
        del self._calls[call_id]
        self._expired = call_id
        self.running, self.deadline = None, _NEVER
        if self.state in _CALLS_FLOW:
            self.state = LinkState.ENDING
        return CallExpired(call_id, deadline)

    def connection_lost(self) -> list[CallLost]:
        """The worker has gone: every call it had not answered ends, in the order written.
        The oldest may have begun (`CallLost.started`), unless a call that ran over was
        still ahead of it: the worker was stuck in that one."""
        lost = [CallLost(call_id, False) for call_id in self._calls]
        if lost and self._expired is None:
            lost[0].started = True
        self._calls.clear()
        self.running, self.deadline = None, _NEVER
        self._closed()
        return lost

    # --- events ---------------------------------------------------------------------------

    def buffer_updated(self, size: int) -> list[Any]:
        """``size`` bytes were written at the start of the last `get_buffer`: the events
        of the frames they complete, in order (a `ProtocolViolation` ends the list).
        Afterwards `running` and `deadline` say which call the worker runs now, if any."""
        try:
            messages: list[Any] = self._decoder.buffer_updated(size)
        except RemoteProtocolError as error:
            return [self._violated(error)]
        calls = self._calls
        events: list[Any] | None = None  # None while every message is its own event
        for index, message in enumerate(messages):
            try:
                if type(message) is Result and message.call_id == self.running:
                    # The usual case, written flat: a Result is its own CallDone event.
                    del calls[message.call_id]
                    self.calls_done += 1
                    if events is not None:
                        events.append(message)
                    if calls and self._flowing:  # the next call begins
                        call_id = self.running = next(iter(calls))
                        self.deadline = self.clock() + calls[call_id]
                    else:
                        self.running, self.deadline = None, _NEVER
                    continue
                if events is None:
                    events = messages[:index]
                append = events.append
                if type(message) is Result:
                    if self._answered(message.call_id):
                        append(message)
                        self._start_next()
                elif type(message) is Error:
                    self._error(message, append)
                elif type(message) is ViewRequest:
                    append(self._view_asked(message))
                elif type(message) is Pong:
                    self._pong(message.nonce, append)
                elif type(message) is Malformed:
                    self._malformed(message, append)
                elif type(message) is Hello:
                    append(self._hello(message))
                else:
                    name = type(message).__name__
                    raise RemoteProtocolError(f"a {name} message from a worker")
            except RemoteProtocolError as error:
                if events is None:
                    events = messages[:index]
                events.append(self._violated(error))
                break
        return messages if events is None else events

    def _answered(self, call_id: int) -> bool:
        """Take ``call_id`` out as answered; False for the late answer of an expired call."""
        calls = self._calls
        if call_id != self.running:
            if call_id == self._expired:
                self._expired = None
                return False
            oldest = next(iter(calls), None)
            if call_id in calls and call_id != oldest:
                raise RemoteProtocolError(f"a reply to call {call_id} before one to call {oldest}")
            if call_id not in calls:
                raise RemoteProtocolError(f"a reply to call {call_id}, which is not in flight")
            # The oldest call, answered though its clock never started: the link is ending.
        del calls[call_id]
        self.calls_done += 1
        return True

    def _start_next(self) -> None:
        """The worker takes the next call written, if any, unless the link is ending."""
        calls = self._calls
        if calls and self._flowing:
            call_id = next(iter(calls))
            self.running = call_id
            self.deadline = self.clock() + calls[call_id]
        else:
            self.running, self.deadline = None, _NEVER

    def _error(self, message: Error, append: Callable[[Any], None]) -> None:
        if message.call_id == 0 and self.state is LinkState.STARTING:
            self.state = LinkState.ENDING
            append(StartFailed(message.type_name, message.message, message.traceback))
            return
        self._after_hello("an Error")
        if self._answered(message.call_id):
            append(
                CallFailed(message.call_id, message.type_name, message.message, message.traceback)
            )
            self._start_next()

    def _malformed(self, message: Malformed, append: Callable[[Any], None]) -> None:
        # A sound frame holding a value the parent will not decode (a pickle where pickle
        # is off): nothing of it was decoded, so that call alone fails. Anything else
        # malformed cannot come from our worker: the other end cannot be trusted.
        if not (message.refused and message.kind in (Result, Error)):
            raise RemoteProtocolError(message.problem)
        self._after_hello("a result")
        if self._answered(message.call_id):
            append(CallUnreadable(message.call_id, message.problem))
            self._start_next()

    def _view_asked(self, message: ViewRequest) -> ViewAsked:
        self._after_hello("a view request")
        call_id = message.call_id
        # The call the worker runs: the oldest unanswered, or the one that ran over while
        # the worker is still stuck in it.
        running = self._expired if self._expired is not None else next(iter(self._calls), None)
        if call_id != running:
            raise RemoteProtocolError(f"a view request from call {call_id}, which is not running")
        if self._view_request is not None:
            raise RemoteProtocolError(
                f"view request {message.request_id} while request {self._view_request} "
                "awaits its reply"
            )
        self._view_request = message.request_id
        return ViewAsked(message.request_id, call_id, message.name, message.params)

    def _pong(self, nonce: int, append: Callable[[Any], None]) -> None:
        self._after_hello("a pong")
        if nonce <= 0 or nonce > self._pings:
            raise RemoteProtocolError(f"a pong of nonce {nonce}, for no ping sent")
        if nonce == self._awaited_nonce:
            self._awaited_nonce = None
            append(PongReceived(nonce))
        # An older nonce answers a ping that timed out: nothing waits for it any more.

    def _hello(self, message: Hello) -> WorkerReady:
        if self.state is not LinkState.STARTING:
            raise RemoteProtocolError("a second hello")
        if message.version != PROTOCOL_VERSION:
            raise RemoteProtocolError(
                f"a hello in protocol version {message.version}; this parent speaks "
                f"version {PROTOCOL_VERSION}"
            )
        self.state = LinkState.READY
        self.pid = message.pid
        return WorkerReady(message.pid)

    def _after_hello(self, what: str) -> None:
        if self.state is LinkState.STARTING:
            raise RemoteProtocolError(f"{what} before hello")
