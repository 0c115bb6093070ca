"""What every bridge shares: its telemetry handler, attached under its own id, and detach."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from slither_actors import telemetry
from slither_actors.metrics._catalogue import EVENTS, UPDATES, Recorder
from slither_actors.telemetry import EventName

__all__ = ["Bridge"]

_log = logging.getLogger("slither_actors.metrics")
_numbers = itertools.count(1)


class Bridge:
    """A telemetry handler that turns the catalogue's events into a recorder's metrics.

    A subclass records (it is the `Recorder`) and may handle more events (`handle`). An
    update that raises is logged once per event and skipped; it never detaches the bridge,
    as a raising telemetry handler would be.
    """

    kind = "bridge"

    def __init__(self) -> None:
        self.handler_id = f"slither_actors.metrics.{self.kind}#{next(_numbers)}"
        self._failed: set[EventName] = set()
        self._attached = False

    def _attach(self, recorder: Recorder, more: Iterable[EventName] = ()) -> None:
        self._recorder = recorder
        telemetry.attach(self.handler_id, [*EVENTS, *more], self._on_event)
        self._attached = True

    @property
    def attached(self) -> bool:
        """True until `detach`."""
        return self._attached

    def _on_event(
        self, event: EventName, measured: Mapping[str, Any], metadata: Mapping[str, Any], _: Any
    ) -> None:
        try:
            self.handle(event, measured, metadata)
        except Exception:
            if event not in self._failed:
                self._failed.add(event)
                _log.exception("metrics bridge %s failed on event %r", self.handler_id, event)

    def handle(
        self, event: EventName, measured: Mapping[str, Any], metadata: Mapping[str, Any]
    ) -> None:
        """Record ``event``; a subclass that listens to more events extends this."""
        apply = UPDATES.get(event)
        if apply is not None:
            apply(self._recorder, event, measured, metadata)

    def detach(self) -> None:
        """Stop listening to events; idempotent. What was recorded stays readable."""
        if self._attached:
            telemetry.detach(self.handler_id)
            self._attached = False
            self._detached()

    def _detached(self) -> None:
        """What a subclass lets go of once detached."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.detach()
