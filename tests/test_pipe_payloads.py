"""Local stages and routers whose handlers take the payload alone (``takes="payload"``), and
how a stage works through a chunk at a time without losing an item's fate."""

from __future__ import annotations

import functools
import operator
from collections.abc import Awaitable
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import slither_actors as sa
from slither_actors import telemetry


class Bad(Exception):
    """What the test handlers raise for a payload they refuse."""


# --- the payload form -------------------------------------------------------------------------


async def test_a_builtin_takes_each_payload_and_the_items_keep_their_ids_and_meta() -> None:
    class Shout(sa.Pipe):
        stages = [
            sa.LocalStage("upper", str.upper, takes="payload"),
            sa.LocalStage("tag", functools.partial(operator.add, "> "), takes="payload"),
        ]

    inputs = [sa.Item.wrap("ada", meta={"n": 1}), sa.Item.wrap("bob")]
    result = await sa.run_pipe(Shout, inputs)
    assert result.payloads() == ["> ADA", "> BOB"]
    assert [(item.id, dict(item.meta)) for item in result["default"]] == [
        (inputs[0].id, {"n": 1}),
        (inputs[1].id, {}),
    ]


async def test_a_payload_handler_may_return_anything_an_item_handler_may() -> None:
    def decide(text: str) -> Any:
        match text:
            case "skip":
                return sa.SkipItem("not wanted")
            case "fail":
                return sa.FailItem("cannot")
            case "park":
                return sa.RouteTo("parked", "parked!")
            case "raise":
                raise Bad(text)
            case "item":
                return sa.Item.wrap("as an item", meta={"made": True}, route="parked")
        return text

    class Deciding(sa.Pipe):
        stages = [sa.LocalStage("decide", decide, takes="payload")]
        outputs = ["parked"]
        on_error = {"decide": "skip"}

    inputs = sa.Item.wrap_many(["keep", "skip", "fail", "park", "raise", "item", "too"])
    result = await sa.run_pipe(Deciding, inputs)
    assert result.payloads() == ["keep", "too"]
    assert result.payloads("parked") == ["parked!", "as an item"]
    assert result["parked"][1].id == inputs[5].id and result["parked"][1].meta == {"made": True}
    assert [(record.item.payload, record.reason) for record in result.errors] == [
        ("skip", "not wanted"),
        ("fail", "ItemFailed: cannot"),
        ("raise", "Bad: raise"),
    ]


async def test_a_payload_batch_handler_takes_a_list_of_payloads() -> None:
    seen: list[list[Any]] = []

    def tens(numbers: list[int]) -> list[Any]:
        seen.append(numbers)
        return [number * 10 if number != 2 else sa.FailItem("two") for number in numbers]

    class Batched(sa.Pipe):
        stages = [sa.LocalStage("tens", batch_handler=tens, batch_size=4, takes="payload")]
        on_error = {"tens": "skip"}

    result = await sa.run_pipe(Batched, list(range(10)))
    assert result.payloads() == [0, 10, 30, 40, 50, 60, 70, 80, 90]
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [record.item.payload for record in result.errors] == [2]


async def test_a_payload_batch_handler_that_returns_too_few_fails_its_whole_slice() -> None:
    class Short(sa.Pipe):
        stages = [sa.LocalStage("short", batch_handler=lambda xs: xs[1:], takes="payload")]
        on_error = {"short": "skip"}

    result = await sa.run_pipe(Short, [1, 2, 3])
    assert result.payloads() == []
    assert {record.reason for record in result.errors} == {
        "TypeError: the batch handler returned 2 results for 3 items"
    }


async def test_router_predicates_take_the_payload() -> None:
    class Sizes(sa.Pipe):
        stages = [
            sa.RouterStage(
                "size",
                [(lambda n: n >= 100, "big"), (lambda n: n >= 10, "medium")],
                takes="payload",
            )
        ]
        outputs = ["big", "medium"]

    result = await sa.run_pipe(Sizes, [5, 50, 500, 7, 70])
    assert result.payloads("big") == [500]
    assert result.payloads("medium") == [50, 70]
    assert result.payloads() == [5, 7]
    assert {item.route for item in result["medium"]} == {"medium"}


