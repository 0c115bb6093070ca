"""Every exception slither_actors raises, under one base class, `SlitherError`.

This module imports nothing from the rest of the package, so every layer may use it.
Each message names what failed and where, so a user can act on it without a debugger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SlitherError(Exception):
    """Base class of every error raised by slither_actors."""


# --- actors -------------------------------------------------------------------------------------


class ActorExited(SlitherError):
    """The actor a call, cast or send was addressed to has exited (or exited meanwhile).

    ``reason`` is the actor's exit reason: ``"normal"``, ``"shutdown"``, ``"killed"`` or
    the exception it crashed with.
    """

    def __init__(self, actor: str, reason: Any) -> None:
        self.actor = actor
        self.reason = reason
        super().__init__(f"{actor} exited ({_describe_reason(reason)})")


class CallTimeout(SlitherError, TimeoutError):
    """A call got no reply within its timeout. A reply that arrives later is dropped.

    ``actor`` names what was called (an actor, or a pool's worker); ``message`` is what was
    sent (for a worker call, its target).
    """

    def __init__(self, actor: str, message: Any, timeout: float, text: str | None = None) -> None:
        self.actor = actor
        self.message = message
        self.timeout = timeout
        super().__init__(
            text
            or f"call to {actor} got no reply within {timeout:g}s "
            f"(message {type(message).__name__})"
        )


class MailboxFull(SlitherError):
    """A non-blocking cast or send found the actor's bounded mailbox full."""

    def __init__(self, actor: str, size: int) -> None:
        self.actor = actor
        self.size = size
        super().__init__(f"mailbox of {actor} is full ({size} messages)")


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
        super().__init__(
            f"supervisor {supervisor!r} gave up: more than {max_restarts} restarts in "
            f"{max_seconds:g}s; last exit was child {child!r} ({_describe_reason(last_error)})"
        )


class ChildStartFailed(SlitherError):
    """A supervisor could not start one of its children; the cause is chained."""

    def __init__(self, supervisor: str, child: str, cause: BaseException) -> None:
        self.supervisor = supervisor
        self.child = child
        self.cause = cause
        super().__init__(
            f"supervisor {supervisor!r} could not start child {child!r}: "
            f"{type(cause).__name__}: {cause}"
        )


class UnknownChild(SlitherError, LookupError):
    """No child with this id is known to the supervisor."""

    def __init__(self, supervisor: str, child: str) -> None:
        self.supervisor = supervisor
        self.child = child
        super().__init__(f"supervisor {supervisor!r} has no child {child!r}")


class DuplicateChild(SlitherError, ValueError):
    """A child with this id already exists under the supervisor."""

    def __init__(self, supervisor: str, child: str) -> None:
        self.supervisor = supervisor
        self.child = child
        super().__init__(f"supervisor {supervisor!r} already has a child {child!r}")


class MaxChildrenReached(SlitherError):
    """A dynamic supervisor already runs ``max_children`` children."""

    def __init__(self, supervisor: str, max_children: int) -> None:
        self.supervisor = supervisor
        self.max_children = max_children
        super().__init__(
            f"dynamic supervisor {supervisor!r} already has its maximum of {max_children} children"
        )


# --- worker processes and pools -----------------------------------------------------------------


class ProtocolError(SlitherError):
    """Bytes from a worker (or the parent) that are not a valid frame or message."""


class PayloadError(SlitherError, ValueError):
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
        super().__init__(f"{target} raised {remote_type}: {remote_message} ({where})")


class WorkerCrashed(SlitherError):
    """The worker process running a call died, or was killed, before it answered.

    ``target`` is what the call ran (None when the worker died between calls) and
    ``reason`` what happened, e.g. ``was killed by signal SIGKILL``.
    """

    def __init__(self, target: str | None, reason: str, where: str) -> None:
        self.target = target
        self.reason = reason
        self.where = where
        running = f"worker running {target}" if target else "worker"
        super().__init__(f"{running} {reason} ({where})")


class WorkerStartFailed(SlitherError):
    """A worker process could not start: its preload failed, it exited, or it never said
    hello within the start-up timeout. ``details`` holds the remote traceback or the last
    lines it wrote to stderr."""

    def __init__(self, where: str, reason: str, details: str = "") -> None:
        self.where = where
        self.reason = reason
        self.details = details
        text = f"worker failed to start ({where}): {reason}"
        super().__init__(f"{text}\n{details.rstrip()}" if details else text)


class PoolSaturated(SlitherError):
    """A pool's queue of waiting calls is full; the call was refused at once."""

    def __init__(self, pool: str, queue_limit: int) -> None:
        self.pool = pool
        self.queue_limit = queue_limit
        super().__init__(
            f"pool {pool!r} is saturated: {queue_limit} calls already wait for a worker"
        )


class SessionLost(SlitherError):
    """The worker a strict session was bound to has gone, and its state with it."""

    def __init__(self, pool: str, session_id: str, where: str) -> None:
        self.pool = pool
        self.session_id = session_id
        self.where = where
        super().__init__(
            f"session {session_id!r} of pool {pool!r} lost its worker ({where}); "
            f"the state it kept there is gone"
        )


class TooManySessions(SlitherError):
    """A strict pool already keeps ``max_sessions`` bindings and forgets none of them (that
    would move a session's calls away from its state without a word)."""

    def __init__(self, pool: str, session_id: str, max_sessions: int) -> None:
        self.pool = pool
        self.session_id = session_id
        self.max_sessions = max_sessions
        super().__init__(
            f"pool {pool!r} cannot bind session {session_id!r}: it keeps {max_sessions} "
            f"strict sessions already; end finished ones with pool.end_session(session_id) "
            f"or raise max_sessions"
        )


class PoolClosed(SlitherError):
    """The pool is stopping or has stopped; it takes no more calls."""

    def __init__(self, pool: str) -> None:
        self.pool = pool
        super().__init__(f"pool {pool!r} is closed")


# --- dispatch -----------------------------------------------------------------------------------


class BatchLengthError(SlitherError):
    """An executor returned a different number of results than the batch had items."""

    def __init__(self, executor: str, batch_ref: int, expected: int, got: int | str) -> None:
        self.executor = executor
        self.batch_ref = batch_ref
        self.expected = expected
        self.got = got
        what = f"{got} results" if isinstance(got, int) else f"a {got}, not a list of results,"
        super().__init__(f"{executor} returned {what} for batch {batch_ref} of {expected} items")


class DispatchError(SlitherError):
    """A dispatch halted: ``reason`` is the failure, ``batch_ref`` the batch it hit, and
    ``partial_results`` the completed items not yet handed over, in batch order (for
    `dispatch`, every completed item). The reason is chained."""

    def __init__(
        self, reason: BaseException, batch_ref: int, partial_results: Sequence[Any]
    ) -> None:
        self.reason = reason
        self.batch_ref = batch_ref
        self.partial_results = partial_results
        super().__init__(
            f"dispatch halted at batch {batch_ref}: {_describe_reason(reason)} "
            f"({len(partial_results)} completed items in partial_results)"
        )


# --- pipes --------------------------------------------------------------------------------------


class PipeDefinitionError(SlitherError, ValueError):
    """A pipe's declaration is wrong; raised when its class is defined."""

    def __init__(self, pipe: str, stage: str | None, problem: str) -> None:
        self.pipe = pipe
        self.stage = stage
        self.problem = problem
        where = f"pipe {pipe!r}" + (f", stage {stage!r}" if stage is not None else "")
        super().__init__(f"{where}: {problem}")


class ItemFailed(SlitherError):
    """A stage handler failed an item on purpose, by returning ``FailItem(reason)``."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class PipeError(SlitherError):
    """A pipe run halted: at ``stage``, on the item ``item_id``, for ``reason`` (chained).

    ``partial`` is the run's result so far: what had reached the outputs, and the error
    records of the items that had failed before.
    """

    def __init__(
        self, pipe: str, stage: str, item_id: int | None, reason: BaseException, partial: Any
    ) -> None:
        self.pipe = pipe
        self.stage = stage
        self.item_id = item_id
        self.reason = reason
        self.partial = partial
        item = f", item {item_id}" if item_id is not None else ""
        super().__init__(
            f"pipe {pipe!r} halted at stage {stage!r}{item}: {_describe_reason(reason)}"
        )


# --- stores and views -------------------------------------------------------------------------


class StoreLoadFailed(SlitherError):
    """A store's ``load`` raised, at start (the store does not start) or on reload (the old
    tables stay). The cause is chained."""

    def __init__(self, store: str, cause: BaseException) -> None:
        self.store = store
        self.cause = cause
        super().__init__(f"store {store!r} failed to load: {type(cause).__name__}: {cause}")


class UnknownStore(SlitherError, LookupError):
    """No store of that name runs in this runtime."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"no store named {name!r} (running: {', '.join(known) or 'none'})")


