"""Every exception slither_actors raises, under one base class, `SlitherError`.

This module imports nothing from the rest of the package (only attrs), so every layer may
use it, worker processes too. Each message names what failed and where, so a user can act
on it without a debugger.

Every exception keeps its constructor's arguments as fields and, in order, as ``args``,
and makes its message from them in ``__str__``: so each one pickles and copies (both
rebuild an exception from its ``args``), and a copy says the same. (Plain classes rather
than attrs ones: declaring some forty attrs classes added 13 ms to a worker's start-up,
which imports this module.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SlitherError(Exception):
    """Base class of every error raised by slither_actors."""


class _MessageError(SlitherError):
    """An error that is its message."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message


# --- actors -------------------------------------------------------------------------------------


class ActorExited(SlitherError):
    """The actor a call, cast or send was addressed to has exited (or exited meanwhile).

    ``reason`` is the actor's exit reason: ``"normal"``, ``"shutdown"``, ``"killed"`` or
    the exception it crashed with.
    """

    def __init__(self, actor: str, reason: Any) -> None:
        self.actor = actor
        self.reason = reason
        super().__init__(actor, reason)

    def __str__(self) -> str:
        return f"{self.actor} exited ({_describe_reason(self.reason)})"


class CallTimeout(SlitherError, TimeoutError):
    """A call got no reply within its timeout. A reply that arrives later is dropped.

    ``actor`` names what was called (an actor, or a pool's worker); ``message`` is what was
    sent (for a worker call, its target); ``text``, if given, is the whole message.
    """

    def __init__(self, actor: str, message: Any, timeout: float, text: str | None = None) -> None:
        self.actor = actor
        self.message = message
        self.timeout = timeout
        self.text = text
        # Not OSError's __init__, which would read the first arguments as errno and strerror.
        BaseException.__init__(self, actor, message, timeout, text)

    def __str__(self) -> str:
        if self.text:
            return self.text
        return (
            f"call to {self.actor} got no reply within {self.timeout:g}s "
            f"(message {type(self.message).__name__})"
        )


class MailboxFull(SlitherError):
    """A non-blocking cast or send found the actor's bounded mailbox full."""

    def __init__(self, actor: str, size: int) -> None:
        self.actor = actor
        self.size = size
        super().__init__(actor, size)

    def __str__(self) -> str:
        return f"mailbox of {self.actor} is full ({self.size} messages)"


# --- supervision --------------------------------------------------------------------------------


class SupervisorExhausted(SlitherError):
    """A supervisor saw more restarts than its intensity allows and shut itself down.

    It is raised to the supervisor's parent, which applies its own strategy. ``last_error``
    is the exit reason of the child whose exit broke the limit.
    """

    def __init__(
        self,
        supervisor: str,
        child: str,
        last_error: Any,
        max_restarts: int,
        max_seconds: float,
    ) -> None:
        self.supervisor = supervisor
        self.child = child
        self.last_error = last_error
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        super().__init__(supervisor, child, last_error, max_restarts, max_seconds)

    def __str__(self) -> str:
        return (
            f"supervisor {self.supervisor!r} gave up: more than {self.max_restarts} restarts "
            f"in {self.max_seconds:g}s; last exit was child {self.child!r} "
            f"({_describe_reason(self.last_error)})"
        )


class ChildStartFailed(SlitherError):
    """A supervisor could not start one of its children; the cause is chained."""

    def __init__(self, supervisor: str, child: str, cause: BaseException) -> None:
        self.supervisor = supervisor
        self.child = child
        self.cause = cause
        super().__init__(supervisor, child, cause)

    def __str__(self) -> str:
        return (
            f"supervisor {self.supervisor!r} could not start child {self.child!r}: "
            f"{type(self.cause).__name__}: {self.cause}"
        )


class UnknownChild(SlitherError, LookupError):
    """No child with this id is known to the supervisor."""

    def __init__(self, supervisor: str, child: str) -> None:
        self.supervisor = supervisor
        self.child = child
        super().__init__(supervisor, child)

    def __str__(self) -> str:
        return f"supervisor {self.supervisor!r} has no child {self.child!r}"


class DuplicateChild(SlitherError, ValueError):
    """A child with this id already exists under the supervisor."""

    def __init__(self, supervisor: str, child: str) -> None:
        self.supervisor = supervisor
        self.child = child
        super().__init__(supervisor, child)

    def __str__(self) -> str:
        return f"supervisor {self.supervisor!r} already has a child {self.child!r}"


