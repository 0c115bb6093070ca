"""What the ``batch_stats`` demo runs in its worker processes: each dataset's mean and
variance by Welford's method, and running totals per kind that a worker keeps for each
session until the parent collects them.

Import-light (no trio): the workers preload it, and the parent and the threaded baselines
use the same `Moments` and `describe_dataset`, so every mode computes alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import attrs

from slither_actors import worker

__all__ = [
    "Moments",
    "PoisonedDataset",
    "SessionTotals",
    "checked_values",
    "collect",
    "describe",
    "describe_dataset",
]


@attrs.frozen
class Moments:
    """The count, mean and M2 (sum of squared deviations from the mean) of some numbers.

    `extended` takes numbers one at a time (Welford's update), so no sum grows large and
    loses precision; `merged` joins moments computed apart (Chan, Golub and LeVeque's
    parallel form), so totals kept by several workers merge into those of all their numbers.
    """

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def extended(self, values: Iterable[float]) -> Moments:
        """These moments with ``values`` added, one at a time."""
        count, mean, m2 = self.count, self.mean, self.m2
        for value in values:
            count += 1
            delta = value - mean
            mean += delta / count
            m2 += delta * (value - mean)
        return Moments(count, mean, m2)

    def merged(self, other: Moments) -> Moments:
        """The moments of the numbers of ``self`` and ``other`` together."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        return Moments(count, mean, m2)

    @property
    def variance(self) -> float:
        """The sample variance, M2 / (count - 1); NaN below two numbers."""
        return self.m2 / (self.count - 1) if self.count > 1 else math.nan

    def to_list(self) -> list[Any]:
        """``[count, mean, m2]``, as it travels between a worker and the parent."""
        return [self.count, self.mean, self.m2]

    @classmethod
    def from_list(cls, travelled: list[Any]) -> Moments:
        """The moments `to_list` gave."""
        count, mean, m2 = travelled
        return cls(count, mean, m2)


class PoisonedDataset(ValueError):
    """A dataset with no values, or with a value that is not a finite number."""


def checked_values(dataset: dict[str, Any]) -> list[float]:
    """The values of ``dataset``; `PoisonedDataset` if it has none or one is not a finite
    number (None, the string 'NaN', infinity), before any of them is counted anywhere."""
    values: list[float] = dataset["values"]
    try:
        if values and math.isfinite(math.fsum(values)):
            return values  # the common case, checked at C speed: all finite numbers
    except (TypeError, ValueError, OverflowError):
        pass
    if not values:
        raise PoisonedDataset(f"{dataset['name']} has no values")
    for position, value in enumerate(values):
        if type(value) not in (int, float) or not math.isfinite(value):
            raise PoisonedDataset(
                f"{dataset['name']} value {position} is {value!r}, not a finite number"
            )
    return values  # numbers whose sum overflows a float, but numbers


def describe_dataset(dataset: dict[str, Any]) -> dict[str, Any]:
    """The name, kind, count, mean and sample variance of one dataset's values."""
    moments = Moments().extended(checked_values(dataset))
    return {
        "name": dataset["name"],
        "kind": dataset["kind"],
        "count": moments.count,
        "mean": moments.mean,
        "variance": moments.variance,
    }


@attrs.define
class SessionTotals:
    """What one worker has counted for one session: the datasets it described, and the
    moments of their values per kind."""

    datasets: int = 0
    kinds: dict[str, Moments] = attrs.Factory(dict)


_TOTALS: dict[str, SessionTotals] = {}
"""This worker's totals, per session id: private to the process, so no lock is needed."""


def describe(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Describe each dataset of a batch and add its values to this worker's running totals
    for its kind, in the session of the call. A poisoned dataset fails the whole call."""
    session = worker.current_session_id() or ""
    kinds = dict(_TOTALS[session].kinds) if session in _TOTALS else {}
    for dataset in datasets:
        # The whole batch is checked before any work: a poisoned one fails at once, since
        # it will be run again in halves.
        checked_values(dataset)
    described = []
    for dataset in datasets:
        described.append(describe_dataset(dataset))
        kind = dataset["kind"]
        kinds[kind] = kinds.get(kind, Moments()).extended(dataset["values"])
    # The totals change only once the whole batch has succeeded: a failed batch is run
    # again in halves, and its good datasets with it, which must not count them twice.
    totals = _TOTALS.setdefault(session, SessionTotals())
    totals.datasets += len(datasets)
    totals.kinds = kinds
    return described


def collect(sessions: list[str]) -> list[dict[str, Any]]:
    """This worker's totals for each session named, forgotten as they are handed over
    (meant for `WorkerPool.broadcast`, which reaches every worker once)."""
    replies = []
    for session in sessions:
        totals = _TOTALS.pop(session, SessionTotals())
        replies.append(
            {
                "worker": worker.worker_id(),
                "datasets": totals.datasets,
                "kinds": {kind: moments.to_list() for kind, moments in totals.kinds.items()},
            }
        )
    return replies
