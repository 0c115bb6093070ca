"""Dispatch in the parent: the seed's cases, strategies, ordering, policies and laziness."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing

import slither_actors as sa
from slither_actors import telemetry


def doubled(payloads: list[int]) -> list[int]:
    return [payload * 2 for payload in payloads]


DOUBLE = sa.LocalExecutor(doubled)


def payloads(items: list[sa.Item]) -> list[Any]:
    return [item.payload for item in items]


def sizes(batches: list[list[sa.Item]]) -> list[int]:
    return [len(batch) for batch in batches]


class Poison(Exception):
    """What the test executors raise for a bad item."""


def fails_on_bad(payloads: list[Any]) -> list[Any]:
    if "bad" in payloads:
        raise Poison(f"bad item among {len(payloads)}")
    return [payload * 2 for payload in payloads]


# --- the seed's cases -----------------------------------------------------------------------


async def test_doubles_a_list_in_batches_of_two() -> None:
    results = await sa.dispatch([1, 2, 3], executor=DOUBLE, batch_size=2, max_in_flight=2)
    assert payloads(results) == [2, 4, 6]


async def test_ten_items_in_batches_of_three_come_back_in_order() -> None:
    results = await sa.dispatch(
        range(1, 11), executor=sa.LocalExecutor(lambda xs: [x * 10 for x in xs]), batch_size=3
    )
    assert payloads(results) == [x * 10 for x in range(1, 11)]


async def test_empty_input_gives_an_empty_list() -> None:
    assert await sa.dispatch([], executor=DOUBLE) == []


async def test_one_batch_holds_everything_below_the_batch_size() -> None:
    calls: list[int] = []

    def count(payloads: list[int]) -> list[int]:
        calls.append(len(payloads))
        return payloads

    await sa.dispatch([1, 2, 3], executor=sa.LocalExecutor(count), batch_size=10)
    assert calls == [3]


async def test_halt_raises_with_the_completed_items_in_input_order() -> None:
    items = [1, 2, "bad", 4, 5, 6]
    with pytest.raises(sa.DispatchError) as caught:
        await sa.dispatch(
            items, executor=sa.LocalExecutor(fails_on_bad), batch_size=2, max_in_flight=1
        )
    error = caught.value
    assert error.batch_ref == 2
    assert isinstance(error.reason, Poison) and error.__cause__ is error.reason
    assert payloads(error.partial_results) == [2, 4]


async def test_skip_marks_every_item_of_a_failed_batch_and_keeps_the_rest() -> None:
    results = await sa.dispatch(
        [1, "bad", 3, 4], executor=sa.LocalExecutor(fails_on_bad), batch_size=2, on_error="skip"
    )
    assert payloads(results) == [1, "bad", 6, 8]
    assert [item.meta.get("skipped", False) for item in results] == [True, True, False, False]
    assert results[0].meta["error"] == "Poison: bad item among 2"


async def test_call_batch_runs_one_batch_as_it_is() -> None:
    results = await sa.call_batch([1, 2, 3], executor=DOUBLE)
    assert payloads(results) == [2, 4, 6]
    assert await sa.call_batch([], executor=DOUBLE) == []
    with pytest.raises(Poison):
        await sa.call_batch(["bad"], executor=sa.LocalExecutor(fails_on_bad))


async def test_a_stream_of_five_in_batches_of_two() -> None:
    async with sa.dispatch_stream(range(1, 6), executor=DOUBLE, batch_size=2) as results:
        seen = [item.payload async for item in results]
    assert seen == [2, 4, 6, 8, 10]


def test_fixed_batch_cuts_seven_into_three_three_one() -> None:
    assert sizes(sa.split(sa.FixedBatch(3), range(7))) == [3, 3, 1]


def test_weighted_batch_splits_before_the_limit_and_sends_heavy_items_alone() -> None:
    strategy = sa.WeightedBatch(50, weight=lambda payload: payload)
    batches = sa.split(strategy, [10, 20, 30, 40, 50])
    assert [payloads(batch) for batch in batches] == [[10, 20], [30], [40], [50]]
    heavy = sa.split(strategy, [10, 80, 10])
    assert [payloads(batch) for batch in heavy] == [[10], [80], [10]]


def test_key_partition_batches_a_key_together_in_input_order() -> None:
    keys = ["a", "b", "a", "c", "b", "a"]
    strategy = sa.KeyPartition(key=lambda payload: payload[0], max_batch=10)
    batches = sa.split(strategy, [(key, index) for index, key in enumerate(keys)])
    assert len(batches) == 3
    by_key = {batch[0].payload[0]: [payload[1] for payload in payloads(batch)] for batch in batches}
    assert by_key == {"a": [0, 2, 5], "b": [1, 4], "c": [3]}


def test_key_partition_lets_the_largest_group_go_when_too_much_is_held() -> None:
    strategy = sa.KeyPartition(key=lambda payload: payload % 3, max_batch=10, max_held=4)
    batches = sa.split(strategy, [0, 1, 2, 3, 4])  # the fifth item is one too many
    assert [payloads(batch) for batch in batches] == [[0, 3], [1, 4], [2]]


async def test_batch_refs_count_from_one() -> None:
    with telemetry.capture([("slither", "dispatch", "batch", "start")]) as seen:
        await sa.dispatch(range(5), executor=DOUBLE, batch_size=2, max_in_flight=1)
    assert [event.metadata["batch_ref"] for event in seen] == [1, 2, 3]


# --- options and their errors -----------------------------------------------------------------


async def test_defaults_come_from_the_runtime_settings() -> None:
    calls: list[int] = []

    def count(payloads: list[int]) -> list[int]:
        calls.append(len(payloads))
        return payloads

    settings = sa.Settings(dispatch=sa.DispatchSettings(batch_size=4, on_error="skip"))
    async with sa.open_runtime(settings):
        results = await sa.dispatch(range(10), executor=sa.LocalExecutor(count))
        skipped = await sa.dispatch(["bad"], executor=sa.LocalExecutor(fails_on_bad))
    assert calls == [4, 4, 2] and len(results) == 10
    assert skipped[0].meta["skipped"] is True
    calls.clear()
    await sa.dispatch(range(100), executor=sa.LocalExecutor(count))  # outside: the defaults
    assert calls == [64, 36]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"timeout": -1.0}, "timeout"),
        ({"ordering": "sideways"}, "sideways"),
        ({"on_error": "explode"}, "explode"),
        ({"batch_size": 3, "strategy": sa.FixedBatch(3)}, "not both"),
        ({"batch_size": True}, "batch_size must be an int, not bool True"),
        ({"max_in_flight": 2.5}, "max_in_flight must be an int, not float 2.5"),
        ({"max_in_flight": float("nan")}, "max_in_flight must be an int, not float nan"),
        ({"timeout": float("nan")}, "timeout must be a number of seconds above 0, not nan"),
        ({"timeout": 0}, "timeout must be a number of seconds above 0, not 0"),
        ({"timeout": True}, "timeout must be a number of seconds, not bool True"),
        ({"timeout": "5"}, "timeout must be a number of seconds, not str '5'"),
        ({"ordering": 5}, "ordering must be 'preserve' or 'as_completed', not 5"),
        ({"strategy": 5}, "strategy must be a batching strategy"),
        ({"strategy": sa.FixedBatch}, "strategy must be a batching strategy"),
        ({"context": "run-1"}, "context must be a Context or None, not str 'run-1'"),
        ({"context": sa.Context("")}, "context.session_id must not be empty"),
    ],
)
@pytest.mark.parametrize("call", ["dispatch", "dispatch_stream"])
async def test_bad_options_fail_before_anything_runs(
    options: dict[str, Any], message: str, call: str
) -> None:
    def never(payloads: list[Any]) -> list[Any]:
        raise AssertionError("ran")

    with pytest.raises(ValueError, match=message):
        if call == "dispatch":
            await sa.dispatch([1], executor=sa.LocalExecutor(never), **options)
        else:  # as the block is entered, not from a task that dies with nobody told
            async with sa.dispatch_stream([1], executor=sa.LocalExecutor(never), **options):
                raise AssertionError("entered")


@pytest.mark.parametrize(
    ("items", "executor", "message"),
    [
        (5, DOUBLE, "items must be an iterable or an async iterable, not int"),
        ([1], 5, "executor must be an executor .* not int 5"),
        ([1], sa.LocalExecutor, "executor must be an executor .* not LocalExecutor"),
        ([1], object(), "executor must be an executor"),
    ],
)
async def test_items_and_an_executor_of_the_wrong_kind_fail_in_the_caller(
    items: Any, executor: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await sa.dispatch(items, executor=executor)
    with pytest.raises(ValueError, match=message):
        async with sa.dispatch_stream(items, executor=executor):
            raise AssertionError("entered")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"executor": 5}, "executor must be an executor"),
        ({"executor": DOUBLE, "timeout": float("nan")}, "timeout must be .* not nan"),
        ({"executor": DOUBLE, "timeout": True}, "timeout must be a number of seconds, not bool"),
        ({"executor": DOUBLE, "context": "run-1"}, "context must be a Context or None"),
    ],
)
async def test_call_batch_checks_its_arguments_before_it_runs(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await sa.call_batch([1, 2], **options)
    assert payloads(await sa.call_batch([1, 2], executor=DOUBLE)) == [2, 4]  # and carries on


async def test_an_executor_refuses_a_bad_timeout_when_called_directly() -> None:
    with pytest.raises(ValueError, match="timeout must be a number of seconds above 0, not nan"):
        await DOUBLE.execute([sa.Item.wrap(1)], sa.Context.new(), float("nan"))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sa.LocalExecutor(5), "function must be a callable, not int 5"),
        (lambda: sa.WorkerExecutor(5, "f"), "module must be a str, not int 5"),
        (lambda: sa.WorkerExecutor("m", ""), "function must not be empty"),
        (lambda: sa.WorkerExecutor("m", "f", pool=3), "pool must be a str, not int 3"),
        (lambda: sa.ToolExecutor(5), "command must be a str, not int 5"),
        (lambda: sa.ToolExecutor("shout", pool=None), "pool must be a str, not NoneType"),
    ],
)
def test_executors_refuse_targets_of_the_wrong_kind(make: Any, message: str) -> None:
    # A ToolExecutor(5) used to reach a worker, which died of it.
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("function", [lambda xs: xs[:-1], lambda xs: tuple(xs), lambda xs: None])
async def test_a_result_of_the_wrong_length_names_the_executor_batch_and_lengths(
    function: Any,
) -> None:
    with pytest.raises(sa.DispatchError) as caught:
        await sa.dispatch([1, 2, 3, 4], executor=sa.LocalExecutor(function), batch_size=2)
    reason = caught.value.reason
    assert isinstance(reason, sa.BatchLengthError)
    assert reason.batch_ref == 1 and reason.expected == 2
    assert "<lambda>" in str(reason) and "batch 1 of 2 items" in str(reason)


async def test_items_keep_their_ids_meta_and_routes() -> None:
    item = sa.Item.wrap(3, meta={"source": "test"}, route="odd")
    (result,) = await sa.dispatch([item], executor=DOUBLE)
    assert (result.id, result.payload, result.meta, result.route) == (item.id, 6, item.meta, "odd")


async def test_payloads_and_items_mixed_in_one_batch_keep_what_they_carry() -> None:
    marked = sa.Item.wrap(10, meta={"source": "feed"}, route="odd")
    results = await sa.dispatch([1, marked, 2], executor=DOUBLE, batch_size=3)
    assert payloads(results) == [2, 20, 4]
    assert results[1].id == marked.id and results[1].meta == {"source": "feed"}
    assert results[0].id < results[2].id and marked.id not in (results[0].id, results[2].id)
    assert [item.route for item in results] == ["default", "odd", "default"]
    with pytest.raises(TypeError):  # meta is never to be changed in place
        results[0].meta["x"] = 1  # type: ignore[index]


# --- ordering -------------------------------------------------------------------------------


async def sleep_for_payload(payloads: list[float]) -> list[float]:
    await trio.sleep(sum(payloads))
    return payloads


async def test_as_completed_hands_on_batches_as_they_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    delays = [0.5, 0.1, 0.3, 0.2]
    executor = sa.LocalExecutor(sleep_for_payload)
    finished = await sa.dispatch(
        delays, executor=executor, batch_size=1, max_in_flight=4, ordering="as_completed"
    )
    assert payloads(finished) == [0.1, 0.2, 0.3, 0.5]
    kept = await sa.dispatch(delays, executor=executor, batch_size=1, max_in_flight=4)
    assert payloads(kept) == delays


async def test_a_blocked_first_batch_stops_new_batches_at_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    release = trio.Event()
    taken: list[int] = []

    async def first_waits(payloads: list[int]) -> list[int]:
        taken.extend(payloads)
        if 0 in payloads:
            await release.wait()
        return payloads

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: sa.dispatch(
                range(100), executor=sa.LocalExecutor(first_waits), batch_size=1, max_in_flight=3
            )
        )
        await trio.testing.wait_all_tasks_blocked()
        # Batch 0 out, 1 to 5 finished behind it and held: the window is twice the lanes.
        assert sorted(taken) == [0, 1, 2, 3, 4, 5]
        release.set()
    assert sorted(taken) == list(range(100))


# --- laziness -------------------------------------------------------------------------------


async def test_a_generator_is_read_only_as_far_as_the_window() -> None:
    pulled: list[int] = []

    def numbers() -> Iterator[int]:
        for number in range(1_000_000):
            pulled.append(number)
            yield number

    async with sa.dispatch_stream(
        numbers(), executor=DOUBLE, batch_size=10, max_in_flight=2
    ) as results:
        first = []
        async for item in results:
            first.append(item.payload)
            if len(first) == 15:
                break
        await trio.testing.wait_all_tasks_blocked()
        # Two batches taken by the consumer, one waiting to be taken, four in the window
        # (twice the lanes).
        assert len(pulled) == 10 * (2 + 1 + 4)
    assert first == [number * 2 for number in range(15)]


async def test_an_async_input_is_consumed_lazily_too() -> None:
    pulled: list[int] = []

    async def numbers() -> AsyncIterator[int]:
        for number in range(10_000):
            pulled.append(number)
            yield number

    async with sa.dispatch_stream(
        numbers(), executor=DOUBLE, batch_size=5, max_in_flight=2
    ) as results:
        async for item in results:
            if item.payload == 8:
                break
        await trio.testing.wait_all_tasks_blocked()
        assert len(pulled) == 5 * (1 + 1 + 4)  # taken, waiting, the window (twice the lanes)
    results_all = await sa.dispatch(numbers(), executor=DOUBLE, batch_size=7)
    assert payloads(results_all) == [number * 2 for number in range(10_000)]


async def test_leaving_a_stream_early_cancels_what_is_in_flight() -> None:
    cancelled: list[bool] = []

    async def slow(payloads: list[int]) -> list[int]:
        if payloads[0] > 0:
            try:
                await trio.sleep_forever()
            except trio.Cancelled:
                cancelled.append(True)
                raise
        return payloads

    async with sa.dispatch_stream(
        range(10), executor=sa.LocalExecutor(slow), batch_size=1, max_in_flight=3
    ) as results:
        async for _ in results:
            break
    assert cancelled == [True, True, True]


async def test_a_halted_stream_hands_over_what_completed_then_raises() -> None:
    seen: list[int] = []
    with pytest.raises(sa.DispatchError) as caught:
        async with sa.dispatch_stream(
            [1, 2, 3, "bad", 5],
            executor=sa.LocalExecutor(fails_on_bad),
            batch_size=1,
            max_in_flight=1,
        ) as results:
            async for item in results:
                seen.append(item.payload)
    assert seen == [2, 4, 6]
    assert caught.value.batch_ref == 4 and caught.value.partial_results == []


# --- error policies -------------------------------------------------------------------------


async def test_recover_replaces_each_failed_item() -> None:
    def dead_letter(item: sa.Item, error: BaseException) -> sa.Item:
        return item.with_route("dead").put_meta({"why": type(error).__name__})

    results = await sa.dispatch(
        [1, "bad", 3],
        executor=sa.LocalExecutor(fails_on_bad),
        batch_size=2,
        on_error=sa.Recover(dead_letter),
    )
    assert [(item.payload, item.route) for item in results] == [
        (1, "dead"),
        ("bad", "dead"),
        (6, "default"),
    ]
    assert results[0].meta["why"] == "Poison"


async def test_the_old_name_route_still_recovers_with_a_deprecation_warning() -> None:
    def dead_letter(item: sa.Item, error: BaseException) -> sa.Item:
        return item.with_route("dead")

    with pytest.warns(DeprecationWarning, match="sa.Route is now sa.Recover") as warned:
        policy = sa.Route(dead_letter)
    assert warned[0].filename == __file__  # it points at the caller
    assert isinstance(policy, sa.Recover)
    results = await sa.dispatch(["bad"], executor=sa.LocalExecutor(fails_on_bad), on_error=policy)
    assert [item.route for item in results] == ["dead"]


async def test_retry_runs_a_flaky_batch_again_after_a_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    def flaky(payloads: list[int]) -> list[int]:
        attempts.append(trio.current_time())
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return payloads

    retry = sa.Retry(max_attempts=3, backoff=sa.Backoff(initial=1.0, factor=2.0, maximum=10.0))
    results = await sa.dispatch([7], executor=sa.LocalExecutor(flaky), on_error=retry)
    assert payloads(results) == [7]
    assert [round(later - earlier, 3) for earlier, later in itertools.pairwise(attempts)] == [
        1.0,
        2.0,
    ]


async def test_retry_gives_up_after_its_attempts_and_then_halts_or_skips(
    autojump_clock: trio.testing.MockClock,
) -> None:
    calls: list[int] = []

    def broken(payloads: list[int]) -> list[int]:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(sa.DispatchError):
        await sa.dispatch([1], executor=sa.LocalExecutor(broken), on_error=sa.Retry(2))
    assert len(calls) == 2
    skipped = await sa.dispatch(
        [1], executor=sa.LocalExecutor(broken), on_error=sa.Retry(2, then="skip")
    )
    assert skipped[0].meta["skipped"] is True and len(calls) == 4


async def test_retry_on_picks_the_failures_worth_another_try() -> None:
    calls: list[int] = []

    def wrong(payloads: list[int]) -> list[int]:
        calls.append(1)
        raise KeyError("not transient")

    retry = sa.Retry(5, retry_on=(ConnectionError,), then="skip")
    results = await sa.dispatch([1], executor=sa.LocalExecutor(wrong), on_error=retry)
    assert results[0].meta["skipped"] is True and len(calls) == 1


async def test_isolation_costs_a_poison_item_only_itself(
    autojump_clock: trio.testing.MockClock,
) -> None:
    items: list[Any] = list(range(50))
    items[17] = "bad"
    retry = sa.Retry(max_attempts=1, isolate=True, then="skip")
    results = await sa.dispatch(
        items, executor=sa.LocalExecutor(fails_on_bad), batch_size=50, on_error=retry
    )
    skipped = [item.payload for item in results if item.meta.get("skipped")]
    assert skipped == ["bad"]
    assert payloads(results) == [x * 2 if x != "bad" else "bad" for x in items]


async def test_a_slow_local_batch_times_out_through_the_policy(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results = await sa.dispatch(
        [0.1, 9.0],
        executor=sa.LocalExecutor(sleep_for_payload),
        batch_size=1,
        timeout=1.0,
        on_error="skip",
    )
    assert results[0].meta == {} and results[1].meta["skipped"] is True
    assert "CallTimeout" in results[1].meta["error"]


async def test_a_sync_function_can_run_in_a_thread() -> None:
    results = await sa.dispatch(range(6), executor=sa.LocalExecutor(doubled, in_thread=True))
    assert payloads(results) == [0, 2, 4, 6, 8, 10]


# --- telemetry ------------------------------------------------------------------------------


async def test_each_batch_reports_start_and_stop_with_its_count() -> None:
    names = [("slither", "dispatch", "batch", kind) for kind in ("start", "stop", "exception")]
    context = sa.Context.new(pipe="orders").with_stage("score")
    with telemetry.capture(names) as seen:
        await sa.dispatch(
            [1, 2, 3, "bad"],
            executor=sa.LocalExecutor(fails_on_bad),
            batch_size=2,
            max_in_flight=1,
            on_error="skip",
            context=context,
        )
    kinds = [event.name[-1] for event in seen]
    assert kinds == ["start", "stop", "start", "exception"]
    start, stop = seen[0], seen[1]
    assert start.metadata["batch_ref"] == 1 and start.metadata["size"] == 2
    assert start.metadata["executor"] == "fails_on_bad"
    assert (start.metadata["pipe"], start.metadata["stage"]) == ("orders", "score")
    assert stop.measurements["count"] == 2 and stop.measurements["duration"] >= 0


# --- nothing completed is lost when a run halts ---------------------------------------------


@pytest.mark.parametrize("ordering", ["preserve", "as_completed"])
async def test_a_batch_waiting_for_a_slow_consumer_is_in_the_partial_results(
    ordering: str, autojump_clock: trio.testing.MockClock
) -> None:
    async def bad_later(payloads: list[Any]) -> list[Any]:
        if "bad" in payloads:
            await trio.sleep(0.1)
            raise Poison("bad")
        return [payload * 2 for payload in payloads]

    seen: list[Any] = []
    with pytest.raises(sa.DispatchError) as caught:
        async with sa.dispatch_stream(
            [1, "bad", 3, 4],
            executor=sa.LocalExecutor(bad_later),
            batch_size=1,
            max_in_flight=2,
            ordering=ordering,
        ) as results:
            await trio.sleep(0.5)  # busy: batch 1 waits to be taken while batch 2 fails
            async for item in results:
                seen.append(item.payload)
    assert seen == [] and payloads(caught.value.partial_results) == [2]


async def test_a_halt_during_isolation_keeps_the_halves_that_completed() -> None:
    retry = sa.Retry(max_attempts=1, isolate=True)  # then halt
    with pytest.raises(sa.DispatchError) as caught:
        await sa.dispatch(
            [1, 2, 3, "bad"], executor=sa.LocalExecutor(fails_on_bad), batch_size=4, on_error=retry
        )
    assert payloads(caught.value.partial_results) == [2, 4, 6]
    assert "3 completed items in partial_results" in str(caught.value)


async def test_a_failing_route_function_halts_the_run_with_its_error() -> None:
    def broken_route(item: sa.Item, error: BaseException) -> sa.Item:
        raise LookupError("no dead-letter queue")

    with pytest.raises(sa.DispatchError) as caught:
        await sa.dispatch(
            [1, "bad"], executor=sa.LocalExecutor(fails_on_bad), on_error=sa.Recover(broken_route)
        )
    assert isinstance(caught.value.reason, LookupError)
    assert isinstance(caught.value.reason.__context__, Poison)


# --- timeouts of local functions and validation of strategies --------------------------------


def block_for(payloads: list[float]) -> list[float]:
    time.sleep(sum(payloads))
    return payloads


@pytest.mark.parametrize("in_thread", [False, True])
async def test_a_sync_local_function_past_its_timeout_fails_its_batch(in_thread: bool) -> None:
    results = await sa.dispatch(
        [0.0, 0.3],
        executor=sa.LocalExecutor(block_for, in_thread=in_thread),
        batch_size=1,
        timeout=0.1,
        on_error="skip",
    )
    assert [bool(item.meta.get("skipped")) for item in results] == [False, True]
    assert "CallTimeout" in results[1].meta["error"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: sa.FixedBatch(2.5),
        lambda: sa.FixedBatch(0),
        lambda: sa.KeyPartition(key=str, max_batch=1.5),
        lambda: sa.KeyPartition(key=str, max_held=0),
        lambda: sa.WeightedBatch(0),
        lambda: sa.FixedBatch(True),
        lambda: sa.KeyPartition(key=str, max_batch=True),
        lambda: sa.WeightedBatch(float("nan")),
        lambda: sa.WeightedBatch(True),
        lambda: sa.WeightedBatch("10"),
        # An infinite weight limit held the whole input in one batch.
        lambda: sa.WeightedBatch(float("inf")),
    ],
)
def test_strategies_refuse_sizes_that_are_not_counts(make: Any) -> None:
    with pytest.raises(ValueError, match="must be"):
        make()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sa.WeightedBatch(10, weight=5), "weight must be a callable, not int 5"),
        (lambda: sa.KeyPartition(key=5), "key must be a callable, not int 5"),
        (lambda: sa.split(5, [1]), "strategy must be a batching strategy"),
    ],
)
def test_strategies_refuse_functions_that_cannot_be_called(make: Any, message: str) -> None:
    # They used to fail in the middle of the run, with a bare TypeError.
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sa.Retry(max_attempts=0), "max_attempts must be an int, 1 or more, not 0"),
        (lambda: sa.Retry(max_attempts=2.5), "max_attempts must be an int, not float 2.5"),
        (lambda: sa.Retry(max_attempts=True), "max_attempts must be an int, not bool True"),
        (lambda: sa.Retry(max_attempts=float("inf")), "max_attempts must be an int"),
        (lambda: sa.Retry(max_attempts="3"), "max_attempts must be an int, not str '3'"),
        (lambda: sa.Retry(backoff=0.1), "backoff must be a Backoff, not float 0.1"),
        (lambda: sa.Retry(retry_on=(1,)), "retry_on must be exception types or a predicate"),
        (lambda: sa.Retry(retry_on=5), "retry_on must be a callable, not int 5"),
        (lambda: sa.Retry(then=5), "then must be 'halt' or 'skip'"),
        (lambda: sa.Retry(then=sa.Retry()), "then must be 'halt' or 'skip'"),
        (lambda: sa.Recover(5), "function must be a callable, not int 5"),
    ],
)
def test_policies_refuse_arguments_of_the_wrong_kind(make: Any, message: str) -> None:
    # Retry(backoff=0.1) used to crash the run with an AttributeError at the first failure.
    with pytest.raises(ValueError, match=message):
        make()


async def test_retry_on_one_exception_type_retries_that_type_only() -> None:
    # A class alone is callable, so it was taken for a predicate that held for everything.
    attempts: list[int] = []

    def fails(payloads: list[Any]) -> list[Any]:
        attempts.append(1)
        raise KeyError("not worth another try")

    policy = sa.Retry(retry_on=ZeroDivisionError, backoff=sa.Backoff(0.0), then="skip")
    (result,) = await sa.dispatch([1], executor=sa.LocalExecutor(fails), on_error=policy)
    assert result.meta["skipped"] and len(attempts) == 1


async def test_a_result_that_is_not_a_list_is_named_as_such() -> None:
    with pytest.raises(sa.DispatchError) as caught:
        await sa.dispatch([1, 2], executor=sa.LocalExecutor(tuple))
    assert "returned a tuple, not a list of results, for batch 1 of 2 items" in str(
        caught.value.reason
    )


# --- two failures at once -------------------------------------------------------------------


async def test_a_halt_and_a_failing_input_at_once_are_both_raised() -> None:
    # A lane halts on batch [0] just as another lane, reading the input, meets its error:
    # the two come out together, in a group, rather than one dropping the other.
    reading, failing = trio.Event(), trio.Event()

    async def source() -> AsyncIterator[int]:
        yield 0
        reading.set()
        await failing.wait()
        raise KeyError("the input broke")

    async def refuse(numbers: list[int]) -> list[int]:
        await reading.wait()  # the other lane is reading the input
        failing.set()  # it wakes up and fails as this batch does
        raise ValueError("refused")

    with pytest.RaisesGroup(sa.DispatchError, KeyError) as caught:
        await sa.dispatch(
            source(), executor=sa.LocalExecutor(refuse), batch_size=1, max_in_flight=2
        )
    (halt,) = caught.value.exceptions[:1]
    assert isinstance(halt, sa.DispatchError) and isinstance(halt.reason, ValueError)


async def test_a_halt_alone_is_raised_alone() -> None:
    async def refuse(numbers: list[int]) -> list[int]:
        raise ValueError("refused")

    with pytest.raises(sa.DispatchError, match="refused"):
        await sa.dispatch([1, 2], executor=sa.LocalExecutor(refuse), batch_size=1)
