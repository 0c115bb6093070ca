"""Telemetry: named events with measurements and metadata, delivered to attached handlers.

Modelled on Erlang's ``:telemetry``. An event name is a tuple of strings such as
``("slither", "dispatch", "batch", "stop")``. Handlers are plain functions called
synchronously, in the emitting task, in the order they were attached::

    def on_batch(event, measurements, metadata, config):
        print(event, measurements["duration"])

    telemetry.attach("my-handler", [("slither", "dispatch", "batch", "stop")], on_batch)

A handler that raises is detached and the error is logged; the code that emitted the event
never sees the exception. When nothing is attached to an event, emitting it costs one dict
lookup. Times are in seconds: ``monotonic_time`` from ``time.monotonic()``, ``duration`` as
the difference of two of those, and ``system_time`` from ``time.time()``.

This module imports nothing from the rest of the package but its errors and argument
checks, so every layer may emit events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import attrs
import trio

from slither_actors._checks import check_callable, check_text
from slither_actors.errors import HandlerAlreadyAttached

__all__ = [
    "Event",
    "EventName",
    "Handler",
    "Span",
    "attach",
    "capture",
    "detach",
    "execute",
    "is_observed",
    "list_handlers",
    "span",
]

EventName = tuple[str, ...]
Handler = Callable[[EventName, Mapping[str, Any], Mapping[str, Any], Any], None]

_log = logging.getLogger("slither_actors.telemetry")


@attrs.frozen
class _Attachment:
    handler_id: str
    events: tuple[EventName, ...]
    function: Handler
    config: Any


# Both tables are replaced, never mutated in place, so an emit that is iterating a tuple of
# attachments is unaffected by a handler detaching itself (or another) meanwhile.
_by_id: dict[str, _Attachment] = {}
_by_event: dict[EventName, tuple[_Attachment, ...]] = {}
_observed: dict[EventName, bool] = {}  # span prefix -> has a handler; cleared on changes


def _check_event_name(event: Any) -> EventName:
    if isinstance(event, str) or not isinstance(event, tuple) or not event:
        raise TypeError(
            f"an event name is a non-empty tuple of strings such as "
            f"('slither', 'store', 'write'), not {event!r}"
        )
    if not all(isinstance(part, str) for part in event):
        raise TypeError(f"every part of an event name must be a string: {event!r}")
    return event


def attach(
    handler_id: str,
    events: Iterable[EventName],
    function: Handler,
    config: Any = None,
) -> None:
    """Attach ``function`` to each event in ``events`` under the unique ``handler_id``.

    ``function(event, measurements, metadata, config)`` is called for every emitted event
    it is attached to. Raises `HandlerAlreadyAttached` if ``handler_id`` is in use,
    `TypeError` if an event name is not a non-empty tuple of strings (one event name
    given for ``events`` included), and `ValueError` if ``handler_id`` is not a non-empty
    str or ``function`` is not callable (it would only fail, and be detached, at the
    first event).
    """
    check_text("handler_id", handler_id)
    check_callable("function", function)
    if isinstance(events, tuple) and events and all(isinstance(part, str) for part in events):
        raise TypeError(
            f"events is a list of event names; for the one event {events!r}, pass [{events!r}]"
        )
    names = tuple(_check_event_name(event) for event in events)
    if handler_id in _by_id:
        raise HandlerAlreadyAttached(handler_id)
    attachment = _Attachment(handler_id, names, function, config)
    _by_id[handler_id] = attachment
    _observed.clear()
    for name in dict.fromkeys(names):
        _by_event[name] = (*_by_event.get(name, ()), attachment)


def detach(handler_id: str) -> bool:
    """Detach the handler with this id; return False if no such handler was attached."""
    attachment = _by_id.pop(handler_id, None)
    if attachment is None:
        return False
    _observed.clear()
    for name in dict.fromkeys(attachment.events):
        remaining = tuple(other for other in _by_event[name] if other is not attachment)
        if remaining:
            _by_event[name] = remaining
        else:
            del _by_event[name]
    return True


def list_handlers(prefix: EventName = ()) -> list[str]:
    """Ids of the handlers attached to at least one event starting with ``prefix``."""
    return [
        handler_id
        for handler_id, attachment in _by_id.items()
        if any(event[: len(prefix)] == prefix for event in attachment.events)
    ]


def execute(
    event: EventName,
    measurements: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> None:
    """Emit ``event`` to every handler attached to it.

    A handler that raises is detached and logged; the exception never reaches the caller.
    """
    attachments = _by_event.get(event)
    if not attachments:
        return
    measured = measurements if measurements is not None else {}
    described = metadata if metadata is not None else {}
    for attachment in attachments:
        try:
            attachment.function(event, measured, described, attachment.config)
        except Exception:
            _log.exception(
                "telemetry handler %r raised on event %r and has been detached",
                attachment.handler_id,
                event,
            )
            detach(attachment.handler_id)


@attrs.define
class Span:
    """What a `span` body can add to its ``stop`` event.

    ``metadata`` starts as a copy of the span's metadata; keys set on it appear in the
    ``stop`` (or ``exception``) event. ``measurements`` are added to the ``stop`` event.
    """

    metadata: dict[str, Any]
    measurements: dict[str, Any] = attrs.Factory(dict)


def is_observed(prefix: EventName) -> bool:
    """True if a handler is attached to the start, stop or exception event of ``prefix``.

    Lets a hot path skip building a span's metadata when nobody listens; the answer is
    cached until the next attach or detach. Raises `TypeError` if ``prefix`` is not a
    non-empty tuple of strings (checked only when the answer is not cached yet).
    """
    try:
        observed = _observed.get(prefix)
    except TypeError:  # unhashable: certainly no event name
        observed = None
    if observed is None:
        _check_event_name(prefix)
        observed = _observed[prefix] = (
            (*prefix, "start") in _by_event
            or (*prefix, "stop") in _by_event
            or (*prefix, "exception") in _by_event
        )
    return observed


def span(prefix: EventName, metadata: Mapping[str, Any] | None = None) -> _SpanScope:
    """Emit ``prefix + ("start",)`` now and ``("stop",)`` or ``("exception",)`` at exit.

    Use it as ``with telemetry.span(prefix, metadata) as span:``; the `Span` it gives lets
    the block add stop metadata and measurements. ``start`` carries ``monotonic_time`` and
    ``system_time``; ``stop`` and ``exception`` carry ``monotonic_time`` and ``duration``.
    ``exception`` adds ``kind`` (``"error"`` for an `Exception`, ``"cancelled"`` for trio
    cancellation, ``"exit"`` for any other `BaseException`) and ``reason`` (the exception)
    to the metadata. The exception is always re-raised. When no handler is attached to any
    of the three events, the span costs almost nothing and emits nothing. A ``prefix``
    that is not a non-empty tuple of strings raises `TypeError`, as for `attach`.
    """
    return _SpanScope(prefix, metadata)


class _SpanScope:
    """The context manager behind `span` (a class: it sits on hot paths)."""

    __slots__ = ("_observed", "_prefix", "_recorder", "_start")

    def __init__(self, prefix: EventName, metadata: Mapping[str, Any] | None) -> None:
        self._prefix = prefix
        self._recorder = Span(dict(metadata) if metadata is not None else {})
        self._observed = is_observed(prefix)
        self._start = 0.0

    def __enter__(self) -> Span:
        if self._observed:
            self._start = time.monotonic()
            # A copy, so a handler keeping the start metadata never sees keys added later.
            execute(
                (*self._prefix, "start"),
                {"monotonic_time": self._start, "system_time": time.time()},
                dict(self._recorder.metadata),
            )
        return self._recorder

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        if not self._observed:
            return
        end = time.monotonic()
        timing = {"monotonic_time": end, "duration": end - self._start}
        recorder = self._recorder
        if error is not None:
            execute(
                (*self._prefix, "exception"),
                timing,
                {**recorder.metadata, "kind": _exception_kind(error), "reason": error},
            )
        else:
            execute((*self._prefix, "stop"), {**recorder.measurements, **timing}, recorder.metadata)


def _exception_kind(exc: BaseException) -> str:
    if isinstance(exc, Exception):
        return "error"
    if isinstance(exc, trio.Cancelled):
        return "cancelled"
    return "exit"


@attrs.frozen
class Event:
    """One event seen by `capture`."""

    name: EventName
    measurements: Mapping[str, Any]
    metadata: Mapping[str, Any]


_capture_count = 0


@contextmanager
def capture(events: Iterable[EventName]) -> Iterator[list[Event]]:
    """Record every emission of ``events`` into a list while the block runs.

    Meant for tests, demos and debugging::

        with telemetry.capture([("slither", "store", "write")]) as seen:
            ...
        assert seen[0].measurements["count"] == 1
    """
    global _capture_count
    _capture_count += 1
    handler_id = f"slither_actors.telemetry.capture#{_capture_count}"
    seen: list[Event] = []

    def record(
        name: EventName, measurements: Mapping[str, Any], metadata: Mapping[str, Any], _: Any
    ) -> None:
        seen.append(Event(name, dict(measurements), dict(metadata)))

    attach(handler_id, events, record)
    try:
        yield seen
    finally:
        detach(handler_id)
