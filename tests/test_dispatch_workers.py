"""Dispatch over real worker processes: affinity, tools, and crashes and hangs per policy."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import slither_actors as sa
from tests.pool_helpers import pool_settings

SETTINGS = sa.Settings(pools=(pool_settings(name="default", size=2, call_timeout=10.0),))
PICKY = sa.WorkerExecutor("worker_functions", "picky")


def payloads(items: list[sa.Item]) -> list[Any]:
    return [item.payload for item in items]


async def test_a_worker_executor_runs_batches_in_the_pool_in_order() -> None:
    async with sa.open_runtime(SETTINGS):
        results = await sa.dispatch(range(200), executor=PICKY, batch_size=7, max_in_flight=4)
    assert payloads(results) == [number * 2 for number in range(200)]


async def test_a_session_keeps_its_batches_on_one_worker_while_it_is_free() -> None:
    whoami = sa.WorkerExecutor("worker_functions", "whoami")
    async with sa.open_runtime(SETTINGS):
        context = sa.Context.new(session_id="customer-7")
        results = await sa.dispatch(
            range(40), executor=whoami, batch_size=4, max_in_flight=1, context=context
        )
    assert len({item.payload["pid"] for item in results}) == 1
    assert {item.payload["session"] for item in results} == {"customer-7"}


async def test_a_session_fans_out_over_every_worker_under_hint_affinity() -> None:
    pid_after = sa.WorkerExecutor("worker_functions", "pid_after")
    async with sa.open_runtime(SETTINGS):
        context = sa.Context.new(session_id="customer-8")
        results = await sa.dispatch(
            [0.3, 0.3], executor=pid_after, batch_size=1, max_in_flight=2, context=context
        )
    # The second batch goes to the idle worker, not behind the first on the bound one.
    assert len({item.payload for item in results}) == 2


async def test_a_tool_executor_runs_a_named_tool() -> None:
    async with sa.open_runtime(SETTINGS):
        results = await sa.dispatch(["a", "b", "c"], executor=sa.ToolExecutor("shout"))
    assert payloads(results) == ["A", "B", "C"]


async def test_outside_a_runtime_a_worker_executor_says_what_is_missing() -> None:
    with pytest.raises(sa.DispatchError) as caught:
        await sa.dispatch([1], executor=PICKY)
    assert isinstance(caught.value.reason, sa.NoRuntime)


async def test_a_worker_result_of_the_wrong_length_is_an_error_not_a_truncation() -> None:
    short = sa.WorkerExecutor("worker_functions", "short")
    async with sa.open_runtime(SETTINGS):
        with pytest.raises(sa.DispatchError) as caught:
            await sa.dispatch([1, 2, 3], executor=short)
    reason = caught.value.reason
    # The pool already refuses a short reply; either way the lengths are named.
    assert "3" in str(reason) and "2" in str(reason)


# --- a worker that dies, and one that hangs, under each policy ------------------------------

CRASH = [1, 2, "die", 4, 5, 6]
HANG = [1, 2, "hang", 4, 5, 6]


async def test_a_crash_under_halt_stops_the_run_with_what_completed() -> None:
    async with sa.open_runtime(SETTINGS):
        with pytest.raises(sa.DispatchError) as caught:
            await sa.dispatch(CRASH, executor=PICKY, batch_size=2, max_in_flight=1)
        assert isinstance(caught.value.reason, sa.WorkerCrashed)
        assert payloads(caught.value.partial_results) == [2, 4]
        # The pool replaced the worker: the next run works.
        assert payloads(await sa.dispatch([3], executor=PICKY)) == [6]


async def test_a_crash_under_skip_marks_its_batch_and_keeps_the_others() -> None:
    async with sa.open_runtime(SETTINGS):
        results = await sa.dispatch(CRASH, executor=PICKY, batch_size=2, on_error="skip")
    assert payloads(results) == [2, 4, "die", 4, 10, 12]
    assert [bool(item.meta.get("skipped")) for item in results] == [
        False,
        False,
        True,
        True,
        False,
        False,
    ]
    assert "WorkerCrashed" in results[2].meta["error"]


async def test_a_crash_under_route_hands_each_item_to_the_route_function() -> None:
    def dead_letter(item: sa.Item, error: BaseException) -> sa.Item:
        return item.with_route("dead")

    async with sa.open_runtime(SETTINGS):
        results = await sa.dispatch(
            CRASH, executor=PICKY, batch_size=2, on_error=sa.Recover(dead_letter)
        )
    assert [item.route for item in results] == ["default"] * 2 + ["dead"] * 2 + ["default"] * 2


async def test_a_crash_under_retry_with_isolation_costs_only_the_crashing_item() -> None:
    retry = sa.Retry(max_attempts=2, backoff=sa.Backoff(0.01, 1.0, 0.01), isolate=True, then="skip")
    async with sa.open_runtime(SETTINGS):
        results = await sa.dispatch(CRASH, executor=PICKY, batch_size=6, on_error=retry)
    assert payloads(results) == [2, 4, "die", 8, 10, 12]
    assert [item.payload for item in results if item.meta.get("skipped")] == ["die"]


async def test_a_hang_under_halt_times_out_and_stops_the_run() -> None:
    async with sa.open_runtime(SETTINGS):
        with pytest.raises(sa.DispatchError) as caught:
            await sa.dispatch(HANG, executor=PICKY, batch_size=2, max_in_flight=1, timeout=0.5)
    assert isinstance(caught.value.reason, sa.CallTimeout)
    assert payloads(caught.value.partial_results) == [2, 4]


async def test_a_hang_under_skip_marks_its_batch_and_keeps_the_others() -> None:
    async with sa.open_runtime(SETTINGS):
        results = await sa.dispatch(
            HANG, executor=PICKY, batch_size=2, on_error="skip", timeout=0.5
        )
    assert payloads(results) == [2, 4, "hang", 4, 10, 12]
    assert "CallTimeout" in results[2].meta["error"] and results[3].meta["skipped"] is True


async def test_a_hang_under_route_and_under_retry() -> None:
    def dead_letter(item: sa.Item, error: BaseException) -> sa.Item:
        return item.with_route("slow")

    retry = sa.Retry(max_attempts=1, isolate=True, then="skip")
    async with sa.open_runtime(SETTINGS):
        routed = await sa.dispatch(
            HANG, executor=PICKY, batch_size=3, on_error=sa.Recover(dead_letter), timeout=0.5
        )
        isolated = await sa.dispatch(
            HANG, executor=PICKY, batch_size=6, on_error=retry, timeout=0.5
        )
    assert [item.route for item in routed] == ["slow"] * 3 + ["default"] * 3
    assert [item.payload for item in isolated if item.meta.get("skipped")] == ["hang"]
    assert payloads(isolated)[3:] == [8, 10, 12]


async def test_a_halted_run_cancels_its_other_batches_and_leaves_the_pool_usable() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        with pytest.raises(sa.DispatchError):
            # Batch 1 hangs in one worker while batch 2 fails at once in the other.
            await sa.dispatch(["hang", "bad"], executor=PICKY, batch_size=1, max_in_flight=2)
        pool = await runtime.pool("default")
        assert payloads(await sa.dispatch([1, 2, 3], executor=PICKY)) == [2, 4, 6]
        stats = pool.stats()
        # The hanging batch was abandoned, not killed: it may still run in its worker (the
        # pool's call_timeout ends it), but nothing waits and both workers live.
        assert (stats.live, stats.waiting) == (2, 0) and stats.in_flight <= 1


async def test_a_run_without_a_context_leaves_no_session_behind() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        pool = await runtime.pool("default")
        await sa.dispatch(range(10), executor=PICKY, batch_size=2)
        async with sa.dispatch_stream(range(10), executor=PICKY, batch_size=2) as results:
            assert len([item async for item in results]) == 10
        await sa.call_batch([1], executor=PICKY)
        assert pool.stats().sessions == 0
        kept = sa.Context.new(session_id="mine")
        await sa.dispatch(range(4), executor=PICKY, context=kept)
        assert pool.stats().sessions == 1  # a session the caller made is the caller's to end


async def test_the_default_pool_started_by_several_batches_at_once_starts_once() -> None:
    echo = sa.WorkerExecutor("builtins", "list")  # list(payloads): the payloads themselves
    async with sa.open_runtime() as runtime:  # no pool configured: "default" starts on use
        results = await sa.dispatch(range(20), executor=echo, batch_size=2, max_in_flight=4)
        pools = [child.id for child in runtime.root.which_children()]
    assert payloads(results) == list(range(20)) and "pools" in pools


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": True},
        {"timeout": float("nan")},
        {"timeout": 0},
        {"context": sa.Context("")},
        {"max_in_flight": 0},
    ],
)
async def test_a_bad_option_never_reaches_the_pool_and_a_good_dispatch_beside_it_runs(
    options: dict[str, Any],
) -> None:
    async with sa.open_runtime(SETTINGS):
        good: list[sa.Item] = []

        async def run_good() -> None:
            good.extend(await sa.dispatch(range(20), executor=PICKY, batch_size=2))

        calls_seen = sa.telemetry.capture([("slither", "pool", "call", "start")])
        with calls_seen as calls:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_good)
                await trio.testing.wait_all_tasks_blocked()  # the good dispatch is out
                with pytest.raises(ValueError):
                    await sa.dispatch([1, 2, 3], executor=PICKY, **options)
        # Refused in the caller: no batch of 3 was sent, while the good batches of 2 ran.
        assert [call.metadata["size"] for call in calls if call.metadata["size"] == 3] == []
        assert payloads(good) == [number * 2 for number in range(20)]
        assert len((await sa.current_runtime().pool()).workers()) == 2
