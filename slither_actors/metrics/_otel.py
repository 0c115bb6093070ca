"""The OpenTelemetry bridge: the catalogue's metrics through a Meter, and spans through a
Tracer (see `_spans`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from slither_actors.metrics._bridge import Bridge
from slither_actors.metrics._catalogue import DURATION_BUCKETS, METRICS, Metric
from slither_actors.metrics._live import LIVE_METRICS, LiveState, Reading
from slither_actors.metrics._tally import Tally
from slither_actors.telemetry import EventName

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import TracerProvider

    from slither_actors.metrics._spans import SPAN_PREFIXES, SpanTracker
except ImportError as error:  # pragma: no cover - the extra is installed for the tests
    raise ImportError(
        "the OpenTelemetry bridge needs opentelemetry-api and opentelemetry-sdk: "
        "pip install 'slither_actors[otel]'"
    ) from error

__all__ = ["OtelMetrics"]

SCOPE = "slither_actors"
# One snapshot serves every live gauge of one collection: they are asked one by one, the
# first first, which takes a new one (as does any asked long after the last was taken).
_SNAPSHOT_REUSE = 0.5
# The events of the traced spans: their prefix, and which end of the span each is.
_SPAN_EVENTS = {
    (*prefix, end): (prefix, end)
    for prefix in SPAN_PREFIXES
    for end in ("start", "stop", "exception")
}


class OtelMetrics(Bridge):
    """Keeps the catalogue's metrics in an OpenTelemetry Meter, and traces pipe runs,
    batches and pool calls as spans, while attached.

    Made by `slither_actors.metrics.attach_otel`. ``detach()`` stops the updates and the
    spans (instruments cannot be taken out of a Meter: the counters and histograms keep
    what they counted, and the live gauges report nothing more). Also a context manager
    that detaches on exit.

    Counters are kept in plain dicts (a `Tally`) and reported through asynchronous
    (observable) counters when the metrics are collected: an event costs a dict update
    instead of a pass through the SDK for each of them. Histograms have no asynchronous
    kind, so each duration is recorded as it comes.
    """

    kind = "otel"

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
        live: LiveState | None = None,
    ) -> None:
        super().__init__()
        meters = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        tracers = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        meter = meters.get_meter(SCOPE, _version())
        self._attributes: dict[tuple[str, tuple[str, ...]], dict[str, str]] = {}
        self._tally = Tally()  # the counters (the histograms are the SDK's)
        self._instruments: dict[str, Any] = {}
        for metric in METRICS:
            if metric.kind == "counter":
                meter.create_observable_counter(
                    metric.base_name,
                    [self._counter_callback(metric)],
                    unit=metric.unit,
                    description=metric.description,
                )
            elif metric.kind == "histogram":
                self._instruments[metric.name] = meter.create_histogram(
                    metric.name,
                    unit=metric.unit,
                    description=metric.description,
                    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
                )
        self._live = live
        self._readings: tuple[float, list[Reading]] = (0.0, [])
        if live is not None:
            for metric in LIVE_METRICS:
                meter.create_observable_gauge(
                    metric.name, [self._gauge_callback(metric)], description=metric.description
                )
        if isinstance(tracers, trace.NoOpTracerProvider):  # metrics alone: no span to track
            self._spans: SpanTracker | None = None
            self._attach(self)
        else:
            self._spans = SpanTracker(tracers.get_tracer(SCOPE, _version()))
            self._attach(self, list(_SPAN_EVENTS))

    def handle(
        self, event: EventName, measured: Mapping[str, Any], metadata: Mapping[str, Any]
    ) -> None:
        spanned = _SPAN_EVENTS.get(event)
        if spanned is not None and self._spans is not None:
            prefix, end = spanned
            if end == "start":
                self._spans.start(prefix, measured, metadata)
                return
            self._spans.end(prefix, measured, metadata, failed=end == "exception")
        super().handle(event, measured, metadata)

    # --- the Recorder -------------------------------------------------------------------

    def add(self, metric: Metric, labels: tuple[str, ...], amount: float) -> None:
        self._tally.add(metric, labels, amount)

    def observe(self, metric: Metric, labels: tuple[str, ...], value: float) -> None:
        self._instruments[metric.name].record(value, self._labelled(metric, labels))

    def _labelled(self, metric: Metric, labels: tuple[str, ...]) -> dict[str, str]:
        key = (metric.name, labels)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = self._attributes[key] = dict(zip(metric.labels, labels, strict=True))
        return attributes

    def _counter_callback(self, metric: Metric) -> Any:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(value, self._labelled(metric, labels))
                for labels, value in self._tally.counter_values(metric)
            ]

        return observe

    # --- the live gauges ----------------------------------------------------------------

    def _gauge_callback(self, metric: Metric) -> Any:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(reading.value, dict(zip(metric.labels, reading.labels, strict=True)))
                for reading in self._current_readings(fresh=metric is LIVE_METRICS[0])
                if reading.metric is metric
            ]

        return observe

    def _current_readings(self, fresh: bool) -> list[Reading]:
        live = self._live
        if live is None:
            return []
        taken, readings = self._readings
        now = time.monotonic()
        if fresh or now - taken > _SNAPSHOT_REUSE:
            readings = live.readings()
            self._readings = (now, readings)
        return readings

    def _detached(self) -> None:
        self._live = None  # the runtime may go now
        if self._spans is not None:
            self._spans.forget()


OtelMetrics.__module__ = "slither_actors.metrics"  # where users import it from


def _version() -> str | None:
    try:
        return version("slither_actors")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout not installed
        return None