class UnknownTable(SlitherError, KeyError):
    """The store has no table of that name."""

    def __init__(self, store: str, table: str, known: list[str]) -> None:
        self.store = store
        self.table = table
        super().__init__(f"store {store!r} has no table {table!r} (tables: {', '.join(known)})")

    def __str__(self) -> str:
        return str(self.args[0])


class ViewNotFound(SlitherError, LookupError):
    """No view of that name is reachable from the calling session."""

    def __init__(self, view: str, session_id: str | None) -> None:
        self.view = view
        self.session_id = session_id
        super().__init__(f"no view named {view!r} for session {session_id!r}")


class ViewRefused(SlitherError, PermissionError):
    """The view belongs to another session: a worker must not read another run's data."""

    def __init__(self, view: str, session_id: str | None) -> None:
        self.view = view
        self.session_id = session_id
        super().__init__(
            f"view {view!r} belongs to another session; session {session_id!r} may not use it"
        )


class ViewTimeout(SlitherError, TimeoutError):
    """A view's handler ran past the view's timeout."""

    def __init__(self, view: str, timeout: float) -> None:
        self.view = view
        self.timeout = timeout
        super().__init__(f"view {view!r} took longer than {timeout:g}s")


# --- registry -----------------------------------------------------------------------------------


class NameTaken(SlitherError, ValueError):
    """The name is already registered to a live actor."""

    def __init__(self, name: str, holder: str) -> None:
        self.name = name
        self.holder = holder
        super().__init__(f"name {name!r} is already registered to {holder}")


class NameNotFound(SlitherError, LookupError):
    """No live actor is registered under the name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"no live actor is registered as {name!r}")


class NoRuntime(SlitherError, RuntimeError):
    """Something needs the current runtime (e.g. its registry) but none is open."""


# --- telemetry and configuration ----------------------------------------------------------------


class HandlerAlreadyAttached(SlitherError, ValueError):
    """A telemetry handler with this id is already attached."""

    def __init__(self, handler_id: str) -> None:
        self.handler_id = handler_id
        super().__init__(f"a telemetry handler with id {handler_id!r} is already attached")


class ConfigError(SlitherError, ValueError):
    """Settings could not be built; ``problems`` lists each wrong key with what is wrong."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid settings in {source}:\n{lines}")


def _describe_reason(reason: Any) -> str:
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason)
