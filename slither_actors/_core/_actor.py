"""`Actor`: a class whose handlers run one message at a time, fed by a bounded mailbox."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import attrs
import trio

from slither_actors._checks import check_count, check_instance, check_seconds, check_text
from slither_actors._core._exit import ExitReason, Reason, check_reason, reason_from_exception
from slither_actors._core._ref import (
    ActorRef,
    Call,
    Cast,
    DeferredReply,
    Envelope,
    Lifecycle,
    ReplySlot,
)
from slither_actors._core._registry import Registry, current_registry
from slither_actors._core._trio import require_trio

__all__ = ["Actor", "run_actor"]

_log = logging.getLogger("slither_actors.actor")

# How many queued messages an actor handles before it lets other tasks run.
MESSAGES_BETWEEN_YIELDS = 32
_actor_numbers = itertools.count(1)


@attrs.define(eq=False, slots=True)
class _Running:
    """What an actor knows about itself while it runs."""

    ref: ActorRef
    life: Lifecycle
    mailbox: trio.MemoryReceiveChannel[Envelope]
    nursery: trio.Nursery | None = None
    current_call: ReplySlot | None = None
    deferred: set[DeferredReply] = attrs.Factory(set)


@attrs.define(eq=False)
class Actor:
    """Base class for actors. Subclass it (as an attrs class or a plain one) and override
    the handlers you need.

    An actor handles one message at a time, in arrival order, so its fields need no locks.
    Its mailbox holds at most ``mailbox_size`` messages (a class attribute, overridable per
    `run_actor` call). An exception escaping a handler crashes the actor: a call being
    handled raises that exception in its caller, queued calls fail with `ActorExited`,
    and the actor's supervisor decides what happens next.
    """

    mailbox_size: ClassVar[int] = 64
    terminate_timeout: ClassVar[float] = 5.0

    _running: _Running | None = attrs.field(default=None, init=False, repr=False)

    # --- handlers: override these ---------------------------------------------------------

    async def init(self) -> None:
        """Runs before the actor is reported started; an exception fails the start."""

    async def handle_call(self, message: Any) -> Any:
        """Handle a `ActorRef.call`; the return value is the reply."""
        raise NotImplementedError(f"{type(self).__name__} does not handle calls: {message!r}")

    async def handle_cast(self, message: Any) -> None:
        """Handle a `ActorRef.cast`; nobody waits for a result."""
        raise NotImplementedError(f"{type(self).__name__} does not handle casts: {message!r}")

    async def handle_info(self, message: Any) -> None:
        """Handle a plain message from `ActorRef.send`; by default it is logged and dropped."""
        _log.warning("%s dropped an unexpected message: %r", self.ref.label, message)

    async def terminate(self, reason: Reason) -> None:
        """Runs once as the actor exits, whatever the reason (crash, stop, cancellation),
        provided ``init`` succeeded.

        It runs shielded from cancellation but for at most ``terminate_timeout`` seconds.
        An exception here is logged and does not change the exit reason.
        """

    # --- tools for handlers ---------------------------------------------------------------

    @property
    def ref(self) -> ActorRef:
        """This actor's own ref (to hand to others)."""
        return self._context().ref

    def stop(self, reason: Reason = ExitReason.NORMAL) -> None:
        """Stop after the current message; an exception as ``reason`` makes it a crash
        (`ValueError` for a reason that is neither an exception nor an `ExitReason`)."""
        self._context().life.request_stop(check_reason(reason))

    def defer_reply(self) -> DeferredReply:
        """Promise a reply to the call being handled instead of returning it.

        ``handle_call``'s return value is then ignored; reply later with
        `DeferredReply.send` (for instance from a task started with `start_soon`) while
        the actor goes on with other messages.
        """
        running = self._context()
        if running.current_call is None:
            raise RuntimeError("defer_reply() can only be used while handling a call")
        reply = DeferredReply(running.current_call, running.deferred)
        running.deferred.add(reply)
        running.current_call = None
        return reply

    def start_soon(self, function: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``function(*args)`` as a task owned by this actor.

        The task is cancelled when the actor exits; if it raises, the actor crashes with
        that exception.
        """
        running = self._context()
        assert running.nursery is not None
        running.nursery.start_soon(function, *args)

    def _context(self) -> _Running:
        if self._running is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return self._running


async def run_actor(
    actor: Actor,
    *,
    name: str | None = None,
    mailbox_size: int | None = None,
    registry: Registry | None = None,
    task_status: trio.TaskStatus[ActorRef] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``actor`` until it stops; use it with ``ref = await nursery.start(run_actor, actor)``.

    ``init`` runs first; when it returns, the actor is registered under ``name`` (in
    ``registry``, by default the current runtime's) and its `ActorRef` is reported with
    ``task_status.started``. Returns when the actor stops normally; raises the exception it
    crashed with. Raises `NameTaken` if ``name`` belongs to a live actor.

    Raises `ValueError` before the actor starts if ``actor`` is not an `Actor`, ``name``
    is not None or a non-empty str, the mailbox size (given, or the class's) is not an int
    of 0 or more (``math.inf`` would make the mailbox unbounded), the class's
    ``terminate_timeout`` is not a finite number of seconds, 0 or more, or ``registry``
    is not a `Registry`.
    """
    require_trio("run_actor")
    check_instance("actor", actor, Actor)
    check_text("name", name, optional=True)
    size = check_count(
        "mailbox_size", actor.mailbox_size if mailbox_size is None else mailbox_size, minimum=0
    )
    # `terminate` runs shielded for this long: NaN broke the exit (and so every caller
    # waiting for it), and math.inf could never be cut short.
    check_seconds("terminate_timeout", actor.terminate_timeout, zero=True, infinite=False)
    check_instance("registry", registry, Registry, optional=True)
    if name is not None and registry is None:
        registry = current_registry()
    label = f"{type(actor).__name__}#{next(_actor_numbers)}" + (f" {name!r}" if name else "")
    send, receive = trio.open_memory_channel[Envelope](size)
    life = Lifecycle(label)
    ref = ActorRef(name, size, send, life)
    running = _Running(ref, life, receive)
    actor._running = running

    initialised = False
    try:
        async with trio.open_nursery() as nursery:
            running.nursery = nursery
            await actor.init()
            initialised = True
            if name is not None and registry is not None:
                registry.register(name, ref)
            task_status.started(ref)
            await _handle_messages(actor, running)
            nursery.cancel_scope.cancel()
    except BaseException as exc:
        reason = reason_from_exception(exc)
        await _exit(actor, running, reason, registry, name, initialised)
        if isinstance(reason, Exception) and reason is not exc:
            # The crash came out of the actor's own nursery; report the crash itself,
            # not the group that carried it, and keep the crash's own cause.
            raise reason from reason.__cause__
        raise
    reason = life.stop_reason if life.stop_reason is not None else ExitReason.NORMAL
    await _exit(actor, running, reason, registry, name, initialised)
    if isinstance(reason, BaseException):
        raise reason


async def _handle_messages(actor: Actor, running: _Running) -> None:
    life = running.life
    mailbox = running.mailbox
    handled_since_yield = 0
    while life.stop_reason is None:
        # Queued messages are taken without a trip through the scheduler; yielding once
        # every few of them keeps other tasks running and lets cancellation in. The yield
        # comes before a message is taken, so a cancellation never loses one.
        if handled_since_yield >= MESSAGES_BETWEEN_YIELDS:
            await trio.lowlevel.checkpoint()
            handled_since_yield = 0
            continue
        try:
            envelope = mailbox.receive_nowait()
        except trio.WouldBlock:
            with trio.CancelScope() as idle:
                life.idle_scope = idle
                try:
                    envelope = await mailbox.receive()
                finally:
                    life.idle_scope = None
            if idle.cancelled_caught:
                return
            handled_since_yield = 0
        handled_since_yield += 1
        if type(envelope) is Call:
            running.current_call = envelope.slot
            try:
                reply = await actor.handle_call(envelope.message)
            except Exception as exc:
                # Mark the actor dead before its caller wakes up, so that the caller sees
                # `alive` False and the registry no longer resolves to this incarnation.
                life.alive = False
                life.reason = exc
                envelope.slot.fail_in_handler(exc)
                raise
            if running.current_call is not None:
                running.current_call.resolve(reply)
                running.current_call = None
        elif type(envelope) is Cast:
            await actor.handle_cast(envelope.message)
        else:
            await actor.handle_info(envelope.message)


async def _exit(
    actor: Actor,
    running: _Running,
    reason: Reason,
    registry: Registry | None,
    name: str | None,
    initialised: bool,
) -> None:
    """Close the mailbox and fail every waiting caller, then run ``terminate``."""
    life = running.life
    life.alive = False
    life.reason = reason
    waiting = [running.current_call] if running.current_call is not None else []
    waiting += [reply._slot for reply in running.deferred]
    dropped = 0
    while True:
        try:
            envelope = running.mailbox.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            break
        if type(envelope) is Call:
            waiting.append(envelope.slot)
        else:
            dropped += 1
    running.mailbox.close()
    for slot in waiting:
        slot.fail(life.exited_error())
    if dropped:
        _log.info("%s exited (%s) with %d unhandled casts", life.label, reason, dropped)
    if name is not None and registry is not None:
        registry.unregister(name, running.ref)
    if initialised:
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + actor.terminate_timeout
            try:
                await actor.terminate(reason)
            except Exception:
                _log.exception("%s raised in terminate(%s)", life.label, reason)
        if scope.cancelled_caught:
            _log.warning(
                "%s: terminate(%s) took longer than %gs and was cut short",
                life.label,
                reason,
                actor.terminate_timeout,
            )
    life.exited.set()