class MaxChildrenReached(SlitherError):
    """A dynamic supervisor already runs ``max_children`` children."""

    def __init__(self, supervisor: str, max_children: int) -> None:
        self.supervisor = supervisor
        self.max_children = max_children
        super().__init__(supervisor, max_children)

    def __str__(self) -> str:
        return (
            f"dynamic supervisor {self.supervisor!r} already has its maximum of "
            f"{self.max_children} children"
        )


# --- worker processes and pools -----------------------------------------------------------------


class ProtocolError(_MessageError):
    """The worker link was broken: by the peer (`RemoteProtocolError`) or by a request to
    send something this side must not (`LocalProtocolError`). Catch this for either."""


class RemoteProtocolError(ProtocolError):
    """The peer (a worker, or the parent) sent bytes that are not a valid frame or message,
    or a message the protocol does not allow at that point (a result for a call never
    sent, a second hello). The link cannot be trusted after it: the worker is replaced."""


class LocalProtocolError(ProtocolError):
    """This side was asked to send something the protocol does not allow now: a call
    before the worker said hello or after it was told to stop, a reply to a view request
    nobody made, a result for a call that is not running. A bug in the caller, never the
    peer's doing; nothing was sent."""


class PayloadError(_MessageError, ValueError):
    """A payload or result that cannot travel to or from a worker: a type the codec does
    not carry (named with the item's index; see docs/workers.md, What can travel), a value
    the other side refuses to decode (a pickle without ``allow_pickle``, an array where
    numpy is missing), or a frame over the size limit."""


class WorkerError(SlitherError):
    """User code in a worker raised; the remote type, message and traceback are kept.

    ``remote_type`` is the name of the exception's type in the worker; ``remote_traceback``
    its formatted traceback there.
    """

    def __init__(
        self,
        target: str,
        remote_type: str,
        remote_message: str,
        remote_traceback: str,
        where: str,
    ) -> None:
        self.target = target
        self.remote_type = remote_type
        self.remote_message = remote_message
        self.remote_traceback = remote_traceback
        self.where = where
        super().__init__(target, remote_type, remote_message, remote_traceback, where)

    def __str__(self) -> str:
        return f"{self.target} raised {self.remote_type}: {self.remote_message} ({self.where})"


class WorkerCrashed(SlitherError):
    """The worker process running a call died, or was killed, before it answered.

    ``target`` is what the call ran (None when the worker died between calls) and
    ``reason`` what happened, e.g. ``was killed by signal SIGKILL``.
    """

    def __init__(self, target: str | None, reason: str, where: str) -> None:
        self.target = target
        self.reason = reason
        self.where = where
        super().__init__(target, reason, where)

    def __str__(self) -> str:
        running = f"worker running {self.target}" if self.target else "worker"
        return f"{running} {self.reason} ({self.where})"


class WorkerStartFailed(SlitherError):
    """A worker process could not start: its preload failed, it exited, or it never said
    hello within the start-up timeout. ``details`` holds the remote traceback or the last
    lines it wrote to stderr."""

    def __init__(self, where: str, reason: str, details: str = "") -> None:
        self.where = where
        self.reason = reason
        self.details = details
        super().__init__(where, reason, details)

    def __str__(self) -> str:
        text = f"worker failed to start ({self.where}): {self.reason}"
        return f"{text}\n{self.details.rstrip()}" if self.details else text


class PoolSaturated(SlitherError):
    """A pool's queue of waiting calls is full; the call was refused at once."""

    def __init__(self, pool: str, queue_limit: int) -> None:
        self.pool = pool
        self.queue_limit = queue_limit
        super().__init__(pool, queue_limit)

    def __str__(self) -> str:
        return (
            f"pool {self.pool!r} is saturated: {self.queue_limit} calls already wait for a "
            f"worker"
        )


class SessionLost(SlitherError):
    """The worker a strict session was bound to has gone, and its state with it."""

    def __init__(self, pool: str, session_id: str, where: str) -> None:
        self.pool = pool
        self.session_id = session_id
        self.where = where
        super().__init__(pool, session_id, where)

    def __str__(self) -> str:
        return (
            f"session {self.session_id!r} of pool {self.pool!r} lost its worker "
            f"({self.where}); the state it kept there is gone"
        )