async def test_a_predicate_that_raises_fails_its_item_alone() -> None:
    def even(number: int) -> bool:
        if number == 3:
            raise Bad("three")
        return number % 2 == 0

    class Parity(sa.Pipe):
        stages = [sa.RouterStage("parity", [(even, "even")], takes="payload")]
        outputs = ["even", "dead"]
        on_error = {"parity": sa.ToOutput("dead")}

    result = await sa.run_pipe(Parity, range(6))
    assert result.payloads("even") == [0, 2, 4]
    assert result.payloads() == [1, 5]
    (dead,) = result["dead"]
    assert dead.payload == 3 and dead.meta["error"] == "Bad: three"


@pytest.mark.parametrize("how", ["async", "in_thread", "concurrency", "many"])
async def test_the_payload_form_works_with_every_way_of_running_a_handler(how: str) -> None:
    async def later(number: int) -> int:
        await trio.lowlevel.checkpoint()
        return number * 2

    def twice(number: int) -> Any:
        return [number * 2] if how == "many" else number * 2

    options: dict[str, Any] = {
        "async": {"handler": later},
        "in_thread": {"handler": twice, "in_thread": True},
        "concurrency": {"handler": later, "concurrency": 3},
        "many": {"handler": twice, "cardinality": "many"},
    }[how]

    class Doubling(sa.Pipe):
        stages = [sa.LocalStage("double", takes="payload", **options)]

    result = await sa.run_pipe(Doubling, range(100))
    assert sorted(result.payloads()) == [number * 2 for number in range(100)]
    assert result.errors == []


async def test_a_sync_handler_that_returns_awaitables_has_each_awaited_in_order() -> None:
    async def doubled(number: int) -> int:
        await trio.lowlevel.checkpoint()
        if number == 5:
            raise Bad("five")
        return number * 2

    def deferred(number: int) -> Awaitable[int]:  # not an async def: found out as it runs
        return doubled(number)

    class Deferred(sa.Pipe):
        stages = [sa.LocalStage("later", deferred, takes="payload")]
        on_error = {"later": "skip"}

    result = await sa.run_pipe(Deferred, range(200))
    assert result.payloads() == [number * 2 for number in range(200) if number != 5]
    assert [record.reason for record in result.errors] == ["Bad: five"]


@pytest.mark.parametrize("takes", ["item", "payload"])
async def test_a_stage_span_per_item_when_observed(takes: str) -> None:
    handler = str.upper if takes == "payload" else (lambda item, ctx: item.payload.upper())

    class Observed(sa.Pipe):
        stages = [
            sa.LocalStage("upper", handler, takes=takes),
            sa.RouterStage("route", [(lambda value: False, "never")], takes=takes),
        ]
        outputs = ["never"]

    with telemetry.capture([("slither", "pipe", "stage", "stop")]) as stops:
        result = await sa.run_pipe(Observed, ["a", "b", "c"])
    assert result.payloads() == ["A", "B", "C"]
    assert sorted(event.metadata["stage"] for event in stops) == ["route"] * 3 + ["upper"] * 3
    assert {event.metadata["size"] for event in stops} == {1}


