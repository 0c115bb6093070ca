"""`ActorRef`: the handle through which other tasks call, cast to and stop an actor."""

from __future__ import annotations

import copy
import math
from typing import Any

import attrs
import trio

from slither_actors._checks import check_seconds
from slither_actors._core._exit import ExitReason, Reason, check_reason
from slither_actors.errors import ActorExited, CallTimeout, MailboxFull

__all__ = ["DEFAULT_CALL_TIMEOUT", "ActorRef", "DeferredReply"]

DEFAULT_CALL_TIMEOUT = 5.0


@attrs.define(eq=False, slots=True)
class ReplySlot:
    """Where one call's reply lands. Resolving a slot nobody waits for any more is harmless,
    which is why a late reply can never crash the actor that sends it."""

    resolved: trio.Event = attrs.Factory(trio.Event)
    value: Any = None
    error: BaseException | None = None
    raised_in_handler: bool = False

    def resolve(self, value: Any) -> None:
        if not self.resolved.is_set():
            self.value = value
            self.resolved.set()

    def fail(self, error: BaseException) -> None:
        if not self.resolved.is_set():
            self.error = error
            self.resolved.set()

    def fail_in_handler(self, error: BaseException) -> None:
        """The handler raised ``error``; the actor crashes with that very object."""
        self.raised_in_handler = True
        self.fail(error)

    def outcome(self) -> Any:
        """The reply, or raise the failure in the caller."""
        error = self.error
        if error is None:
            return self.value
        if self.raised_in_handler:
            # The actor task raises the original as its crash; raising a copy here keeps
            # the two tracebacks apart, and chaining shows where it came from.
            try:
                copied = copy.copy(error)
            except Exception:
                raise error from None
            raise copied from error
        raise error


@attrs.frozen(slots=True)
class Call:
    message: Any
    slot: ReplySlot


@attrs.frozen(slots=True)
class Cast:
    message: Any


@attrs.frozen(slots=True)
class Info:
    message: Any


Envelope = Call | Cast | Info


@attrs.define(eq=False, slots=True)
class Lifecycle:
    """State shared by an actor's loop and every ref to it.

    ``stop_reason`` is the control path: setting it never touches the mailbox, so a full
    mailbox cannot delay a stop. ``idle_scope`` is the loop's wait for the next message,
    cancelled by a stop request so an idle actor notices at once.
    """

    label: str
    alive: bool = True
    reason: Reason | None = None
    stop_reason: Reason | None = None
    idle_scope: trio.CancelScope | None = None
    exited: trio.Event = attrs.Factory(trio.Event)

    def request_stop(self, reason: Reason) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.idle_scope is not None:
            self.idle_scope.cancel()

    def exited_error(self) -> ActorExited:
        return ActorExited(self.label, self.reason if self.reason is not None else "unknown")


