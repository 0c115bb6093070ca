"""Counters and histograms kept in plain dicts: an event's update is a few dict operations.

A bridge hands them to its library only when the metrics are collected, so the cost of an
event does not include a lock and a pass through a metrics library for every number it
changes. Collection may come from another thread while events come in: what it reads is
copied at once (a dict's items, a histogram's buckets), and a histogram's count is the sum
of the buckets read, so a scrape never sees a count that its buckets do not add up to.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import attrs

from slither_actors.metrics._catalogue import DURATION_BUCKETS, METRICS, Metric

__all__ = ["Histogram", "Tally"]

Labels = tuple[str, ...]


@attrs.define(eq=False)
class Histogram:
    """One histogram series: a count per bucket of `DURATION_BUCKETS` (the last: above the
    last bound) and the sum of the values."""

    buckets: list[int] = attrs.Factory(lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def cumulative(self) -> tuple[list[int], float]:
        """The count of values at or under each bound, then of all values; and their sum."""
        counts, total = list(self.buckets), self.total
        running, cumulative = 0, []
        for count in counts:
            running += count
            cumulative.append(running)
        return cumulative, total


@attrs.define(eq=False)
class Tally:
    """The counters and histograms of `METRICS`, by metric name, then labels."""

    counts: dict[str, dict[Labels, float]] = attrs.Factory(
        lambda: {metric.name: {} for metric in METRICS if metric.kind == "counter"}
    )
    histograms: dict[str, dict[Labels, Histogram]] = attrs.Factory(
        lambda: {metric.name: {} for metric in METRICS if metric.kind == "histogram"}
    )

    def add(self, metric: Metric, labels: Labels, amount: float) -> None:
        counts = self.counts[metric.name]
        counts[labels] = counts.get(labels, 0.0) + amount

    def observe(self, metric: Metric, labels: Labels, value: float) -> None:
        series = self.histograms[metric.name]
        histogram = series.get(labels)
        if histogram is None:
            histogram = series[labels] = Histogram()
        histogram.buckets[bisect.bisect_left(DURATION_BUCKETS, value)] += 1
        histogram.total += value

    def counter_values(self, metric: Metric) -> Iterator[tuple[Labels, float]]:
        yield from tuple(self.counts[metric.name].items())

    def histogram_values(self, metric: Metric) -> Iterator[tuple[Labels, Histogram]]:
        yield from tuple(self.histograms[metric.name].items())