# --- arguments --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sa.LocalStage("a", str.upper, takes="payloads"), "takes must be 'item' or"),
        (lambda: sa.LocalStage("a", str.upper, takes=None), "'payload', not None"),
        (lambda: sa.LocalStage("a", batch_handler=len, takes="Payload"), "not 'Payload'"),
        (lambda: sa.RouterStage("r", [(bool, "x")], takes="value"), "takes must be 'item'"),
        (lambda: sa.RouterStage("r", [(bool, "x")], takes=True), "'payload', not True"),
    ],
)
def test_takes_is_item_or_payload(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_takes_defaults_to_the_item() -> None:
    assert sa.LocalStage("a", str.upper).takes == "item"
    assert sa.RouterStage("r", [(bool, "x")]).takes == "item"


# --- a chunk at a time --------------------------------------------------------------------------


async def test_a_handler_that_raises_mid_chunk_fails_that_item_and_is_called_once_per_item() -> (
    None
):
    calls: list[int] = []

    def refuse_sevens(number: int) -> int:
        calls.append(number)
        if number % 7 == 3:
            raise Bad(number)
        return number

    class Refusing(sa.Pipe):
        stages = [sa.LocalStage("refuse", refuse_sevens, takes="payload")]
        on_error = {"refuse": "skip"}

    result = await sa.run_pipe(Refusing, range(300))
    assert calls == list(range(300))
    assert result.payloads() == [number for number in range(300) if number % 7 != 3]
    assert [record.item.payload for record in result.errors] == list(range(3, 300, 7))


async def test_a_retried_item_keeps_its_place_in_the_output(
    autojump_clock: trio.testing.MockClock,
) -> None:
    tries: dict[int, int] = {}

    def flaky(number: int) -> Any:
        tries[number] = tries.get(number, 0) + 1
        if number in (3, 40) and tries[number] < 3:
            return sa.FailItem("not yet") if number == 3 else _raise(Bad(number))
        return number

    class Flaky(sa.Pipe):
        stages = [sa.LocalStage("flaky", flaky, takes="payload")]
        on_error = {"flaky": sa.Retry(3, backoff=sa.Backoff(1.0, 1.0, 1.0))}

    result = await sa.run_pipe(Flaky, range(100))
    assert result.payloads() == list(range(100)) and result.errors == []
    assert tries[3] == tries[40] == 3 and set(tries.values()) == {1, 3}


def _raise(error: Exception) -> Any:
    raise error


@pytest.mark.parametrize(
    ("refusal", "crashed"),
    [
        # A raise stops the stage's pass over the chunk: the items after it are not begun,
        # go back to the run, and the restarted stage handles them.
        ("raise", [2]),
        # A FailItem does not: the handler has already been called on the rest of the
        # chunk, so those items were begun, and the crash takes them too.
        ("fail", [2, 3, 4, 5, 6, 7, 8, 9]),
    ],
)
async def test_a_crash_while_a_chunk_is_half_done_accounts_for_every_item(
    refusal: str, crashed: list[int], autojump_clock: trio.testing.MockClock
) -> None:
    first_try = trio.Event()
    calls: list[int] = []

    def refuse_two_once(number: int) -> Any:
        calls.append(number)
        if number == 2 and not first_try.is_set():
            first_try.set()
            if refusal == "raise":
                raise Bad(number)
            return sa.FailItem("not yet")
        return number

    class Refusing(sa.Pipe):
        stages = [sa.LocalStage("refuse", refuse_two_once, takes="payload")]
        # A long backoff: the stage is still waiting to try item 2 again when it crashes.
        on_error = {"refuse": sa.Retry(2, backoff=sa.Backoff(60.0, 1.0, 60.0))}

    with trio.fail_after(10):
        async with sa.stream_pipe(Refusing, range(10)) as results:
            await first_try.wait()
            await trio.sleep(0.05)  # the outbox sends 0 and 1 on after 5 ms
            (child,) = results._run.supervisor.which_children()
            await child.value.cast("crash")  # stage actors take no casts: this one crashes it
            seen = [item.payload async for _, item in results]
    assert sorted(seen) == sorted(set(range(10)) - set(crashed))
    assert sorted(record.item.payload for record in results.errors) == crashed
    assert all(record.reason.startswith("the stage crashed") for record in results.errors)
    assert sorted(calls) == list(range(10))  # each called once: none lost, none run twice
