"""Exit reasons: why an actor or a supervised child stopped."""

from __future__ import annotations

import enum
from typing import Any, TypeAlias

import trio

__all__ = ["ExitReason", "Reason", "check_reason", "is_abnormal", "reason_from_exception"]


class ExitReason(enum.StrEnum):
    """The exit reasons that are not exceptions.

    ``NORMAL``: the actor stopped itself or was asked to stop. ``SHUTDOWN``: its supervisor
    (or the runtime) shut it down. ``KILLED``: it was cancelled before it could stop on its
    own. Any other exit is the exception the actor crashed with.
    """

    NORMAL = "normal"
    SHUTDOWN = "shutdown"
    KILLED = "killed"


Reason: TypeAlias = ExitReason | BaseException


def check_reason(reason: Any) -> Reason:
    """``reason`` as an exit reason: an exception, an `ExitReason`, or the value of one
    (``"normal"``); else `ValueError`, as a stop with any other reason would read as a
    normal exit to the supervisor."""
    if isinstance(reason, BaseException | ExitReason):
        return reason
    try:
        return ExitReason(reason)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in ExitReason)
        raise ValueError(
            f"reason must be an exception or an ExitReason ({choices}), not {reason!r:.60}"
        ) from None


def is_abnormal(reason: Reason) -> bool:
    """True for a crash (an exception); a ``transient`` child is restarted only then."""
    return isinstance(reason, BaseException)


def reason_from_exception(exc: BaseException) -> Reason:
    """The exit reason an exception stands for.

    Cancellation is ``KILLED``. A group whose only non-cancellation member is one exception
    stands for that exception, so a crash inside an actor's own nursery reads as the crash.
    """
    if isinstance(exc, trio.Cancelled):
        return ExitReason.KILLED
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(trio.Cancelled)
        if rest is None:
            return ExitReason.KILLED
        leaves = list(_leaves(rest))
        if len(leaves) == 1:
            return leaves[0]
    return exc


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for member in exc.exceptions for leaf in _leaves(member)]
    return [exc]
