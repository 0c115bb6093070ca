"""Metrics and traces: bridges from the telemetry events to Prometheus and OpenTelemetry.

::

    from slither_actors import metrics

    bridge = metrics.attach_prometheus(runtime=runtime)   # pip install 'slither_actors[prometheus]'
    text = bridge.render()                                # what /metrics serves
    bridge.detach()

    bridge = metrics.attach_otel(runtime=runtime)         # pip install 'slither_actors[otel]'

Each bridge is one telemetry handler keeping the metrics of `METRICS` (the same names in
both) from the library's events; the OpenTelemetry bridge also traces pipe runs, their
stages, the chunks of local and router stages, batches and pool calls as parent-linked
spans. Given the ``runtime``, the
bridges also read its queues and workers when they are collected. Nothing is attached, and
nothing is imported from prometheus_client or OpenTelemetry, until a bridge is asked for;
``Settings.metrics`` (``prometheus = true``, ``otel = true``) has the runtime attach them.
See docs/metrics.md for every metric, the span tree and what a bridge costs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slither_actors.metrics._catalogue import METRICS as METRICS, Metric as Metric

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider
    from prometheus_client import CollectorRegistry

    # What the bridges read of a `Runtime` (a Protocol: the runtime imports this package).
    from slither_actors._status._snapshot import ObservedRuntime
    from slither_actors.metrics._otel import OtelMetrics as OtelMetrics
    from slither_actors.metrics._prometheus import PrometheusMetrics as PrometheusMetrics

__all__ = [
    "METRICS",
    "Metric",
    "OtelMetrics",
    "PrometheusMetrics",
    "attach_otel",
    "attach_prometheus",
]


def attach_prometheus(
    registry: CollectorRegistry | None = None, *, runtime: ObservedRuntime | None = None
) -> PrometheusMetrics:
    """Keep the metrics of `METRICS` in a prometheus_client registry from now on.

    ``registry`` is a ``prometheus_client.CollectorRegistry``; None makes a new one for
    this bridge alone, so two runtimes or tests never clash (pass
    ``prometheus_client.REGISTRY`` to use the process's global one, which
    ``prometheus_client.start_http_server`` serves). With ``runtime``, the gauges of its
    queues and workers are read from it at each scrape; call this in the runtime's Trio
    thread. Returns the `PrometheusMetrics`: ``.registry``, ``.render()`` and
    ``.detach()``. A registry shows one bridge's metrics: a new bridge replaces a detached
    one's there. Raises `ImportError` without prometheus_client (the ``prometheus``
    extra), and `ValueError` if a bridge is still attached to ``registry``.
    """
    from slither_actors.metrics._live import LiveState
    from slither_actors.metrics._prometheus import PrometheusMetrics

    return PrometheusMetrics(registry, None if runtime is None else LiveState(runtime))


def attach_otel(
    meter_provider: MeterProvider | None = None,
    tracer_provider: TracerProvider | None = None,
    *,
    runtime: ObservedRuntime | None = None,
) -> OtelMetrics:
    """Keep the metrics of `METRICS` in an OpenTelemetry Meter, and trace pipe runs, worker
    stages, batches and pool calls as spans, from now on.

    None for a provider means OpenTelemetry's global one (``set_meter_provider``,
    ``set_tracer_provider``), as for any instrumented library; a ``NoOpTracerProvider()``
    keeps the metrics alone, at a fraction of the cost. With ``runtime``, the gauges of its
    queues and workers are observed from it at each collection; call this in the
    runtime's Trio thread. Returns the `OtelMetrics`, whose ``.detach()`` stops it. Raises
    `ImportError` without opentelemetry-api (the ``otel`` extra).
    """
    from slither_actors.metrics._live import LiveState
    from slither_actors.metrics._otel import OtelMetrics

    return OtelMetrics(
        meter_provider, tracer_provider, None if runtime is None else LiveState(runtime)
    )


def __getattr__(name: str) -> Any:
    # The bridge classes, for isinstance and annotations, imported only when named: each
    # needs its extra.
    if name == "PrometheusMetrics":
        from slither_actors.metrics._prometheus import PrometheusMetrics

        return PrometheusMetrics
    if name == "OtelMetrics":
        from slither_actors.metrics._otel import OtelMetrics

        return OtelMetrics
    raise AttributeError(f"module 'slither_actors.metrics' has no attribute {name!r}")
