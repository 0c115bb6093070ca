"""The worker link as one connection, sans-IO: bytes in, events out; requests in, bytes out.

Everything the protocol knows about one link lives in its connection and nowhere else: the
handshake and its version check, the calls sent and not yet answered (in the order written:
the worker runs the oldest), when the running call must answer by, the heartbeat's nonce,
the view request awaiting its reply, draining and stopping. This module holds what both
ends share; each end is a subclass. Nothing here reads, writes, sleeps or imports trio, so
the parent and the worker process use the same code, and tests drive both ends in memory
(tests/test_connection.py)::

    connection = ParentConnection(clock=time.monotonic)  # or ChildConnection()
    connection.receive_data(bytes_from_the_worker)
    while (event := connection.next_event()) is not None:
        ...                                   # WorkerReady, CallDone, ViewAsked, ...
    write(connection.send_call(call_id, frame, timeout))

A driver that reads straight into the connection's buffer uses `get_buffer` and
`buffer_updated`, which returns that read's events at once (the hot path: no queue).

The peer's mistakes (garbage, a reply to a call never sent, a second hello) end in a
`ProtocolViolation` event, after which the connection takes no more bytes. Ours (a call
sent before hello, a reply to a view nobody asked for) raise `LocalProtocolError` and send
nothing. The messages themselves, and their encoding, are in `protocol`.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from typing import Any

from slither_actors._pool._events import ProtocolViolation
from slither_actors._pool.protocol import DEFAULT_MAX_FRAME, Decoded, Frame, FrameDecoder, encode
from slither_actors.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["Connection", "LinkState"]

# The parent's end is `ParentConnection` (in `_parent_connection`), the worker's
# `ChildConnection` (in `_child_connection`): a worker process imports only its own.


class LinkState(enum.Enum):
    """Where a link stands, as seen from one end."""

    STARTING = "starting"  # no hello yet (the parent awaits it; the worker has not sent it)
    READY = "ready"  # calls flow
    DRAINING = "draining"  # the parent sends no new calls; those sent run to the end
    ENDING = "ending"  # no new calls: stop was sent (or received), or the parent gave up
    BROKEN = "broken"  # the peer broke the protocol
    CLOSED = "closed"  # the peer has gone


_OPEN = (LinkState.STARTING, LinkState.READY, LinkState.DRAINING, LinkState.ENDING)


class Connection:
    """What both ends share: the decoder, the state, the event queue, and how a violation
    by the peer ends the link. See `ParentConnection` and `ChildConnection`."""

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME, *, allow_pickle: bool = False) -> None:
        self.max_frame = max_frame
        self.allow_pickle = allow_pickle
        self.accepting = False  # new calls may be sent (READY); kept with `state`
        self._flowing = False  # calls start as those before them end (READY, DRAINING)
        self.state = LinkState.STARTING
        self.violation: RemoteProtocolError | None = None
        self._decoder = FrameDecoder(max_frame, allow_pickle=allow_pickle)
        self._queued: deque[Any] = deque()
        # Where the next bytes from the peer go: write up to its length at its start, then
        # call `buffer_updated` with the count. Once the peer has broken the protocol it
        # raises `RemoteProtocolError`, once it has gone `LocalProtocolError`. (The
        # decoder's own method while the link is open: a read costs no extra call.)
        self.get_buffer: Callable[[], memoryview] = self._decoder.get_buffer

    @property
    def state(self) -> LinkState:
        """Where the link stands (see `LinkState`)."""
        return self._state

    @state.setter
    def state(self, state: LinkState) -> None:
        self._state = state
        self.accepting = state is LinkState.READY
        self._flowing = self.accepting or state is LinkState.DRAINING

    # --- bytes in -------------------------------------------------------------------------

    def _refusing_buffer(self) -> memoryview:
        self._refuse_bytes()
        raise AssertionError("unreachable")

    def buffer_updated(self, size: int) -> list[Any]:
        """``size`` bytes were written at the start of the last `get_buffer`: the events
        of the frames they complete, in order (a `ProtocolViolation` ends the list)."""
        try:
            messages = self._decoder.buffer_updated(size)
        except RemoteProtocolError as error:
            return [self._violated(error)]
        if not messages:
            return messages
        return self._handle(messages)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes from the peer, any amount: their events wait for `next_event`.

        Never holds more than one frame (up to ``max_frame``) plus one read's worth of
        bytes: the data is taken in pieces, each decoded before the next is copied in.
        """
        view = memoryview(data).cast("B")
        while view and self.state in _OPEN:
            buffer = self.get_buffer()
            size = min(len(buffer), len(view))
            buffer[:size] = view[:size]
            view = view[size:]
            self._queued.extend(self.buffer_updated(size))
        if view:
            self._refuse_bytes()

    def next_event(self) -> Any:
        """The oldest event not yet taken from `receive_data`'s, or None for none."""
        queued = self._queued
        return queued.popleft() if queued else None

    def _refuse_bytes(self) -> None:
        if self.violation is not None:
            raise self.violation
        raise LocalProtocolError(f"no bytes can be received on a link that is {self.state.value}")

    def _violated(self, error: RemoteProtocolError) -> ProtocolViolation:
        self.state = LinkState.BROKEN
        self.violation = error
        self.get_buffer = self._refusing_buffer
        return ProtocolViolation(error)

    def _closed(self) -> None:
        if self.state is not LinkState.BROKEN:
            self.state = LinkState.CLOSED
        self.get_buffer = self._refusing_buffer

    def _handle(self, messages: list[Decoded]) -> list[Any]:
        raise NotImplementedError

    # --- bytes out ------------------------------------------------------------------------

    def _encode(self, message: Any) -> Frame:
        return encode(message, self.max_frame, allow_pickle=self.allow_pickle)

    def _require(self, allowed: tuple[LinkState, ...], what: str) -> None:
        if self.state not in allowed:
            raise LocalProtocolError(f"cannot send {what} on a link that is {self.state.value}")
