"""Pipes run in the parent: the seed's cases, routes, fan-out, policies, streaming, crashes."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing

import slither_actors as sa
from slither_actors import telemetry


def double(item: sa.Item, ctx: sa.Context) -> int:
    return item.payload * 2


def plus_ten(item: sa.Item, ctx: sa.Context) -> int:
    return item.payload + 10


def payloads(items: list[sa.Item]) -> list[Any]:
    return [item.payload for item in items]


class Poison(Exception):
    """What the test handlers raise for a bad payload."""


def refuse_bad(item: sa.Item, ctx: sa.Context) -> Any:
    if item.payload == "bad":
        raise Poison("bad payload")
    return item.payload


# --- the seed's cases -------------------------------------------------------------------------


class TwoLocal(sa.Pipe):
    stages = [sa.LocalStage("double", double), sa.LocalStage("plus", plus_ten)]


class HighLow(sa.Pipe):
    stages = [
        sa.RouterStage(
            "route", [(lambda item: item.payload >= 5, "high"), (lambda item: True, "low")]
        )
    ]
    outputs = ["high", "low"]


class SkipBad(sa.Pipe):
    stages = [sa.LocalStage("check", refuse_bad), sa.LocalStage("plus", plus_ten)]
    on_error = {"check": "skip"}


async def test_two_local_stages_run_in_order() -> None:
    result = await sa.run_pipe(TwoLocal, [1, 2, 3])
    assert result.payloads() == [12, 14, 16] and result.errors == []


async def test_a_router_sends_each_item_to_its_first_matching_output() -> None:
    result = await sa.run_pipe(HighLow, [1, 3, 5, 7, 2, 8])
    assert result.payloads("high") == [5, 7, 8]
    assert result.payloads("low") == [1, 3, 2]
    assert result["default"] == []


async def test_skip_drops_exactly_the_failing_item_and_records_it() -> None:
    result = await sa.run_pipe(SkipBad, [1, "bad", 3])
    assert result.payloads() == [11, 13]
    (record,) = result.errors
    assert (record.item.payload, record.stage, record.skipped) == ("bad", "check", True)
    assert record.reason == "Poison: bad payload"


async def test_empty_input_leaves_every_output_empty() -> None:
    result = await sa.run_pipe(HighLow, [])
    assert result.outputs == {"default": [], "high": [], "low": []} and result.errors == []


# --- routes, branches and fan-out -------------------------------------------------------------


def classify(item: sa.Item, ctx: sa.Context) -> Any:
    if item.payload < 0:
        return sa.RouteTo("negative")
    if item.payload == 0:
        return sa.RouteTo("tidy", "zero")
    return item.payload


def tidy(item: sa.Item, ctx: sa.Context) -> Any:
    return f"tidied {item.payload}"


class Branching(sa.Pipe):
    stages = [
        sa.LocalStage("classify", classify),
        sa.RouterStage("split", [(lambda item: item.payload > 100, "tidy")]),
        sa.LocalStage("grow", lambda item, ctx: item.payload + 1),
        sa.LocalStage("tidy", tidy),
    ]
    outputs = ["negative"]


async def test_routes_reach_outputs_and_later_stages_and_the_rest_flows_on() -> None:
    result = await sa.run_pipe(Branching, [-1, 0, 5, 500])
    assert result.payloads("negative") == [-1]
    # 0 jumps straight to tidy; 500 branches there from the router; nothing matches 5 at
    # the router, so it leaves through default without reaching grow.
    assert sorted(result.payloads(), key=str) == [5, "tidied 500", "tidied zero"]


def split_words(item: sa.Item, ctx: sa.Context) -> list[str]:
    return item.payload.split()


class FanOut(sa.Pipe):
    stages = [
        sa.LocalStage("split", split_words, cardinality="many"),
        sa.LocalStage("upper", lambda item, ctx: item.payload.upper()),
    ]


async def test_fan_out_children_carry_their_parent_id() -> None:
    parent = sa.Item.wrap("hello big world", meta={"source": "feed"})
    empty = sa.Item.wrap("")
    result = await sa.run_pipe(FanOut, [parent, empty])
    assert result.payloads() == ["HELLO", "BIG", "WORLD"]
    assert {item.meta["parent_id"] for item in result["default"]} == {parent.id}
    assert {item.meta["source"] for item in result["default"]} == {"feed"}
    assert len({item.id for item in result["default"]}) == 3
    (record,) = result.errors  # an item with no children still has a fate
    assert record.item.id == empty.id and record.reason == "fanned out to no items"


async def test_a_returned_item_keeps_the_input_id_and_its_route_is_honoured() -> None:
    def reroute(item: sa.Item, ctx: sa.Context) -> sa.Item:
        return sa.Item.wrap(item.payload + 1, meta={"seen": True}, route="negative")

    class Rerouting(sa.Pipe):
        stages = [sa.LocalStage("reroute", reroute), sa.LocalStage("never", double)]
        outputs = ["negative"]

    item = sa.Item.wrap(1)
    result = await sa.run_pipe(Rerouting, [item])
    (out,) = result["negative"]
    assert (out.id, out.payload, out.meta) == (item.id, 2, {"seen": True})


async def test_items_from_another_pipes_output_start_with_no_route() -> None:
    first = await sa.run_pipe(HighLow, [9])
    (high,) = first["high"]
    assert high.route == "high"
    again = await sa.run_pipe(TwoLocal, [high])
    assert again.payloads() == [28] and again.errors == []


# --- policies ---------------------------------------------------------------------------------


class Halting(sa.Pipe):
    stages = [sa.LocalStage("check", refuse_bad), sa.LocalStage("plus", plus_ten)]


async def test_halt_raises_with_what_had_reached_the_outputs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def arriving() -> AsyncIterator[Any]:
        yield 1
        yield 2
        await trio.sleep(1)  # 1 and 2 go all the way through before "bad" arrives
        yield "bad"
        yield 4

    with pytest.raises(sa.PipeError) as caught:
        await sa.run_pipe(Halting, arriving())
    error = caught.value
    assert (error.pipe, error.stage) == ("Halting", "check")
    assert isinstance(error.reason, Poison) and error.__cause__ is error.reason
    assert error.partial.payloads() == [11, 12]
    assert "pipe 'Halting' halted at stage 'check', item" in str(error)


class DeadLetters(sa.Pipe):
    stages = [sa.LocalStage("check", refuse_bad)]
    outputs = ["dead"]
    on_error = {"*": sa.ToOutput("dead")}


async def test_a_failed_item_can_leave_through_a_dead_letter_output() -> None:
    result = await sa.run_pipe(DeadLetters, [1, "bad"])
    assert result.payloads() == [1]
    (dead,) = result["dead"]
    assert dead.payload == "bad" and dead.meta["error"] == "Poison: bad payload"
    assert dead.meta["stage"] == "check" and result.errors == []


async def test_a_local_stage_retries_with_backoff_then_gives_up(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tries: dict[Any, int] = {}

    def flaky(item: sa.Item, ctx: sa.Context) -> Any:
        tries[item.payload] = tries.get(item.payload, 0) + 1
        if item.payload == "never" or tries[item.payload] < 2:
            raise ConnectionError("try again")
        return item.payload

    class Flaky(sa.Pipe):
        stages = [sa.LocalStage("flaky", flaky)]
        on_error = {"flaky": sa.Retry(3, then="skip")}

    result = await sa.run_pipe(Flaky, ["once", "never"])
    assert result.payloads() == ["once"]
    assert tries == {"once": 2, "never": 3}
    (record,) = result.errors
    assert record.attempts == 3 and record.skipped


async def test_handler_results_skip_fail_and_route() -> None:
    def decide(item: sa.Item, ctx: sa.Context) -> Any:
        match item.payload:
            case "skip":
                return sa.SkipItem("not wanted")
            case "fail":
                return sa.FailItem("cannot")
            case "park":
                return sa.RouteTo("parked", "parked!")
        return item.payload

    class Deciding(sa.Pipe):
        stages = [sa.LocalStage("decide", decide)]
        outputs = ["parked"]
        on_error = {"decide": "skip"}

    result = await sa.run_pipe(Deciding, ["keep", "skip", "fail", "park"])
    assert result.payloads() == ["keep"] and result.payloads("parked") == ["parked!"]
    assert [(record.item.payload, record.reason) for record in result.errors] == [
        ("skip", "not wanted"),
        ("fail", "ItemFailed: cannot"),
    ]


async def test_a_route_that_is_not_a_str_fails_its_item_and_the_others_go_on() -> None:
    def route_badly(item: sa.Item, ctx: sa.Context) -> Any:
        if item.payload == "to int":
            return sa.RouteTo(5)  # type: ignore[arg-type]
        if item.payload == "fan out":  # an Item built by hand is not checked: its child fails
            return [sa.Item(0, "lost", route=5), "kept"]  # type: ignore[arg-type]
        return [item.payload]

    class Routing(sa.Pipe):
        stages = [sa.LocalStage("route", route_badly, cardinality="many")]
        on_error = {"route": "skip"}

    result = await sa.run_pipe(Routing, ["a", "to int", "fan out", "b"])
    assert sorted(result.payloads()) == ["a", "b", "kept"]
    reasons = sorted(record.reason for record in result.errors)
    assert reasons == [
        "ValueError: destination must be a str, not int 5",
        "ValueError: routed to 5, which is neither an output nor a later stage",
    ]


async def test_a_batch_handler_takes_what_is_waiting() -> None:
    sizes: list[int] = []

    def total(items: list[sa.Item], ctx: sa.Context) -> list[Any]:
        sizes.append(len(items))
        return [item.payload * 10 if item.payload != 2 else sa.FailItem("two") for item in items]

    class Batched(sa.Pipe):
        stages = [sa.LocalStage("total", batch_handler=total, batch_size=4)]
        on_error = {"total": "skip"}

    result = await sa.run_pipe(Batched, list(range(10)))
    assert sorted(result.payloads()) == [0, 10, 30, 40, 50, 60, 70, 80, 90]
    assert max(sizes) <= 4 and sum(sizes) == 10
    assert [record.item.payload for record in result.errors] == [2]


def keep_payload(payload: Any) -> Any:
    return payload


# --- streaming, overlap and backpressure ------------------------------------------------------


async def test_the_first_output_arrives_before_the_input_is_exhausted() -> None:
    read: list[int] = []

    def numbers() -> Iterator[int]:
        for number in range(10_000):
            read.append(number)
            yield number

    async with sa.stream_pipe(TwoLocal, numbers()) as results:
        async for output, item in results:
            assert (output, item.payload) == ("default", 10)
            break
        await trio.testing.wait_all_tasks_blocked()
        # Items travel in chunks of 256. Per stage: one chunk in its inbox, one in hand, one
        # being sent on; one more in the feeder's hands. Far from the 10,000 of the input.
        assert len(read) <= (2 * 3 + 1) * 256


async def test_stages_work_at_the_same_time() -> None:
    first_busy, both_busy = trio.Event(), trio.Event()

    async def first(item: sa.Item, ctx: sa.Context) -> Any:
        if item.payload >= 2:  # busy with item 2 while the second stage has item 1
            first_busy.set()
            with trio.fail_after(5):
                await both_busy.wait()
        return item.payload

    async def second(item: sa.Item, ctx: sa.Context) -> Any:
        if item.payload == 1:
            with trio.fail_after(5):
                await first_busy.wait()
            both_busy.set()
        return item.payload

    class Overlap(sa.Pipe):
        stages = [sa.LocalStage("first", first), sa.LocalStage("second", second)]

    result = await sa.run_pipe(Overlap, [1, 2, 3])
    assert result.payloads() == [1, 2, 3] and both_busy.is_set()


async def test_concurrency_runs_several_items_of_a_stage_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    running = 0
    most = 0

    async def slow(item: sa.Item, ctx: sa.Context) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await trio.sleep(0.01)
        running -= 1
        return item.payload

    class Parallel(sa.Pipe):
        stages = [sa.LocalStage("slow", slow, concurrency=4)]

    result = await sa.run_pipe(Parallel, range(20))
    assert sorted(result.payloads()) == list(range(20)) and most == 4


async def test_leaving_a_stream_early_stops_the_run() -> None:
    read = 0

    def numbers() -> Iterator[int]:
        nonlocal read
        for number in range(1_000_000):
            read += 1
            yield number

    async with sa.stream_pipe(TwoLocal, numbers()) as results:
        async for _, item in results:
            if item.payload == 20:
                break
    # The block was left without waiting for a million items: the feeder stopped reading
    # and the stage actors are gone.
    read_when_left = read
    await trio.testing.wait_all_tasks_blocked()
    assert read == read_when_left < 2_000
    supervisor = results._run.supervisor
    assert supervisor is not None and not supervisor.alive


# --- a crashing stage -------------------------------------------------------------------------


async def test_a_stage_actor_crash_loses_nothing_from_its_inbox() -> None:
    started = trio.Event()

    async def hold_the_first(item: sa.Item, ctx: sa.Context) -> Any:
        if item.payload == 0:
            started.set()
            await trio.sleep_forever()  # until the crash
        return item.payload

    class Gated(sa.Pipe):
        stages = [sa.LocalStage("gated", hold_the_first)]

    with telemetry.capture([("slither", "supervisor", "child", "restarted")]) as restarts:
        async with sa.stream_pipe(Gated, range(5)) as results:
            await started.wait()
            (child,) = results._run.supervisor.which_children()
            await child.value.cast("crash")  # stage actors take no casts: this one crashes it
            await child.value.wait_exited()  # with item 0 still in hand
            seen = [item.payload async for _, item in results]
    assert sorted(seen) == [1, 2, 3, 4]
    (record,) = results.errors
    assert record.item.payload == 0 and "the stage crashed" in record.reason
    assert [event.metadata["child"] for event in restarts] == ["stage gated"]


# --- telemetry --------------------------------------------------------------------------------


async def test_a_run_and_its_stages_report_spans_with_counts() -> None:
    run_events = [("slither", "pipe", "run", kind) for kind in ("start", "stop", "exception")]
    stage_events = [("slither", "pipe", "stage", kind) for kind in ("start", "stop")]
    with telemetry.capture(run_events) as runs, telemetry.capture(stage_events) as stages:
        await sa.run_pipe(HighLow, [1, 7, 8], session_id="s-1")
        with pytest.raises(sa.PipeError):
            await sa.run_pipe(Halting, ["bad"])
    assert [event.name[-1] for event in runs] == ["start", "stop", "start", "exception"]
    stop = runs[1]
    assert stop.metadata == {"pipe": "HighLow", "session_id": "s-1"}
    assert (stop.measurements["output.high"], stop.measurements["output.low"]) == (2, 1)
    assert stop.measurements["errors"] == 0
    assert {(event.metadata["pipe"], event.metadata["stage"]) for event in stages} == {
        ("HighLow", "route"),
        ("Halting", "check"),
    }
    assert len([event for event in stages if event.name[-1] == "stop"]) == 3


# --- failures outside any item ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_an_input_that_fails_fails_the_run_with_its_own_error(kind: str) -> None:
    def broken() -> Iterator[int]:
        yield 1
        raise KeyError("the source broke")

    async def broken_async() -> AsyncIterator[int]:
        yield 1
        raise KeyError("the source broke")

    with pytest.raises(KeyError, match="the source broke"):
        await sa.run_pipe(TwoLocal, broken() if kind == "sync" else broken_async())


async def test_a_stage_that_keeps_crashing_ends_the_run_with_supervisor_exhausted(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Crashing(sa.Pipe):
        stages = [sa.LocalStage("crashing", double)]

    with pytest.raises(sa.SupervisorExhausted, match="stage crashing"):
        # An endless input nobody takes from: the stage stays up, held back by its outputs.
        async with sa.stream_pipe(Crashing, itertools.count()) as results:
            with trio.fail_after(10):
                while True:  # crash it as often as it comes back, until its supervisor quits
                    (child,) = results._run.supervisor.which_children()
                    if child.running:
                        await child.value.cast("crash")
                    await trio.sleep(0.01)


async def test_a_stage_buffer_bounds_the_chunks_that_come_into_it() -> None:
    sizes: list[int] = []

    def double_all(payloads: list[int]) -> list[int]:
        sizes.append(len(payloads))
        return [payload * 2 for payload in payloads]

    class SmallInbox(sa.Pipe):
        stages = [
            sa.LocalStage("keep", keep_payload, takes="payload"),
            sa.LocalStage(
                "double", batch_handler=double_all, batch_size=100, buffer=4, takes="payload"
            ),
        ]

    result = await sa.run_pipe(SmallInbox, range(1_000))
    assert result.payloads() == [number * 2 for number in range(1_000)]
    assert max(sizes) == 4  # chunks of 256 leave "keep", cut to the 4 "double" holds


async def test_a_million_items_stream_through_in_flat_memory() -> None:
    # Memory stays flat when the input is never more than a few chunks ahead of the
    # consumer, at every point of the run, not just at its start.
    consumed = 0
    most_ahead = 0

    def numbers() -> Iterator[int]:
        nonlocal most_ahead
        for number in range(1_000_000):
            most_ahead = max(most_ahead, number - consumed)
            yield number

    async with sa.stream_pipe(TwoLocal, numbers()) as results:
        async for _, item in results:
            assert item.payload == consumed * 2 + 10  # in order, each one through both stages
            consumed += 1
    assert consumed == 1_000_000
    assert most_ahead <= (2 * 3 + 1) * 256  # as in the test of the first output above
