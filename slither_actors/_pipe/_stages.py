"""Stage specs: what a pipe's stages are (local, worker, router), and what a local handler
may return besides a new payload."""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs

from slither_actors._checks import check_callable, check_count, check_seconds, check_text, validator
from slither_actors._dispatch import BatchStrategy, FixedBatch
from slither_actors._dispatch._strategies import check_strategy
from slither_actors.item import Item

__all__ = [
    "Cardinality",
    "FailItem",
    "LocalStage",
    "RouteTo",
    "RouterStage",
    "SkipItem",
    "Stage",
    "Takes",
    "WorkerStage",
]


class Cardinality(enum.Enum):
    """How many items a local handler's return value becomes."""

    ONE = "one"
    MANY = "many"  # a list: one child item per element, each with ``meta["parent_id"]``


_count = validator(check_count)
_optional_count = attrs.validators.optional(_count)
_optional_text = validator(check_text, optional=True)
_optional_callable = validator(check_callable, optional=True)


def _name(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value or value == "*":
        raise ValueError(f"a stage name is a non-empty string other than '*', not {value!r}")


# What a stage's handlers (or a router's predicates) are given: the `Item` (and, for a
# local stage, the `Context`), or the payload alone.
Takes = Literal["item", "payload"]


def _takes(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not str or value not in ("item", "payload"):
        raise ValueError(f"{attribute.name} must be 'item' or 'payload', not {value!r:.60}")


@attrs.frozen
class LocalStage:
    """A stage run in the parent: ``handler(item, ctx)``, sync or async, for each item;
    with ``takes="payload"``, ``handler(payload)``.

    The handler returns the item's new payload, an `Item` (its route is honoured), or one
    of `SkipItem`, `FailItem`, `RouteTo`; with ``cardinality="many"``, a list, each element
    of which becomes an item of its own. ``concurrency`` items are handled at once (their
    order is then not kept); ``in_thread`` runs a sync handler in a thread. Instead of
    ``handler``, a ``batch_handler(items, ctx)`` (with ``takes="payload"``,
    ``batch_handler(payloads)``) takes up to ``batch_size`` items that are waiting and
    returns one such value per item. ``buffer`` bounds the stage's inbox.

    Raises `ValueError` as it is made for a handler that is not callable, a
    ``concurrency`` or ``batch_size`` that is not an int of 1 or more, a ``buffer`` that
    is not None or such an int, or a ``takes`` other than ``"item"`` or ``"payload"``.
    """

    name: str = attrs.field(validator=_name)
    handler: Callable[..., Any] | None = attrs.field(default=None, validator=_optional_callable)
    concurrency: int = attrs.field(default=1, validator=_count)
    in_thread: bool = False
    cardinality: Cardinality = attrs.field(default=Cardinality.ONE, converter=Cardinality)
    batch_handler: Callable[..., Any] | None = attrs.field(
        default=None, validator=_optional_callable
    )
    batch_size: int = attrs.field(default=64, validator=_count)
    buffer: int | None = attrs.field(default=None, validator=_optional_count)
    takes: Takes = attrs.field(default="item", validator=_takes)

    def problems(self) -> list[str]:
        """What is wrong with this stage on its own (empty when nothing is)."""
        if (self.handler is None) == (self.batch_handler is None):
            return ["a local stage takes a handler or a batch_handler (one of them)"]
        if self.in_thread and inspect.iscoroutinefunction(self.handler or self.batch_handler):
            return ["in_thread runs a sync handler in a thread; this handler is async"]
        return []


@attrs.frozen
class WorkerStage:
    """A stage run in worker processes: items are batched, then dispatched.

    The target is ``module`` and ``function`` (``module.function(payloads)``) or ``tool``.
    Batches are cut by ``strategy`` (default ``FixedBatch(batch_size)``, the batch size
    from the runtime's dispatch settings unless given); a partial batch leaves
    ``linger`` seconds after its first item came, full or not. At most
    ``max_in_flight`` batches are out. ``timeout`` bounds each batch's call (None: the
    pool's ``call_timeout``).

    Raises `ValueError` as it is made, before any batch reaches a pool, for a target or
    ``pool`` that is not a non-empty str, a ``strategy`` that is not one, a
    ``linger`` that is not a number of seconds, 0 or more, a ``timeout`` that is not None
    or a number of seconds above 0 (NaN, 0, negative, a bool), or a ``batch_size``,
    ``max_in_flight`` or ``buffer`` that is not None or an int of 1 or more.
    """

    name: str = attrs.field(validator=_name)
    module: str | None = attrs.field(default=None, validator=_optional_text)
    function: str | None = attrs.field(default=None, validator=_optional_text)
    tool: str | None = attrs.field(default=None, validator=_optional_text)
    pool: str = attrs.field(default="default", validator=validator(check_text))
    strategy: BatchStrategy | None = attrs.field(
        default=None, validator=attrs.validators.optional(validator(check_strategy))
    )
    batch_size: int | None = attrs.field(default=None, validator=_optional_count)
    linger: float = attrs.field(default=0.05, validator=validator(check_seconds, zero=True))
    max_in_flight: int | None = attrs.field(default=None, validator=_optional_count)
    preserve_order: bool = True
    timeout: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(validator(check_seconds))
    )
    buffer: int | None = attrs.field(default=None, validator=_optional_count)

    def problems(self) -> list[str]:
        """What is wrong with this stage on its own (empty when nothing is)."""
        has_function = self.module is not None or self.function is not None
        if self.tool is not None and has_function:
            return ["a worker stage runs module and function, or a tool, not both"]
        if self.tool is None and (self.module is None or self.function is None):
            return ["a worker stage needs a target: module= and function=, or tool="]
        if self.strategy is not None and self.batch_size is not None:
            return ["a worker stage takes a strategy or a batch_size, not both"]
        return []

    def batching(self, default_size: int) -> BatchStrategy:
        """The strategy batches are cut with."""
        if self.strategy is not None:
            return self.strategy
        return FixedBatch(self.batch_size if self.batch_size is not None else default_size)


def _routes(value: Any) -> tuple[tuple[Callable[[Any], Any], str], ...]:
    try:
        routes = tuple(tuple(route) for route in value)
    except TypeError:
        raise ValueError(
            f"routes must be a list of (predicate, destination name) pairs, not {value!r:.60}"
        ) from None
    for route in routes:
        if len(route) != 2 or not callable(route[0]) or not isinstance(route[1], str):
            raise ValueError(f"a route is (predicate, destination name), not {route!r}")
    return routes


@attrs.frozen
class RouterStage:
    """Sends each item to the destination of the first predicate ``predicate(item)`` (with
    ``takes="payload"``, ``predicate(payload)``) that holds, else to the ``default``
    output. A destination is an output (the item leaves the pipe) or a later stage.

    Raises `ValueError` as it is made for ``routes`` that are not ``(predicate,
    destination name)`` pairs, a ``buffer`` that is not None or an int of 1 or more, or a
    ``takes`` other than ``"item"`` or ``"payload"``.
    """

    name: str = attrs.field(validator=_name)
    routes: tuple[tuple[Callable[[Any], Any], str], ...] = attrs.field(converter=_routes)
    buffer: int | None = attrs.field(default=None, validator=_optional_count)
    takes: Takes = attrs.field(default="item", validator=_takes)

    def problems(self) -> list[str]:
        """What is wrong with this stage on its own (empty when nothing is)."""
        return []

    @property
    def destinations(self) -> list[str]:
        """Every destination a route names."""
        return [destination for _, destination in self.routes]


Stage = LocalStage | WorkerStage | RouterStage


# --- what a local handler may return --------------------------------------------------------


@attrs.frozen
class SkipItem:
    """Drop this item: it ends in the run's records as skipped, with ``reason``."""

    reason: str = ""


@attrs.frozen
class FailItem:
    """This item failed: the stage's error policy decides what becomes of it."""

    reason: BaseException | str


_KEEP: Any = object()


@attrs.frozen
class RouteTo:
    """Send this item to ``destination`` (an output or a later stage), with ``payload``
    as its new payload if given. Raises `ValueError` if ``destination`` is not a
    non-empty str (in a handler: the item fails, under the stage's policy)."""

    destination: str = attrs.field(validator=validator(check_text))
    payload: Any = _KEEP

    def applied_to(self, item: Item) -> Item:
        """``item`` on its way to the destination."""
        moved = item if self.payload is _KEEP else item.update_payload(self.payload)
        return moved.with_route(self.destination)


def stage_names(stages: Sequence[Stage]) -> list[str]:
    """The names of ``stages``, in order."""
    return [stage.name for stage in stages]
