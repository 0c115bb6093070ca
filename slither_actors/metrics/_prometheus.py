"""The Prometheus bridge: the catalogue's metrics as prometheus_client counters, histograms
and gauges, in a registry of their own unless given one."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from slither_actors.metrics._bridge import Bridge
from slither_actors.metrics._catalogue import DURATION_BUCKETS, METRICS, Metric
from slither_actors.metrics._live import LIVE_METRICS, LiveState
from slither_actors.metrics._tally import Tally

try:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.registry import Collector
except ImportError as error:  # pragma: no cover - the extra is installed for the tests
    raise ImportError(
        "the Prometheus bridge needs prometheus_client: pip install 'slither_actors[prometheus]'"
    ) from error

__all__ = ["PrometheusMetrics"]

_BOUNDS = [str(bound) for bound in DURATION_BUCKETS] + ["+Inf"]  # as prometheus_client writes them


class PrometheusMetrics(Bridge):
    """Keeps the catalogue's metrics in a prometheus_client registry while attached.

    Made by `slither_actors.metrics.attach_prometheus`. ``registry`` holds the metrics
    (``render()`` gives its text exposition). ``detach()`` stops the updates and the live
    gauges; what was counted stays in the registry, for a last scrape, until another
    bridge is attached to it. Also a context manager that detaches on exit.

    The numbers are kept in plain dicts (a `Tally`) and handed to prometheus_client at
    each scrape: an event costs a few dict updates, not a lock per number it changes.
    """

    kind = "prometheus"

    def __init__(
        self, registry: CollectorRegistry | None = None, live: LiveState | None = None
    ) -> None:
        super().__init__()
        self.registry = registry if registry is not None else CollectorRegistry()
        self._collector = _Collector(Tally(), live)
        earlier = _shown.get(self.registry)
        if earlier is not None:
            if earlier.attached:
                raise ValueError(
                    f"this registry shows the metrics of {earlier.handler_id}, still "
                    f"attached: detach it first, or give each bridge a registry of its own"
                )
            self.registry.unregister(earlier._collector)
        self.registry.register(self._collector)
        _shown[self.registry] = self
        self._attach(self._collector.tally)

    def render(self) -> bytes:
        """The registry's metrics in the Prometheus text exposition format."""
        return bytes(generate_latest(self.registry))

    def _detached(self) -> None:
        self._collector.live = None  # the runtime may go now


PrometheusMetrics.__module__ = "slither_actors.metrics"  # where users import it from

# The bridge whose metrics each registry shows: one at a time, a detached one replaceable.
_shown: weakref.WeakKeyDictionary[CollectorRegistry, PrometheusMetrics] = (
    weakref.WeakKeyDictionary()
)


class _Collector(Collector):
    """The bridge's metrics as one collector: the tally's, then the live gauges."""

    def __init__(self, tally: Tally, live: LiveState | None) -> None:
        self.tally = tally
        self.live = live

    def collect(self) -> Iterator[Any]:
        yield from self._families(with_values=True)

    def describe(self) -> Iterator[Any]:
        # What `collect` yields, without values (the registry asks when registering).
        yield from self._families(with_values=False)

    def _families(self, with_values: bool) -> Iterator[Any]:
        tally = self.tally
        for metric in METRICS:
            if metric.kind == "counter":
                counter = CounterMetricFamily(
                    metric.base_name, metric.description, labels=metric.labels
                )
                for labels, value in tally.counter_values(metric) if with_values else ():
                    counter.add_metric(labels, value)
                yield counter
            elif metric.kind == "histogram":
                histogram = HistogramMetricFamily(
                    metric.name, metric.description, labels=metric.labels, unit=""
                )
                for labels, series in tally.histogram_values(metric) if with_values else ():
                    cumulative, total = series.cumulative()
                    histogram.add_metric(labels, list(zip(_BOUNDS, cumulative, strict=True)), total)
                yield histogram
        live = self.live
        if live is None:
            return
        gauges = {metric.name: _gauge(metric) for metric in LIVE_METRICS}
        for reading in live.readings() if with_values else ():
            gauges[reading.metric.name].add_metric(list(reading.labels), reading.value)
        yield from gauges.values()


def _gauge(metric: Metric) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.description, labels=metric.labels)
