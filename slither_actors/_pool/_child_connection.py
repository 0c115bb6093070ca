"""The worker process's end of the link, sans-IO (the parent's is in `_connection`).

It says hello, receives calls in the order written and answers them in that order, one at
a time; while a call runs, its user code may ask the parent for a store view and wait for
the reply. Like the parent's end it reads and writes nothing itself: `child` drives it.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any

from slither_actors._pool._connection import Connection, LinkState
from slither_actors._pool._events import (
    CallUnreadable,
    ChildEvent,
    PingReceived,
    StopReceived,
)
from slither_actors._pool.protocol import (
    DEFAULT_MAX_FRAME,
    Call,
    Decoded,
    Error,
    Frame,
    Hello,
    Malformed,
    Ping,
    Pong,
    Stop,
    ViewReply,
    ViewRequest,
    encode_result,
)
from slither_actors.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["ChildConnection"]


# What the parent may still send once it has sent stop: the reply to a view the running call
# asked for (it was on its way), and heartbeats.
_AFTER_STOP = (ViewReply, Malformed, Ping)


class ChildConnection(Connection):
    """A worker's end of its link to the parent.

    Every call received (`CallReceived`, or `CallUnreadable` for one it cannot take) must
    be answered, oldest first, by `send_result` or `send_error`. A view reply is not an
    event: it is kept for `take_view_reply`, since the call that asked waits for it while
    the calls and pings behind it wait their turn.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, allow_pickle: bool = False) -> None:
        super().__init__(max_frame, allow_pickle=allow_pickle)
        self._calls: deque[int] = deque()  # received, unanswered: the first runs
        self._request_ids = itertools.count(1)
        self._view_request: int | None = None
        self._view_reply: ViewReply | Malformed | None = None

    @property
    def running(self) -> int | None:
        """The call being handled now: the oldest received and not yet answered."""
        return self._calls[0] if self._calls else None

    # --- requests -------------------------------------------------------------------------

    def send_hello(self, pid: int) -> Frame:
        """Ready for calls (after the preload modules imported)."""
        self._require((LinkState.STARTING,), "a hello")
        self.state = LinkState.READY
        return self._encode(Hello(pid))

    def send_start_failure(self, type_name: str, message: str, traceback: str) -> Frame:
        """This worker cannot start (a preload module failed) and will exit."""
        self._require((LinkState.STARTING,), "a start failure")
        self.state = LinkState.ENDING
        return self._encode(Error(0, type_name, message, traceback))

    def send_result(self, call_id: int, results: list[Any]) -> Frame:
        """Answer the running call ``call_id`` with ``results``. Raises `PayloadError` if a
        result cannot travel; the call then still awaits its answer (send an error)."""
        calls = self._calls
        if not calls or calls[0] != call_id or self._view_request is not None:
            self._check_answer(call_id)  # raises the error that says which
        frame = encode_result(call_id, results, self.max_frame, self.allow_pickle)
        calls.popleft()
        return frame

    def send_error(self, call_id: int, type_name: str, message: str, traceback: str) -> Frame:
        """Answer the running call ``call_id`` with the error it raised."""
        self._check_answer(call_id)
        frame = self._encode(Error(call_id, type_name, message, traceback))
        self._calls.popleft()
        return frame

    def _check_answer(self, call_id: int) -> None:
        if self.state is LinkState.STARTING or self.state is LinkState.CLOSED:
            self._require((LinkState.READY,), f"an answer to call {call_id}")
        if not self._calls or self._calls[0] != call_id:
            raise LocalProtocolError(f"call {call_id} is not the running call ({self.running})")
        if self._view_request is not None:
            raise LocalProtocolError(
                f"call {call_id} cannot be answered while its view request awaits a reply"
            )

    def send_view_request(self, name: str, params: dict[str, Any]) -> tuple[int, Frame]:
        """Ask the parent for view ``name`` on behalf of the running call: the request's id
        and its bytes. Raises `PayloadError` if ``params`` cannot travel (nothing is sent)."""
        call_id = self.running
        if call_id is None:
            raise LocalProtocolError("a view can be asked for only while a call runs")
        if self._view_request is not None:
            raise LocalProtocolError(f"view request {self._view_request} still awaits a reply")
        self._require((LinkState.READY, LinkState.ENDING), "a view request")
        request_id = next(self._request_ids)
        frame = self._encode(ViewRequest(request_id, call_id, name, params))
        self._view_request = request_id
        return request_id, frame

    def take_view_reply(self) -> ViewReply | Malformed | None:
        """The reply to the view request made, once it has come (a `Malformed` one holds a
        value this worker refuses to decode); None until then."""
        reply = self._view_reply
        if reply is not None:
            self._view_reply = self._view_request = None
        return reply

    def send_pong(self, nonce: int) -> Frame:
        """Answer the parent's ping of ``nonce``."""
        self._require((LinkState.READY, LinkState.ENDING), "a pong")
        return self._encode(Pong(nonce))

    # --- events ---------------------------------------------------------------------------

    def _handle(self, messages: list[Decoded]) -> list[Any]:
        events: list[ChildEvent] = []
        calls = self._calls
        for message in messages:
            try:
                if type(message) is Call and self.accepting and message.call_id not in calls:
                    calls.append(message.call_id)  # the usual case, written flat
                    events.append(message)  # a Call is its own CallReceived event
                    continue
                if not self.accepting and type(message) not in _AFTER_STOP:
                    raise RemoteProtocolError(
                        f"a {type(message).__name__} message on a link that is {self.state.value}"
                    )
                event = self._event(message)
                if event is not None:
                    events.append(event)
            except RemoteProtocolError as error:
                events.append(self._violated(error))
                break
        return events

    def _event(self, message: Decoded) -> Any:
        if type(message) is Call:  # one whose id is in use (others are taken in `_handle`)
            raise RemoteProtocolError(
                f"a second call {message.call_id} while the first is unanswered"
            )
        if type(message) is Ping:
            return PingReceived(message.nonce)
        if type(message) is Stop:
            self.state = LinkState.ENDING
            return StopReceived()
        if type(message) is ViewReply:
            self._replied(message.request_id, message)
            return None
        if type(message) is Malformed:
            if message.kind is Call and self.state is LinkState.READY:
                # The frame was sound, only this call is bad: it is answered with an error.
                self._calls.append(message.call_id)
                return CallUnreadable(message.call_id, message.problem, message.refused)
            if message.kind is ViewReply and message.refused:
                self._replied(message.call_id, message)
                return None
            raise RemoteProtocolError(message.problem)
        raise RemoteProtocolError(f"a {type(message).__name__} message from the parent")

    def _replied(self, request_id: int, reply: ViewReply | Malformed) -> None:
        if request_id != self._view_request or self._view_reply is not None:
            raise RemoteProtocolError(f"a reply to view request {request_id}, never made")
        self._view_reply = reply
