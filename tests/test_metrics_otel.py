"""The OpenTelemetry bridge: the same metrics as the Prometheus bridge, and spans from pipe
runs down to pool calls, each under its parent, whatever task it ends in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, StatusCode

import slither_actors as sa
from slither_actors import metrics, telemetry
from slither_actors.metrics._live import LiveState
from slither_actors.metrics._otel import OtelMetrics
from tests.pool_helpers import pool_settings
from tests.test_metrics_prometheus import SNAPSHOT, sample

SETTINGS = sa.Settings(pools=(pool_settings(name="default", size=2),))
DOUBLE = sa.WorkerExecutor("worker_functions", "double")


@attrs.define
class Otel:
    """SDK providers that keep what they get in memory, for a test to read."""

    spans: InMemorySpanExporter = attrs.Factory(InMemorySpanExporter)
    reader: InMemoryMetricReader = attrs.Factory(InMemoryMetricReader)
    tracer_provider: TracerProvider = attrs.Factory(TracerProvider)
    meter_provider: MeterProvider = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.meter_provider = MeterProvider(metric_readers=[self.reader], shutdown_on_exit=False)

    def attach(self, runtime: sa.Runtime | None = None) -> metrics.OtelMetrics:
        return metrics.attach_otel(self.meter_provider, self.tracer_provider, runtime=runtime)

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def values(self) -> dict[tuple[str, frozenset[tuple[str, Any]]], float]:
        """Each data point now: a counter's or gauge's value, a histogram's count."""
        found = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        key = (metric.name, frozenset(point.attributes.items()))
                        found[key] = point.count if value is None else value  # type: ignore[union-attr]
        return found

    def value(self, metric: str, /, **labels: str) -> float | None:
        return self.values().get((metric, frozenset(labels.items())))


@pytest.fixture
def otel() -> Iterator[Otel]:
    kept = Otel()
    yield kept
    kept.meter_provider.shutdown()
    kept.tracer_provider.shutdown()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def by_name(spans: list[ReadableSpan], prefix: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name.startswith(prefix)]


class Scoring(sa.Pipe):
    stages = [
        sa.LocalStage("parse", lambda item, ctx: int(item.payload)),
        sa.WorkerStage("double", module="worker_functions", function="double", batch_size=4),
    ]


async def test_a_pipe_run_traces_its_worker_stage_batches_and_pool_calls_under_it(
    otel: Otel,
) -> None:
    async with sa.open_runtime(SETTINGS):
        with otel.attach():
            result = await sa.run_pipe(Scoring, [str(number) for number in range(10)])
    assert result.payloads() == [2 * number for number in range(10)]
    spans = otel.finished()
    (run,) = by_name(spans, "pipe Scoring")
    (stage,) = by_name(spans, "stage double")
    (parse,) = by_name(spans, "stage parse")
    (chunk,) = by_name(spans, "chunk parse")
    batches, calls = by_name(spans, "batch "), by_name(spans, "call ")
    assert len(spans) == 1 + 2 + 3 + 3 + 1  # a chunk span at the local stage, none per item
    assert parent_of(run) is None
    assert parent_of(stage) == parent_of(parse) == run.context.span_id
    assert parent_of(chunk) == parse.context.span_id
    assert chunk.attributes == {
        "slither.pipe": "Scoring",
        "slither.stage": "parse",
        "slither.size": 10,
        "slither.outcome": "ok",
    }
    assert parse.attributes == {
        "slither.pipe": "Scoring",
        "slither.stage": "parse",
        "slither.chunks": 1,
        "slither.items": 10,
    }
    # The item's time in the local stage comes before its batches in the worker stage.
    assert chunk.end_time <= min(batch.start_time for batch in batches)  # type: ignore[operator,type-var]
    assert {parent_of(batch) for batch in batches} == {stage.context.span_id}
    batch_ids = {batch.context.span_id for batch in batches}
    assert {parent_of(call) for call in calls} == batch_ids  # one call in each batch
    assert {span.context.trace_id for span in spans} == {run.context.trace_id}
    assert sorted(batch.attributes["slither.size"] for batch in batches) == [2, 4, 4]  # type: ignore[index]
    assert stage.attributes == {
        "slither.pipe": "Scoring",
        "slither.stage": "double",
        "slither.batches": 3,
        "slither.items": 10,
    }
    assert run.attributes["slither.output.default"] == 10  # type: ignore[index]
    assert run.attributes["slither.outcome"] == "ok"  # type: ignore[index]
    # The stage spans its batches; the run spans everything.
    assert stage.start_time == min(batch.start_time for batch in batches)  # type: ignore[type-var]
    assert stage.end_time == max(batch.end_time for batch in batches)  # type: ignore[type-var]
    assert run.start_time <= stage.start_time and stage.end_time <= run.end_time  # type: ignore[operator]
    for call in calls:
        assert call.attributes["slither.pool"] == "default"  # type: ignore[index]
        assert call.attributes["slither.worker_id"] in (1, 2)  # type: ignore[index]


