"""Error policies: what a failed batch becomes. Halt, skip, route, or retry first."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import attrs

from slither_actors._checks import check_callable, check_count, check_instance, validator
from slither_actors._core import Backoff
from slither_actors.config import OnError
from slither_actors.item import Item

__all__ = [
    "ErrorPolicy",
    "Halt",
    "PolicySpec",
    "Recover",
    "Retry",
    "Route",
    "Skip",
    "as_policy",
    "describe",
]


@attrs.frozen
class Halt:
    """Stop the run at the first failure: `DispatchError`, with what had completed."""


@attrs.frozen
class Skip:
    """Give the failed batch's items back unchanged, marked ``meta["skipped"] = True`` and
    ``meta["error"]`` (a description of the failure)."""


@attrs.frozen
class Recover:
    """Replace each failed item with ``function(item, error)``: the item on a dead-letter
    route, marked, or with a fallback payload. Raises `ValueError` if ``function`` is not
    callable."""

    function: Callable[[Item, BaseException], Item] = attrs.field(
        validator=validator(check_callable)
    )


@attrs.frozen
class Route(Recover):
    """Deprecated: the old name of `Recover` (renamed so that "route" means one thing, an
    item's destination, as in `RouteTo` and `RouterStage`). Works as `Recover`, with a
    `DeprecationWarning`."""

    def __attrs_post_init__(self) -> None:
        warnings.warn(
            "sa.Route is now sa.Recover (same arguments); the old name will be removed",
            DeprecationWarning,
            stacklevel=3,
        )


def _retry_on_everything(error: BaseException) -> bool:
    return True


def _as_final(value: Any) -> Halt | Skip:
    if isinstance(value, Halt | Skip):
        return value
    if value in ("halt", "skip", OnError.HALT, OnError.SKIP):
        return as_policy(value)  # type: ignore[return-value]
    raise ValueError(f"then must be 'halt' or 'skip' (where a retry ends), not {value!r}")


def _as_retry_on(value: Any) -> Any:
    """Exception types as a tuple (one type alone too: it is callable, but no predicate)."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return (value,)
    if isinstance(value, tuple) and not isinstance(value, Item):
        for kind in value:
            if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                raise ValueError(f"retry_on must be exception types or a predicate, not {value!r}")
        return value
    return check_callable("retry_on", value)


_RETRY_BACKOFF = Backoff(initial=0.05, factor=2.0, maximum=2.0)


@attrs.frozen
class Retry:
    """Run a failed batch again, up to ``max_attempts`` in all, waiting ``backoff`` between.

    With ``isolate`` a failing batch of several items is split in halves, and each half is
    tried on its own, down to single items: one poison item then costs only itself, not
    its whole batch. ``retry_on`` (an exception type, a tuple of them, or a predicate)
    picks the failures worth another try; the others, and whatever still fails after its
    attempts, go to ``then`` (``"halt"`` or ``"skip"``).

    Raises `ValueError` unless ``max_attempts`` is an int of 1 or more, ``backoff`` a
    `Backoff`, ``retry_on`` as above and ``then`` ``"halt"`` or ``"skip"``.
    """

    max_attempts: int = attrs.field(default=3, validator=validator(check_count))
    backoff: Backoff = attrs.field(
        default=_RETRY_BACKOFF, validator=validator(check_instance, Backoff)
    )
    retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = attrs.field(
        default=(Exception,), converter=_as_retry_on
    )
    isolate: bool = False
    then: Halt | Skip = attrs.field(default=Halt(), converter=_as_final)

    def retries(self, error: BaseException) -> bool:
        """Whether ``error`` deserves another attempt."""
        if isinstance(self.retry_on, tuple):
            return isinstance(error, self.retry_on)
        return bool(self.retry_on(error))


ErrorPolicy = Halt | Skip | Recover | Retry
# What an ``on_error`` argument takes: a policy, or the name of one that has no options.
PolicySpec = Halt | Skip | Recover | Retry | OnError | Literal["halt", "skip"]


def as_policy(value: Any) -> ErrorPolicy:
    """A policy from a policy, an `OnError`, or the strings ``"halt"`` and ``"skip"``."""
    if isinstance(value, Halt | Skip | Recover | Retry):
        return value
    if isinstance(value, OnError):
        value = value.value
    if value == "halt":
        return Halt()
    if value == "skip":
        return Skip()
    raise ValueError(f"on_error is 'halt', 'skip', Recover(...) or Retry(...), not {value!r}")


def describe(error: BaseException) -> str:
    """``Type: message``, as failed items carry it in ``meta["error"]``."""
    return f"{type(error).__name__}: {error}"