@attrs.define(eq=False, repr=False, slots=True)
class ActorRef:
    """A handle to a running actor; cheap to copy and safe to keep after the actor exits.

    Every method fails with `ActorExited` once the actor has exited; a call whose actor
    exits while the call is queued or running fails at once with `ActorExited`, never
    waiting for its timeout.
    """

    name: str | None
    mailbox_size: int
    _mailbox: trio.MemorySendChannel[Envelope]
    _life: Lifecycle

    def __repr__(self) -> str:
        state = "alive" if self._life.alive else f"exited: {self._life.reason}"
        return f"<ActorRef {self._life.label} ({state})>"

    @property
    def label(self) -> str:
        """The actor's type and name, as used in error messages."""
        return self._life.label

    @property
    def alive(self) -> bool:
        """True until the actor has started to exit."""
        return self._life.alive

    @property
    def exit_reason(self) -> Reason | None:
        """Why the actor exited, or None while it runs."""
        return self._life.reason

    async def call(self, message: Any, timeout: float | None = DEFAULT_CALL_TIMEOUT) -> Any:
        """Send ``message`` to ``handle_call`` and wait for its reply.

        Returns the reply, or raises the exception ``handle_call`` raised (a copy, chained
        to the original with ``raise ... from``, so the actor's traceback shows too). Raises
        `CallTimeout` when no reply comes within ``timeout`` seconds (None waits forever;
        the time spent waiting for mailbox space counts), and `ActorExited` if the actor
        exits first. Cancelling the caller abandons the call; the actor may still run it.
        A ``timeout`` that is not None or a number of seconds above 0 (NaN, 0, negative, a
        bool) raises `ValueError` before anything is sent.
        """
        if timeout is None:
            seconds = math.inf
        elif type(timeout) is float and timeout > 0:  # the common case, at little cost
            seconds = timeout
        else:
            seconds = check_seconds("timeout", timeout)
        slot = ReplySlot()
        with trio.move_on_after(seconds):
            await self._deliver(Call(message, slot))
            await slot.resolved.wait()
        if not slot.resolved.is_set():
            raise CallTimeout(self.label, message, seconds)
        return slot.outcome()

    async def cast(self, message: Any) -> None:
        """Deliver ``message`` to ``handle_cast``, waiting while the mailbox is full.

        The wait is the backpressure: a fast producer slows to the actor's pace. It is
        always a cancellation point, but it lets other tasks run only when it has to wait
        for room, so a burst of casts costs one trip through the scheduler, not one each.
        Raises `ActorExited` if the actor has exited or exits while this waits.
        """
        await self._deliver(Cast(message))

    async def _deliver(self, envelope: Envelope) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self._mailbox.send_nowait(envelope)
        except trio.WouldBlock:
            try:
                await self._mailbox.send(envelope)
            except trio.BrokenResourceError:
                raise self._life.exited_error() from None
        except trio.BrokenResourceError:
            raise self._life.exited_error() from None

    def cast_nowait(self, message: Any) -> None:
        """Deliver ``message`` to ``handle_cast`` now; raise `MailboxFull` if there is no room."""
        self._put_nowait(Cast(message))

    async def send(self, message: Any) -> None:
        """Deliver ``message`` to ``handle_info`` (a plain message, as with Erlang's ``!``),
        waiting while the mailbox is full, like `cast`."""
        await self._deliver(Info(message))

    def send_nowait(self, message: Any) -> None:
        """Deliver ``message`` to ``handle_info`` now; raise `MailboxFull` if there is no room."""
        self._put_nowait(Info(message))

    def _put_nowait(self, envelope: Envelope) -> None:
        try:
            self._mailbox.send_nowait(envelope)
        except trio.WouldBlock:
            raise MailboxFull(self.label, self.mailbox_size) from None
        except trio.BrokenResourceError:
            raise self._life.exited_error() from None

    def request_stop(self, reason: Reason = ExitReason.NORMAL) -> None:
        """Ask the actor to stop after the message it is handling; returns at once.

        Travels outside the mailbox, so a full mailbox cannot hold it up. Messages still
        queued are not handled: their calls fail with `ActorExited`. A ``reason`` that is
        neither an exception nor an `ExitReason` raises `ValueError`.
        """
        self._life.request_stop(check_reason(reason))

    async def stop(self, reason: Reason = ExitReason.NORMAL) -> Reason:
        """Ask the actor to stop and wait until it has exited (``terminate`` included);
        ``reason`` as for `request_stop`."""
        self._life.request_stop(check_reason(reason))
        return await self.wait_exited()

    async def wait_exited(self) -> Reason:
        """Wait until the actor has exited and return its exit reason (a monitor)."""
        await self._life.exited.wait()
        assert self._life.reason is not None
        return self._life.reason


@attrs.define(eq=False, slots=True)
class DeferredReply:
    """A reply promised by ``handle_call`` and sent later with `send` or `fail`.

    Obtained from `Actor.defer_reply`. If the actor exits before replying, the caller gets
    `ActorExited`. Replying twice, or after the caller gave up, does nothing.
    """

    _slot: ReplySlot
    _outstanding: set[DeferredReply]

    @property
    def done(self) -> bool:
        """True once a reply (or failure) has been delivered."""
        return self._slot.resolved.is_set()

    def send(self, value: Any) -> None:
        """Deliver ``value`` as the call's reply."""
        self._slot.resolve(value)
        self._outstanding.discard(self)

    def fail(self, error: BaseException) -> None:
        """Make the call raise ``error`` in the caller (`ValueError` here if it is not an
        exception, which the caller could not raise)."""
        if not isinstance(error, BaseException):
            raise ValueError(f"error must be an exception, not {error!r:.60}")
        self._slot.fail(error)
        self._outstanding.discard(self)
