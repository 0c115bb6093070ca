"""The Prometheus bridge: real pools, supervisors, stores and pipes counted from their events,
live gauges read from the runtime, and nothing attached unless asked for."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from prometheus_client import CollectorRegistry

import slither_actors as sa
from slither_actors import metrics, telemetry
from slither_actors.metrics._live import LiveState
from slither_actors.metrics._prometheus import PrometheusMetrics
from tests.pool_helpers import pool_settings, wait_until
from tests.stores_for_tests import FeatureStore

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = sa.Settings(
    stores=("tests.stores_for_tests:FeatureStore",),
    pools=(pool_settings(name="default", size=2),),
)
DOUBLE = sa.WorkerExecutor("worker_functions", "double")


def sample(bridge: metrics.PrometheusMetrics, metric: str, /, **labels: str) -> float | None:
    return bridge.registry.get_sample_value(metric, labels)


async def test_dispatches_count_batches_items_and_pool_calls_by_outcome() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        with metrics.attach_prometheus() as bridge:
            results = await sa.dispatch(range(10), executor=DOUBLE, batch_size=4)
            pool = await runtime.pool("default")
            with pytest.raises(sa.WorkerError):
                await pool.call("worker_functions:fail", [1, 2])
    assert [item.payload for item in results] == [2 * number for number in range(10)]
    batch = {"executor": "worker_functions:double", "pipe": "", "stage": ""}
    assert sample(bridge, "slither_dispatch_batches_total", **batch, outcome="ok") == 3
    assert sample(bridge, "slither_dispatch_items_total", **batch, outcome="ok") == 10
    assert sample(bridge, "slither_dispatch_batch_duration_seconds_count", **batch) == 3
    assert sample(bridge, "slither_pool_calls_total", pool="default", outcome="ok") == 3
    assert sample(bridge, "slither_pool_items_total", pool="default", outcome="ok") == 10
    assert sample(bridge, "slither_pool_calls_total", pool="default", outcome="error") == 1
    assert sample(bridge, "slither_pool_items_total", pool="default", outcome="error") == 2
    assert sample(bridge, "slither_pool_call_duration_seconds_count", pool="default") == 4
    # A bucket's bound is in the exposition; the smallest is 100 µs.
    assert b'slither_pool_call_duration_seconds_bucket{le="0.0001",pool="default"}' in (
        bridge.render()
    )


class Numbers(sa.Pipe):
    stages = [
        sa.LocalStage("check", lambda item, ctx: 1 // item.payload),  # 0 fails
        sa.WorkerStage("double", module="worker_functions", function="double", batch_size=2),
    ]
    on_error = {"check": "skip"}


class Halting(sa.Pipe):
    stages = [sa.WorkerStage("fail", module="worker_functions", function="fail")]


async def test_pipe_runs_count_by_outcome_with_their_items_and_errors() -> None:
    async with sa.open_runtime(SETTINGS):
        with metrics.attach_prometheus() as bridge:
            result = await sa.run_pipe(Numbers, [0, 1, 2, 1])
            with pytest.raises(sa.PipeError):
                await sa.run_pipe(Halting, [1])
    assert len(result.errors) == 1 and result.payloads() == [2, 0, 2]
    assert sample(bridge, "slither_pipe_runs_total", pipe="Numbers", outcome="ok") == 1
    assert sample(bridge, "slither_pipe_items_total", pipe="Numbers", output="default") == 3
    assert sample(bridge, "slither_pipe_errors_total", pipe="Numbers") == 1
    assert sample(bridge, "slither_pipe_run_duration_seconds_count", pipe="Numbers") == 1
    assert sample(bridge, "slither_pipe_runs_total", pipe="Halting", outcome="error") == 1
    stage = {"executor": "worker_functions:double", "pipe": "Numbers", "stage": "double"}
    assert sample(bridge, "slither_dispatch_batches_total", **stage, outcome="ok") == 2
    assert sample(bridge, "slither_dispatch_items_total", **stage, outcome="ok") == 3


@attrs.define
class Flaky(sa.Actor):
    async def handle_cast(self, message: Any) -> None:
        raise RuntimeError("flaky")


async def test_a_supervised_actor_that_crashes_counts_a_restart_of_its_child() -> None:
    flaky = sa.ChildSpec.actor("flaky", Flaky, name="flaky")
    with metrics.attach_prometheus() as bridge:
        async with sa.open_runtime(children=[flaky]) as runtime:
            for _ in range(2):
                ref = runtime.registry.lookup("flaky")
                await ref.cast("crash")
                await ref.wait_exited()
                await runtime.registry.wait_for("flaky")
    labels = {"supervisor": "runtime", "child": "flaky"}
    assert sample(bridge, "slither_supervisor_restarts_total", **labels) == 2


async def test_worker_crashes_exits_restarts_and_broken_affinity_are_counted() -> None:
    with metrics.attach_prometheus() as bridge:
        async with sa.open_pool(pool_settings(size=2)) as pool:
            assert sample(bridge, "slither_worker_starts_total", pool="default") == 2
            await pool.call("worker_functions:whoami", [1], session_id="s1")
            with pytest.raises(sa.WorkerCrashed):
                await pool.call("worker_functions:exit_now", [1], session_id="s1")
            await pool.call("worker_functions:whoami", [2], session_id="s1")
            await wait_until(
                lambda: sample(bridge, "slither_worker_restarts_total", pool="default") == 1
            )
    assert sample(bridge, "slither_worker_crashes_total", pool="default") == 1
    assert sample(bridge, "slither_worker_startup_seconds_count", pool="default") == 3
    assert sample(bridge, "slither_worker_exits_total", pool="default") == 3  # crash, 2 stops
    broken = {"pool": "default", "reason": "worker exited"}
    assert sample(bridge, "slither_session_affinity_broken_total", **broken) == 1


async def test_calls_refused_past_the_queue_limit_count_as_saturation() -> None:
    settings = pool_settings(size=1, calls_per_worker=1, queue_limit=1, name="small")
    with metrics.attach_prometheus() as bridge:
        async with sa.open_pool(settings) as pool, trio.open_nursery() as nursery:
            for _ in range(2):  # one runs, one waits
                nursery.start_soon(pool.call, "worker_functions:sleep", [0.2])
            await trio.testing.wait_all_tasks_blocked()
            for _ in range(3):
                with pytest.raises(sa.PoolSaturated):
                    await pool.call("worker_functions:double", [1])
    assert sample(bridge, "slither_pool_saturated_total", pool="small") == 3


async def test_store_writes_count_keys_by_table_and_operation_and_reloads_by_outcome() -> None:
    with metrics.attach_prometheus() as bridge:
        async with sa.open_store(FeatureStore) as store:
            await store.put("features", "user:1", {"tier": "bronze"})
            await store.bulk_insert("features", [("user:2", {}), ("user:3", {})])
            await store.delete("features", "user:1")
            await store.reload()
    writes = {"store": "FeatureStore", "table": "features"}
    assert sample(bridge, "slither_store_writes_total", **writes, operation="put") == 1
    assert sample(bridge, "slither_store_writes_total", **writes, operation="bulk_insert") == 2
    assert sample(bridge, "slither_store_writes_total", **writes, operation="delete") == 1
    assert sample(bridge, "slither_store_reloads_total", store="FeatureStore", outcome="ok") == 1
    assert sample(bridge, "slither_store_reload_duration_seconds_count", store="FeatureStore") == 1


async def test_view_calls_count_by_store_view_and_outcome() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        with metrics.attach_prometheus() as bridge:
            pool = await runtime.pool("default")
            questions = [
                {"view": "tier_count", "params": {"tier": "gold"}},
                {"view": "tier_count", "params": {"tier": "silver"}},
                {"view": "broken"},
            ]
            answers = await pool.call("worker_functions:ask", questions)
    assert answers[:2] == [1, 1] and answers[2]["error"] == "ValueError"
    view = {"store": "FeatureStore", "view": "tier_count"}
    assert sample(bridge, "slither_view_calls_total", **view, outcome="ok") == 2
    assert sample(bridge, "slither_view_call_duration_seconds_count", **view) == 2
    broken = {"store": "FeatureStore", "view": "broken", "outcome": "error"}
    assert sample(bridge, "slither_view_calls_total", **broken) == 1


async def test_detach_stops_the_updates_and_keeps_what_was_counted_for_a_last_scrape() -> None:
    registry = CollectorRegistry()
    labels = {"executor": "worker_functions:double", "pipe": "", "stage": "", "outcome": "ok"}
    async with sa.open_runtime(SETTINGS) as runtime:
        bridge = metrics.attach_prometheus(registry, runtime=runtime)
        await sa.dispatch([1, 2], executor=DOUBLE)
        assert b"slither_pool_workers{" in bridge.render()
        bridge.detach()
        bridge.detach()  # idempotent
        assert not bridge.attached
        assert telemetry.list_handlers(("slither",)) == []
        assert not telemetry.is_observed(("slither", "dispatch", "batch"))
        await sa.dispatch([1, 2, 3], executor=DOUBLE)
        assert sample(bridge, "slither_dispatch_items_total", **labels) == 2
        assert b"slither_pool_workers{" not in bridge.render()  # the live gauges have gone
        with metrics.attach_prometheus(registry) as again:  # in place of the detached one
            await sa.dispatch([1, 2, 3], executor=DOUBLE)
    assert sample(again, "slither_dispatch_items_total", **labels) == 3


async def test_two_bridges_count_the_same_and_one_registry_takes_one_bridge_at_a_time() -> None:
    async with sa.open_runtime(SETTINGS):
        with metrics.attach_prometheus() as first, metrics.attach_prometheus() as second:
            with pytest.raises(ValueError, match="still attached: detach it first"):
                metrics.attach_prometheus(first.registry)
            await sa.dispatch(range(5), executor=DOUBLE, batch_size=2)
    for bridge in (first, second):
        assert sample(bridge, "slither_pool_calls_total", pool="default", outcome="ok") == 3


async def test_a_failing_update_is_logged_once_and_the_bridge_stays_attached(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with metrics.attach_prometheus() as bridge, caplog.at_level(logging.ERROR):
        for _ in range(3):  # a stop with no duration: not what the library emits
            telemetry.execute(("slither", "pool", "call", "stop"), {}, {"pool": "p"})
        telemetry.execute(("slither", "pool", "saturated"), {"waiting": 1}, {"pool": "p"})
        assert bridge.attached
    assert len([record for record in caplog.records if "failed on event" in record.message]) == 1
    assert sample(bridge, "slither_pool_saturated_total", pool="p") == 1


def test_nothing_is_attached_until_a_bridge_is_asked_for() -> None:
    assert metrics.METRICS  # the module is loaded
    assert telemetry.list_handlers(("slither",)) == []
    for prefix in (("slither", "dispatch", "batch"), ("slither", "pool", "call")):
        assert not telemetry.is_observed(prefix)


# --- live gauges ----------------------------------------------------------------------------

SNAPSHOT: dict[str, Any] = {
    "tree": {
        "id": "runtime",
        "kind": "supervisor",
        "mailbox": None,
        "children": [
            {"id": "counter", "kind": "actor", "mailbox": {"depth": 3, "bound": 16}},
            {
                "id": "services",
                "kind": "supervisor",
                "mailbox": None,
                "children": [
                    {
                        "id": "pipe etl 3f2a",
                        "kind": "pipe",
                        "mailbox": None,
                        "children": [{"id": "stage parse", "mailbox": {"depth": 0, "bound": 8}}],
                    },
                ],
            },
        ],
    },
    "pools": [
        {
            "name": "default",
            "size": 3,
            "live": 3,
            "in_flight": 2,
            "waiting": 5,
            "queue_limit": 100,
            "workers": [{"state": "busy"}, {"state": "busy"}, {"state": "draining"}],
        }
    ],
    "pipes": [
        {"name": "etl", "stages": [{"name": "parse", "inbox": {"depth": 12, "bound": 256}}]},
        {"name": "etl", "stages": [{"name": "parse", "inbox": {"depth": 4, "bound": 256}}]},
    ],
}


def test_live_gauges_read_queues_and_workers_from_the_snapshot() -> None:
    live = LiveState(runtime=None, take=lambda _: SNAPSHOT)
    with PrometheusMetrics(CollectorRegistry(), live) as bridge:
        mailbox = {"kind": "mailbox", "name": "runtime/counter"}
        assert sample(bridge, "slither_queue_depth", **mailbox) == 3
        assert sample(bridge, "slither_queue_bound", **mailbox) == 16
        stage = {"kind": "stage", "name": "etl/parse"}  # two runs of the pipe add up
        assert sample(bridge, "slither_queue_depth", **stage) == 16
        assert sample(bridge, "slither_queue_bound", **stage) == 512
        assert sample(bridge, "slither_queue_depth", kind="pool", name="default") == 5
        assert sample(bridge, "slither_queue_bound", kind="pool", name="default") == 100
        for state, count in (("busy", 2), ("idle", 0), ("draining", 1)):
            assert sample(bridge, "slither_pool_workers", pool="default", state=state) == count
        assert sample(bridge, "slither_pool_size", pool="default") == 3
        assert sample(bridge, "slither_pool_in_flight", pool="default") == 2
        # A stage actor's own mailbox is not its queue (the inbox is), nor is a session a label.
        assert b"stage parse" not in bridge.render() and b"3f2a" not in bridge.render()


def test_a_snapshot_that_fails_leaves_the_live_gauges_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_: Any) -> dict[str, Any]:
        raise RuntimeError("the runtime has gone")

    with PrometheusMetrics(None, LiveState(None, take=broken)) as bridge:
        assert b"slither_queue_depth{" not in bridge.render()
    assert "status snapshot failed" in caplog.text


@attrs.define
class Counter(sa.Actor):
    async def handle_call(self, message: Any) -> Any:
        return message


async def endless() -> AsyncIterator[int]:
    number = 0
    while True:
        yield number
        number += 1
        await trio.sleep(0.01)


class Squares(sa.Pipe):
    stages = [sa.LocalStage("square", lambda item, ctx: item.payload**2)]


async def test_live_gauges_of_a_real_runtime_also_from_a_scrape_in_another_thread() -> None:
    counter = sa.ChildSpec.actor("counter", Counter, name="counter", mailbox_size=7)

    async def sink(output: str, item: sa.Item) -> None:
        pass

    async with sa.open_runtime(SETTINGS, children=[counter]) as runtime:
        service = await sa.start_pipe(Squares, endless(), sink)
        with metrics.attach_prometheus(runtime=runtime) as bridge:
            here = bridge.render().decode()
            elsewhere = (await trio.to_thread.run_sync(bridge.render)).decode()
        await service.stop()
    for text in (here, elsewhere):
        assert 'slither_queue_bound{kind="mailbox",name="runtime/counter"} 7.0' in text
        assert 'slither_pool_workers{pool="default",state="idle"} 2.0' in text
        assert 'slither_pool_size{pool="default"} 2.0' in text
        assert 'slither_queue_bound{kind="pool",name="default"} 1000.0' in text
        assert re.search(r'slither_queue_bound\{kind="stage",name="Squares/square"\} \d', text)


# --- the docs -------------------------------------------------------------------------------


def test_the_docs_list_every_metric_with_its_labels() -> None:
    page = (ROOT / "docs" / "metrics.md").read_text()
    for metric in metrics.METRICS:
        rows = [line for line in page.splitlines() if line.startswith(f"| `{metric.name}`")]
        assert len(rows) == 1, metric.name
        for label in metric.labels:
            assert f"`{label}`" in rows[0], (metric.name, label)
