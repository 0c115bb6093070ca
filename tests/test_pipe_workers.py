"""Pipes with worker stages in real processes: batching, linger, policies, sessions, views."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import trio

import slither_actors as sa
from slither_actors import telemetry
from tests.pool_helpers import pool_settings
from tests.stores_for_tests import FeatureStore

SETTINGS = sa.Settings(
    stores=("tests.stores_for_tests:FeatureStore",),
    pools=(pool_settings(name="default", size=2),),
)


def triple(item: sa.Item, ctx: sa.Context) -> int:
    return item.payload * 3


class TripleThenWorker(sa.Pipe):
    stages = [
        sa.LocalStage("triple", triple),
        sa.WorkerStage("plus", module="worker_functions", function="plus_hundred", batch_size=2),
    ]


async def test_a_local_stage_then_a_worker_stage() -> None:
    async with sa.open_runtime(SETTINGS):
        result = await sa.run_pipe(TripleThenWorker, [1, 2, 3])
    assert result.payloads() == [103, 106, 109] and result.errors == []


async def test_a_partial_batch_leaves_after_the_linger() -> None:
    class Lingering(sa.Pipe):
        stages = [
            sa.WorkerStage(
                "plus",
                module="worker_functions",
                function="plus_hundred",
                batch_size=100,
                linger=0.05,
            )
        ]

    first_batch_out = trio.Event()

    async def trickle() -> AsyncIterator[int]:
        for number in range(3):
            yield number
        # The source waits, with nothing more for the stage, until the three have left as a
        # partial batch: only the linger can send them (a batch holds 100).
        with trio.fail_after(10):
            await first_batch_out.wait()
        yield 3

    batch = [("slither", "dispatch", "batch", "start")]
    telemetry.attach("test-first-batch", batch, lambda *_: first_batch_out.set())
    try:
        with telemetry.capture(batch) as batches:
            async with sa.open_runtime(SETTINGS):
                result = await sa.run_pipe(Lingering, trickle())
    finally:
        telemetry.detach("test-first-batch")
    assert result.payloads() == [100, 101, 102, 103]
    assert [event.metadata["size"] for event in batches] == [3, 1]
    assert {event.metadata["stage"] for event in batches} == {"plus"}


PICKY = {"module": "worker_functions", "function": "picky"}


class IsolatingPipe(sa.Pipe):
    stages = [sa.WorkerStage("picky", **PICKY, batch_size=8)]
    on_error = {"picky": sa.Retry(1, isolate=True, then="skip")}


async def test_a_worker_stage_isolates_a_poison_item_and_records_it() -> None:
    inputs: list[Any] = list(range(16))
    inputs[5] = "bad"
    async with sa.open_runtime(SETTINGS):
        result = await sa.run_pipe(IsolatingPipe, inputs)
    assert result.payloads() == [n * 2 for n in range(16) if n != 5]
    (record,) = result.errors
    assert record.item.payload == "bad" and record.stage == "picky" and record.skipped
    assert "ValueError: a bad item in the batch" in record.reason


class CrashToDeadLetters(sa.Pipe):
    stages = [sa.WorkerStage("picky", **PICKY, batch_size=2)]
    outputs = ["dead"]
    on_error = {"picky": sa.ToOutput("dead")}


async def test_a_worker_crash_sends_its_batch_to_the_dead_letter_output() -> None:
    async with sa.open_runtime(SETTINGS):
        result = await sa.run_pipe(CrashToDeadLetters, [1, 2, "die", 4])
    assert result.payloads() == [2, 4]
    assert [item.payload for item in result["dead"]] == ["die", 4]
    assert "WorkerCrashed" in result["dead"][0].meta["error"]


class HaltingWorker(sa.Pipe):
    stages = [sa.WorkerStage("picky", **PICKY, batch_size=1, max_in_flight=1)]


async def test_a_worker_stage_halt_names_the_item_and_keeps_the_partial_result() -> None:
    items = sa.Item.wrap_many([1, 2, "bad", 4])
    async with sa.open_runtime(SETTINGS):
        with pytest.raises(sa.PipeError) as caught:
            await sa.run_pipe(HaltingWorker, items)
    error = caught.value
    assert (error.stage, error.item_id) == ("picky", items[2].id)
    assert error.partial.payloads() == [2, 4]


def ask_feature(item: sa.Item, ctx: sa.Context) -> dict[str, Any]:
    return {"view": "lookup_feature", "params": {"key": item.payload}}


class Featured(sa.Pipe):
    stores = [FeatureStore]
    stages = [
        sa.LocalStage("question", ask_feature),
        sa.WorkerStage("ask", module="worker_functions", function="ask", batch_size=2),
    ]


async def test_session_views_answer_the_runs_workers_and_go_away_after() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        result = await sa.run_pipe(Featured, ["user:42", "user:7", "nobody"], session_id="run-9")
        assert result.payloads() == [
            {"value": {"tier": "gold"}},
            {"value": {"tier": "silver"}},
            {"error": "not_found"},
        ]
        pool = await runtime.pool("default")
        question = [{"view": "lookup_feature", "params": {"key": "user:42"}}]
        (after,) = await pool.call("worker_functions:ask", question, session_id="run-9")
    assert after["error"] == "ViewNotFound"


async def test_a_pipe_with_stores_needs_a_runtime() -> None:
    with pytest.raises(sa.NoRuntime, match="uses stores"):
        await sa.run_pipe(Featured, ["user:42"])


@pytest.mark.parametrize("preserve_order", [True, False])
async def test_a_worker_stage_crash_gives_every_item_one_fate(preserve_order: bool) -> None:
    # Batches of 2, 2 in flight; item 10 takes a second in its worker. The stage actor
    # crashes once ten items are out: item 10's batch is still running; the batches after
    # it are done and waiting for it (order kept) or on their way (not kept); more items
    # wait in the inbox.
    payloads = [0.0] * 40
    payloads[10] = 1.0
    items = sa.Item.wrap_many(payloads)

    class Slow(sa.Pipe):
        stages = [
            sa.WorkerStage(
                "slow",
                module="worker_functions",
                function="sleep",
                batch_size=2,
                max_in_flight=2,
                buffer=4,
                preserve_order=preserve_order,
            )
        ]

    seen: list[int] = []
    async with sa.open_runtime(SETTINGS), sa.stream_pipe(Slow, items) as results:
        async for _, item in results:
            seen.append(item.id)
            if len(seen) == 10:
                (child,) = results._run.supervisor.which_children()
                await child.value.cast("crash")  # stage actors take no casts: this one crashes
    recorded = [record.item.id for record in results.errors]
    assert sorted(seen + recorded) == [item.id for item in items]  # each once, none lost
    assert all("the stage crashed" in record.reason for record in results.errors)
    assert items[10].id in recorded and items[11].id in recorded  # the batch that was running
    assert len(seen) > 10  # the restarted stage went on with what was left