class TooManySessions(SlitherError):
    """A strict pool already keeps ``max_sessions`` bindings and forgets none of them (that
    would move a session's calls away from its state without a word)."""

    def __init__(self, pool: str, session_id: str, max_sessions: int) -> None:
        self.pool = pool
        self.session_id = session_id
        self.max_sessions = max_sessions
        super().__init__(pool, session_id, max_sessions)

    def __str__(self) -> str:
        return (
            f"pool {self.pool!r} cannot bind session {self.session_id!r}: it keeps "
            f"{self.max_sessions} strict sessions already; end finished ones with "
            f"pool.end_session(session_id) or raise max_sessions"
        )


class PoolClosed(SlitherError):
    """The pool is stopping or has stopped; it takes no more calls."""

    def __init__(self, pool: str) -> None:
        self.pool = pool
        super().__init__(pool)

    def __str__(self) -> str:
        return f"pool {self.pool!r} is closed"


# --- in a worker process ------------------------------------------------------------------------


class ViewError(SlitherError):
    """A store view called from a worker failed; ``view`` names it and ``type_name`` is the
    type of the error the parent met (e.g. ``"LookupError"`` for an unknown view). Raised in
    the worker, by ``slither_actors.worker.call_view``."""

    def __init__(self, view: str, type_name: str, message: str) -> None:
        self.view = view
        self.type_name = type_name
        self.message = message
        super().__init__(view, type_name, message)

    def __str__(self) -> str:
        return f"view {self.view!r} failed: {self.type_name}: {self.message}"


class ResultError(_MessageError):
    """A worker function returned something other than a list of one result per payload
    (raised in the worker; the parent sees it as a `WorkerError` whose ``remote_type`` is
    ``"ResultError"``)."""


class ParentGone(_MessageError):
    """A worker's pipe from the parent reached end-of-file: the parent has gone (raised in
    the worker, which then exits)."""


# --- dispatch -----------------------------------------------------------------------------------


class BatchLengthError(SlitherError):
    """An executor returned a different number of results than the batch had items."""

    def __init__(self, executor: str, batch_ref: int, expected: int, got: int | str) -> None:
        self.executor = executor
        self.batch_ref = batch_ref
        self.expected = expected
        self.got = got
        super().__init__(executor, batch_ref, expected, got)

    def __str__(self) -> str:
        got = self.got
        what = f"{got} results" if isinstance(got, int) else f"a {got}, not a list of results,"
        batch = f"batch {self.batch_ref} of {self.expected} items"
        return f"{self.executor} returned {what} for {batch}"


class DispatchError(SlitherError):
    """A dispatch halted: ``reason`` is the failure, ``batch_ref`` the batch it hit, and
    ``partial_results`` the completed items not yet handed over, in batch order (for
    `dispatch`, every completed item). The reason is chained."""

    def __init__(
        self,
        reason: BaseException,
        batch_ref: int,
        partial_results: Sequence[Any],
    ) -> None:
        self.reason = reason
        self.batch_ref = batch_ref
        self.partial_results = partial_results
        super().__init__(reason, batch_ref, partial_results)

    def __str__(self) -> str:
        return (
            f"dispatch halted at batch {self.batch_ref}: {_describe_reason(self.reason)} "
            f"({len(self.partial_results)} completed items in partial_results)"
        )


# --- pipes --------------------------------------------------------------------------------------


class PipeDefinitionError(SlitherError, ValueError):
    """A pipe's declaration is wrong; raised when its class is defined."""

    def __init__(self, pipe: str, stage: str | None, problem: str) -> None:
        self.pipe = pipe
        self.stage = stage
        self.problem = problem
        super().__init__(pipe, stage, problem)

    def __str__(self) -> str:
        stage = f", stage {self.stage!r}" if self.stage is not None else ""
        return f"pipe {self.pipe!r}{stage}: {self.problem}"


class ItemFailed(SlitherError):
    """A stage handler failed an item on purpose, by returning ``FailItem(reason)``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __str__(self) -> str:
        return self.reason


class PipeError(SlitherError):
    """A pipe run halted: at ``stage``, on the item ``item_id``, for ``reason`` (chained).

    ``partial`` is the run's result so far: what had reached the outputs, and the error
    records of the items that had failed before.
    """

    def __init__(
        self,
        pipe: str,
        stage: str,
        item_id: int | None,
        reason: BaseException,
        partial: Any,
    ) -> None:
        self.pipe = pipe
        self.stage = stage
        self.item_id = item_id
        self.reason = reason
        self.partial = partial
        super().__init__(pipe, stage, item_id, reason, partial)

    def __str__(self) -> str:
        item = f", item {self.item_id}" if self.item_id is not None else ""
        return (
            f"pipe {self.pipe!r} halted at stage {self.stage!r}{item}: "
            f"{_describe_reason(self.reason)}"
        )


# --- stores and views -------------------------------------------------------------------------


class StoreLoadFailed(SlitherError):
    """A store's ``load`` raised, at start (the store does not start) or on reload (the old
    tables stay). The cause is chained."""

    def __init__(self, store: str, cause: BaseException) -> None:
        self.store = store
        self.cause = cause
        super().__init__(store, cause)

    def __str__(self) -> str:
        return f"store {self.store!r} failed to load: {type(self.cause).__name__}: {self.cause}"


class UnknownStore(SlitherError, LookupError):
    """No store of that name runs in this runtime."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(name, known)

    def __str__(self) -> str:
        return f"no store named {self.name!r} (running: {', '.join(self.known) or 'none'})"