class Picky(sa.Pipe):
    stages = [sa.WorkerStage("picky", module="worker_functions", function="picky", batch_size=4)]
    on_error = {"picky": sa.Retry(1, isolate=True, then="skip")}


async def test_each_half_of_an_isolated_batch_is_a_span_of_its_own_under_the_stage(
    otel: Otel,
) -> None:
    async with sa.open_runtime(SETTINGS):
        with otel.attach():
            result = await sa.run_pipe(Picky, [1, 2, 3, "bad"])
    assert result.payloads() == [2, 4, 6] and len(result.errors) == 1
    spans = otel.finished()
    (stage,) = by_name(spans, "stage picky")
    batches = by_name(spans, "batch ")
    # The batch of 4 fails, then its halves of 2, then the failing half's halves of 1.
    assert sorted(batch.attributes["slither.size"] for batch in batches) == [1, 1, 2, 2, 4]  # type: ignore[index]
    assert {parent_of(batch) for batch in batches} == {stage.context.span_id}
    failed = [batch for batch in batches if batch.status.status_code is StatusCode.ERROR]
    assert len(failed) == 3 and all(batch.events[0].name == "exception" for batch in failed)
    batch_ids = {batch.context.span_id for batch in batches}
    assert {parent_of(call) for call in by_name(spans, "call ")} == batch_ids


async def test_dispatch_outside_a_pipe_goes_under_the_callers_current_span(otel: Otel) -> None:
    tracer = otel.tracer_provider.get_tracer("the application")
    async with sa.open_runtime(SETTINGS) as runtime:
        with otel.attach():
            with tracer.start_as_current_span("job"):
                await sa.dispatch(range(6), executor=DOUBLE, batch_size=3)
            pool = await runtime.pool("default")
            with pytest.raises(sa.WorkerError):
                await pool.call("worker_functions:fail", [1])
    spans = otel.finished()
    (job,) = by_name(spans, "job")
    batches = by_name(spans, "batch worker_functions:double")
    assert len(batches) == 2 and {parent_of(batch) for batch in batches} == {job.context.span_id}
    (failed,) = [span for span in by_name(spans, "call ") if parent_of(span) is None]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["slither.outcome"] == "error"  # type: ignore[index]


