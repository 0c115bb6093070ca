"""Restart intensity (at most N restarts in T seconds) and the backoff between restarts."""

from __future__ import annotations

import collections

import attrs

from slither_actors._checks import check_number, check_seconds, validator

__all__ = ["Backoff", "RestartIntensity"]


@attrs.frozen
class Backoff:
    """Delay before a restart, growing while restarts keep coming, so a crash loop does
    not spin the CPU.

    The n-th restart within the supervisor's window waits
    ``min(maximum, initial * factor ** (n - 1))`` seconds.

    Raises `ValueError` unless ``initial`` and ``maximum`` are finite numbers of seconds, 0
    or more, and ``factor`` a finite number, 1 or more (an infinite delay would leave the
    child down for good).
    """

    initial: float = attrs.field(validator=validator(check_seconds, zero=True, infinite=False))
    factor: float = attrs.field(
        default=2.0, validator=validator(check_number, minimum=1.0, inclusive=True)
    )
    maximum: float = attrs.field(
        default=5.0, validator=validator(check_seconds, zero=True, infinite=False)
    )

    def delay(self, restarts_in_window: int) -> float:
        """Seconds to wait before the ``restarts_in_window``-th recent restart."""
        if restarts_in_window < 1:
            return 0.0
        try:
            grown = self.initial * self.factor ** (restarts_in_window - 1)
        except OverflowError:  # many attempts of a Retry: far past the maximum anyway
            return float(self.maximum)
        return float(min(self.maximum, grown))


@attrs.define
class RestartIntensity:
    """Counts restarts over a sliding window, as OTP does per supervisor.

    `record` notes a restart at time ``now`` and says whether the supervisor may go on:
    more than ``max_restarts`` restarts within ``max_seconds`` means it must give up.
    A restart at time ``t`` stays in the window while ``now - t < max_seconds``.
    """

    max_restarts: int = attrs.field(validator=attrs.validators.ge(0))
    max_seconds: float = attrs.field(validator=attrs.validators.gt(0))
    _times: collections.deque[float] = attrs.field(init=False)

    @_times.default
    def _empty_window(self) -> collections.deque[float]:
        return collections.deque(maxlen=self.max_restarts + 1)

    def record(self, now: float) -> bool:
        """Note a restart at ``now``; False if the limit is now exceeded."""
        self._times.append(now)
        while self._times and now - self._times[0] >= self.max_seconds:
            self._times.popleft()
        return len(self._times) <= self.max_restarts

    @property
    def restarts_in_window(self) -> int:
        """How many restarts the last `record` found inside the window (itself included)."""
        return len(self._times)