class UnknownTable(SlitherError, KeyError):
    """The store has no table of that name."""

    def __init__(self, store: str, table: str, known: list[str]) -> None:
        self.store = store
        self.table = table
        self.known = known
        super().__init__(store, table, known)

    def __str__(self) -> str:
        tables = ", ".join(self.known)
        return f"store {self.store!r} has no table {self.table!r} (tables: {tables})"


class ViewNotFound(SlitherError, LookupError):
    """No view of that name is reachable from the calling session."""

    def __init__(self, view: str, session_id: str | None) -> None:
        self.view = view
        self.session_id = session_id
        super().__init__(view, session_id)

    def __str__(self) -> str:
        return f"no view named {self.view!r} for session {self.session_id!r}"


class ViewRefused(SlitherError, PermissionError):
    """The view belongs to another session: a worker must not read another run's data."""

    def __init__(self, view: str, session_id: str | None) -> None:
        self.view = view
        self.session_id = session_id
        # Not OSError's __init__, which would read the first arguments as errno and strerror.
        BaseException.__init__(self, view, session_id)

    def __str__(self) -> str:
        return (
            f"view {self.view!r} belongs to another session; session {self.session_id!r} "
            f"may not use it"
        )


class ViewTimeout(SlitherError, TimeoutError):
    """A view's handler ran past the view's timeout."""

    def __init__(self, view: str, timeout: float) -> None:
        self.view = view
        self.timeout = timeout
        # Not OSError's __init__, which would read the first arguments as errno and strerror.
        BaseException.__init__(self, view, timeout)

    def __str__(self) -> str:
        return f"view {self.view!r} took longer than {self.timeout:g}s"


# --- registry -----------------------------------------------------------------------------------


class NameTaken(SlitherError, ValueError):
    """The name is already registered to a live actor."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        super().__init__(name, holder)

    def __str__(self) -> str:
        return f"name {self.name!r} is already registered to {self.holder}"


class NameNotFound(SlitherError, LookupError):
    """No live actor is registered under the name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"no live actor is registered as {self.name!r}"


class NoRuntime(_MessageError, RuntimeError):
    """Something needs the current runtime (e.g. its registry) but none is open."""


class NotInTrio(SlitherError, RuntimeError):
    """A call of this library was made outside a Trio run: from asyncio (``library`` is
    then ``"asyncio"``), another event loop, or none (``library`` None). The library runs
    on Trio only; the message says how to get there."""

    def __init__(self, call: str, library: str | None) -> None:
        self.call = call
        self.library = library
        super().__init__(call, library)

    def __str__(self) -> str:
        where = f"from {self.library}" if self.library else "outside any event loop"
        text = (
            f"{self.call} needs a Trio event loop, but it was called {where}. Run your "
            "program with trio.run(main)"
        )
        if self.library == "asyncio":
            text += (
                ", or, to stay in an asyncio program, call it through trio-asyncio "
                "(trio_asyncio.trio_as_aio)"
            )
        return text + "."


# --- telemetry and configuration ----------------------------------------------------------------


class HandlerAlreadyAttached(SlitherError, ValueError):
    """A telemetry handler with this id is already attached."""

    def __init__(self, handler_id: str) -> None:
        self.handler_id = handler_id
        super().__init__(handler_id)

    def __str__(self) -> str:
        return f"a telemetry handler with id {self.handler_id!r} is already attached"


class ConfigError(SlitherError, ValueError):
    """Settings could not be built; ``problems`` lists each wrong key with what is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(source, problems)

    def __str__(self) -> str:
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        return f"invalid settings in {self.source}:\n{lines}"


def _describe_reason(reason: Any) -> str:
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason)