async def test_a_span_ended_in_another_task_ends_its_own_span_and_no_other_(otel: Otel) -> None:
    run = ("slither", "pipe", "run")
    call = ("slither", "pool", "call")
    first = {"pool": "p", "target": "m:f", "session_id": None, "size": 1}
    second = {**first, "size": 2}

    def start(prefix: tuple[str, ...], metadata: dict[str, Any]) -> None:
        telemetry.execute((*prefix, "start"), {"monotonic_time": 0.0, "system_time": 1.0}, metadata)

    def stop(prefix: tuple[str, ...], metadata: dict[str, Any]) -> None:
        telemetry.execute((*prefix, "stop"), {"monotonic_time": 0.0, "duration": 0.5}, metadata)

    go = trio.Event()

    async def elsewhere() -> None:  # began before any span: none is open in this task
        await go.wait()
        stop(call, first)

    with otel.attach():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(elsewhere)
            await trio.testing.wait_all_tasks_blocked()
            start(run, {"pipe": "P", "session_id": "s"})
            start(call, first)
            start(call, second)
            go.set()
        start(call, {**first, "size": 3})  # under the call still open, not the ended one
        stop(call, {**first, "size": 3})
        stop(call, second)
        stop(run, {"pipe": "P", "session_id": "s"})
        stop(call, {**first, "size": 9})  # never begun while attached: ignored
    spans = {span.attributes.get("slither.size"): span for span in otel.finished()}  # type: ignore[union-attr]
    run_span = spans[None]
    assert parent_of(spans[1]) == run_span.context.span_id
    assert parent_of(spans[2]) == spans[1].context.span_id
    assert parent_of(spans[3]) == spans[2].context.span_id
    assert len(spans) == 4 and spans[1].end_time == spans[1].start_time + 500_000_000  # type: ignore[operator]


async def test_the_metrics_are_those_of_the_prometheus_bridge(otel: Otel) -> None:
    async with sa.open_runtime(SETTINGS):
        with otel.attach(), metrics.attach_prometheus() as prometheus:
            await sa.dispatch(range(10), executor=DOUBLE, batch_size=4)
            await sa.run_pipe(Scoring, ["1", "2"])
    compared = 0
    for (name, attributes), value in otel.values().items():
        labels = dict(attributes)
        metric = next(metric for metric in metrics.METRICS if metric.base_name == name)
        suffix = "_count" if metric.kind == "histogram" else "_total"
        assert sample(prometheus, metric.base_name + suffix, **labels) == value, name
        compared += 1
    assert compared >= 10
    assert otel.value("slither_pool_calls", pool="default", outcome="ok") == 4


async def test_detach_stops_the_metrics_the_spans_and_the_live_gauges(otel: Otel) -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        bridge = otel.attach(runtime)
        await sa.dispatch([1, 2], executor=DOUBLE)
        assert otel.value("slither_pool_workers", pool="default", state="idle") == 2
        bridge.detach()
        assert telemetry.list_handlers(("slither",)) == []
        await sa.dispatch([1, 2, 3], executor=DOUBLE)
    assert len(otel.finished()) == 2  # the first dispatch's batch and call
    assert otel.value("slither_pool_items", pool="default", outcome="ok") == 2
    assert otel.value("slither_pool_workers", pool="default", state="idle") is None


async def test_with_a_no_op_tracer_provider_it_keeps_the_metrics_and_tracks_no_span(
    otel: Otel,
) -> None:
    async with sa.open_runtime(SETTINGS):
        with metrics.attach_otel(otel.meter_provider, NoOpTracerProvider()):
            assert telemetry.list_handlers(("slither", "pool", "call", "start")) == []
            await sa.dispatch(range(4), executor=DOUBLE, batch_size=2)
    assert otel.value("slither_pool_calls", pool="default", outcome="ok") == 2
    assert otel.value("slither_pool_call_duration_seconds", pool="default") == 2


def test_live_gauges_are_observed_from_the_snapshot(otel: Otel) -> None:
    live = LiveState(runtime=None, take=lambda _: SNAPSHOT)
    with OtelMetrics(otel.meter_provider, otel.tracer_provider, live):
        assert otel.value("slither_queue_depth", kind="stage", name="etl/parse") == 16
        assert otel.value("slither_queue_bound", kind="mailbox", name="runtime/counter") == 16
        assert otel.value("slither_pool_workers", pool="default", state="busy") == 2
        assert otel.value("slither_pool_in_flight", pool="default") == 2


async def test_live_gauges_of_a_real_runtime_collected_from_another_thread(otel: Otel) -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        with otel.attach(runtime):
            values = await trio.to_thread.run_sync(otel.values)
    assert values[("slither_pool_size", frozenset({("pool", "default")}))] == 2
    assert values[("slither_queue_depth", frozenset({("kind", "pool"), ("name", "default")}))] == 0
