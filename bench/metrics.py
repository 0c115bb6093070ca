"""What the metrics bridges cost: `dispatch` with no bridge, the Prometheus bridge, the
OpenTelemetry bridge, and both at once.

Measured in one run, for the workloads of bench/dispatch.py (100,000 integers in batches
of 64, at most 4 batches in flight, 2 worker processes; a trivial function and a ~50 µs
per item one): ``dispatch(items, executor=WorkerExecutor(...))`` in one open runtime per
round, its workers warm, with each contender in turn (attached just before its pass,
detached just after):

- *no bridge*: nothing attached, the library as it runs when metrics are off;
- *no-op handler*: a telemetry handler that does nothing, on the events the Prometheus
  bridge listens to: what being observed at all costs the library (its spans emit, and the
  dispatch runner leaves its inline path for the one with a span), before a bridge does
  anything;
- *Prometheus*: ``attach_prometheus()`` on a registry of its own;
- *OpenTelemetry*: ``attach_otel(meter_provider, tracer_provider)`` with the SDK's
  providers as a service would set them up, but exporting nowhere: a ``MeterProvider``
  with an ``InMemoryMetricReader``, and a ``TracerProvider`` whose ``BatchSpanProcessor``
  hands the ended spans, in its own thread, to an exporter that drops them. That thread
  runs in the parent process, so its CPU is in the parent's CPU figures;
- *OpenTelemetry, metrics only*: the same with ``tracer_provider=NoOpTracerProvider()``,
  which tracks no span;
- *both*: Prometheus and OpenTelemetry (with spans) at once.

Per batch, a bridge handles the batch span and the pool call span within it (with the
OpenTelemetry bridge, their starts too, and two spans). The contenders take turns in an
order rotated round by round. Every figure is the median over the rounds; items per second
are compared with *no bridge* in the same round, and the parent's CPU (``process_time``:
every thread of the parent) is given per item and per batch. Nothing is asserted: this is
a report. Run it from the repository root::

    python bench/metrics.py            # full run, about a minute
    python bench/metrics.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

import trio
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NoOpTracerProvider

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import pool as pool_bench  # noqa: E402
from pool import BATCH, IN_FLIGHT, WORKERS  # noqa: E402

import slither_actors as sa  # noqa: E402
from slither_actors import metrics, telemetry  # noqa: E402
from slither_actors.metrics._catalogue import EVENTS  # noqa: E402

NONE, NO_OP, PROMETHEUS, OTEL, OTEL_METRICS, BOTH = (
    "no bridge",
    "no-op handler",
    "Prometheus",
    "OpenTelemetry",
    "OTel metrics only",
    "both",
)
CONTENDERS = (NONE, NO_OP, PROMETHEUS, OTEL, OTEL_METRICS, BOTH)
WORKLOADS = ("trivial", "cpu")


class DroppingExporter(SpanExporter):
    """Takes every span and keeps none: what is left is the cost of the spans themselves."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def otel_providers() -> tuple[MeterProvider, TracerProvider]:
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()], shutdown_on_exit=False)
    tracers = TracerProvider()
    tracers.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    return meters, tracers


def attach(name: str, stack: ExitStack) -> None:
    """Attach the bridges of contender ``name`` for the duration of ``stack``."""
    if name == NO_OP:
        telemetry.attach("bench: no-op", EVENTS, lambda *_: None)
        stack.callback(telemetry.detach, "bench: no-op")
    if name in (PROMETHEUS, BOTH):
        stack.enter_context(metrics.attach_prometheus())
    if name in (OTEL, OTEL_METRICS, BOTH):
        meters, tracers = otel_providers()
        stack.callback(meters.shutdown)
        stack.callback(tracers.shutdown)
        traced = tracers if name != OTEL_METRICS else NoOpTracerProvider()
        stack.enter_context(metrics.attach_otel(meters, traced))


async def timed(name: str, workload: str, items: int) -> tuple[float, float]:
    """Items per second of one dispatch of ``items`` with contender ``name``'s bridges, and
    the parent's CPU seconds per item."""
    executor = sa.WorkerExecutor("workloads", f"{workload}_batch")
    work = list(range(items))
    with ExitStack() as stack:
        attach(name, stack)
        start, cpu = time.perf_counter(), time.process_time()
        results = await sa.dispatch(
            work, executor=executor, batch_size=BATCH, max_in_flight=IN_FLIGHT
        )
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(results) == items and results[-1].payload == items
    return items / seconds, cpu / items


Figures = dict[str, dict[str, list[float]]]


async def one_round(number: int, items: int, rates: Figures, costs: Figures) -> None:
    settings = sa.Settings(pools=(pool_bench.pool_settings(),))
    async with sa.open_runtime(settings):
        await sa.dispatch([0], executor=sa.WorkerExecutor("workloads", "trivial_batch"))
        turn = number % len(CONTENDERS)
        order = CONTENDERS[turn:] + CONTENDERS[:turn]
        for workload in WORKLOADS:
            for name in order:
                rate, cost = await timed(name, workload, items)
                rates[workload].setdefault(name, []).append(rate)
                costs[workload].setdefault(name, []).append(cost)


def measure(rounds: int, items: int) -> tuple[Figures, Figures]:
    rates: Figures = {workload: {} for workload in WORKLOADS}
    costs: Figures = {workload: {} for workload in WORKLOADS}
    for number in range(rounds):
        trio.run(one_round, number, items, rates, costs)
    return rates, costs


def median_ratio(figures: dict[str, list[float]], name: str) -> float:
    """The median over the rounds of ``name``'s figure over *no bridge*'s in that round."""
    return statistics.median(
        ours / base for ours, base in zip(figures[name], figures[NONE], strict=True)
    )


def report(rates: Figures, costs: Figures, items: int) -> None:
    median: Callable[[list[float]], float] = statistics.median
    for workload in WORKLOADS:
        print(
            f"\n{workload} workload, {items:,} items: items/s, vs no bridge, and the "
            f"parent's CPU per item and per batch of {BATCH} (added by the bridges)"
        )
        base_cost = median(costs[workload][NONE])
        for name in CONTENDERS:
            rate = median(rates[workload][name])
            cost = median(costs[workload][name])
            added = (cost - base_cost) * BATCH * 1e6
            print(
                f"  {name:<19}{rate:>12,.0f}/s{median_ratio(rates[workload], name):>7.2f}x"
                f"{cost * 1e6:>8.2f} µs/item{cost * BATCH * 1e6:>8.1f} µs/batch"
                + (f"  ({added:+.1f} µs/batch)" if name != NONE else "")
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer items, one round")
    quick = parser.parse_args().quick
    rounds, items = (1, 10_000) if quick else (5, 100_000)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {WORKERS} workers, batches "
        f"of {BATCH}, at most {IN_FLIGHT} in flight; {rounds} rounds (cpu workload ~50 µs "
        f"per item)"
    )
    report(*measure(rounds, items), items)


if __name__ == "__main__":
    main()
