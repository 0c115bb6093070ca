"""Accounting as a property: every input item of a pipe ends in one place, or its children do."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import given, settings, strategies as st

import slither_actors as sa

POLICIES = st.one_of(
    st.just("skip"),
    st.just("halt"),
    st.just(sa.ToOutput("dead")),
    st.builds(
        sa.Retry,
        max_attempts=st.integers(1, 3),
        backoff=st.just(sa.Backoff(initial=0.1, factor=2.0, maximum=1.0)),
        then=st.sampled_from(["halt", "skip"]),
    ),
)


class Bad(Exception):
    """A payload the stage refuses."""


def children_of(number: int) -> list[int]:
    return [number * 10 + index for index in range(number % 3)]


def make_pipe(bad_first: set[int], bad_children: set[int], policies: dict[str, Any]) -> type:
    async def first(item: sa.Item, ctx: sa.Context) -> Any:
        await trio.sleep(0.01 * (item.payload % 4))
        if item.payload in bad_first:
            if item.payload % 2:
                return sa.FailItem("odd and bad")
            raise Bad(item.payload)
        return item.payload

    def fan_out(item: sa.Item, ctx: sa.Context) -> list[int]:
        return children_of(item.payload)

    def check(item: sa.Item, ctx: sa.Context) -> Any:
        if item.payload in bad_children:
            raise Bad(item.payload)
        return item.payload

    class Accounted(sa.Pipe):
        stages = [
            sa.LocalStage("first", first, concurrency=3),
            sa.LocalStage("fan_out", fan_out, cardinality="many"),
            sa.LocalStage("check", check),
            sa.RouterStage("parity", [(lambda item: item.payload % 2 == 0, "even")]),
        ]
        outputs = ["even", "dead"]
        on_error = policies

    return Accounted


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(0, 30),
    data=st.data(),
    first_policy=POLICIES,
    check_policy=POLICIES,
)
def test_every_input_item_has_exactly_one_fate(
    count: int, data: st.DataObject, first_policy: Any, check_policy: Any
) -> None:
    numbers = list(range(count))
    all_children = [child for number in numbers for child in children_of(number)]
    bad_first = data.draw(
        st.sets(st.sampled_from(numbers), max_size=4) if numbers else st.just(set())
    )
    bad_children = data.draw(
        st.sets(st.sampled_from(all_children), max_size=4) if all_children else st.just(set())
    )
    pipe = make_pipe(bad_first, bad_children, {"first": first_policy, "check": check_policy})
    inputs = sa.Item.wrap_many(numbers)

    async def run() -> tuple[sa.PipeResult | None, sa.PipeError | None]:
        try:
            return await sa.run_pipe(pipe, inputs), None
        except sa.PipeError as error:
            return None, error

    result, error = trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))
    seen = result if result is not None else error.partial  # type: ignore[union-attr]
    places = [item for items in seen.outputs.values() for item in items]
    places += [record.item for record in seen.errors]
    ids = Counter(item.id for item in places)
    assert all(times == 1 for times in ids.values()), "an item ended in two places"
    roots = Counter(item.meta.get("parent_id", item.id) for item in places)
    known = {item.id for item in inputs}
    assert set(roots) <= known, "an item came from nowhere"
    if error is not None:
        assert error.stage in ("first", "check")
        return
    assert set(roots) == known, "an input item was lost"
    for item in inputs:
        fanned = [place for place in places if place.meta.get("parent_id") == item.id]
        if fanned:
            assert len(fanned) == len(children_of(item.payload))
            assert sorted(place.id for place in fanned) == sorted({place.id for place in fanned})
        else:
            assert roots[item.id] == 1
    for output, items in seen.outputs.items():
        for item in items:
            if output == "even":
                assert item.payload % 2 == 0
            if output == "dead":
                assert "error" in item.meta


# --- the payload form gives the same fates as the item form ------------------------------------


@attrs.frozen
class Plan:
    """What each stage of `payload_or_item_pipe` does with which input number."""

    raising: frozenset[int]  # the local handler raises
    flaky: frozenset[int]  # the local handler raises at the first try only
    failing: frozenset[int]  # the local handler returns FailItem
    skipped: frozenset[int]  # ... SkipItem
    sent_aside: frozenset[int]  # ... RouteTo("aside", ...)
    batch_failing: frozenset[int]  # the batch handler returns FailItem
    router_raising: frozenset[int]  # the router's first predicate raises
    batch_size: int
    buffer: int | None
    two_routes: bool


def payload_or_item_pipe(takes: str, plan: Plan, policies: dict[str, Any]) -> type[sa.Pipe]:
    """A local stage, a batch stage and a router, whose handlers take ``takes``, doing what
    ``plan`` says: the same pipe, in either form."""
    tries: Counter[int] = Counter()

    def local(number: int) -> Any:
        tries[number] += 1
        if number in plan.raising or (number in plan.flaky and tries[number] == 1):
            raise Bad(number)
        if number in plan.failing:
            return sa.FailItem(f"{number} failed")
        if number in plan.skipped:
            return sa.SkipItem(f"{number} skipped")
        if number in plan.sent_aside:
            return sa.RouteTo("aside", number * 100)
        return number + 1000

    def batch(values: list[int]) -> list[Any]:
        return [
            sa.FailItem("no") if value - 1000 in plan.batch_failing else value * 2
            for value in values
        ]

    def by_three(value: int) -> bool:
        number = value // 2 - 1000
        if number in plan.router_raising:
            raise Bad(f"router {number}")
        return number % 3 == 0

    def by_five(value: int) -> bool:
        return (value // 2 - 1000) % 5 == 0

    routes = [(by_three, "three"), (by_five, "five")][: 2 if plan.two_routes else 1]
    if takes == "payload":
        stages = [
            sa.LocalStage("local", local, takes="payload", buffer=plan.buffer),
            sa.LocalStage(
                "batch", batch_handler=batch, batch_size=plan.batch_size, takes="payload"
            ),
            sa.RouterStage("route", routes, takes="payload"),
        ]
    else:
        stages = [
            sa.LocalStage("local", lambda item, ctx: local(item.payload), buffer=plan.buffer),
            sa.LocalStage(
                "batch",
                batch_handler=lambda items, ctx: batch([item.payload for item in items]),
                batch_size=plan.batch_size,
            ),
            sa.RouterStage(
                "route",
                [(lambda item, p=predicate: p(item.payload), name) for predicate, name in routes],
            ),
        ]
    return type(
        f"Pipe_{takes}",
        (sa.Pipe,),
        {"stages": stages, "outputs": ["three", "five", "aside", "dead"], "on_error": policies},
    )


def numbers_among(numbers: list[int]) -> st.SearchStrategy[frozenset[int]]:
    return st.frozensets(st.sampled_from(numbers), max_size=6) if numbers else st.just(frozenset())


@settings(max_examples=120, deadline=None)
@given(
    count=st.integers(0, 160),
    data=st.data(),
    local_policy=POLICIES,
    batch_policy=POLICIES,
    route_policy=POLICIES,
    arriving=st.booleans(),
)
def test_payload_handlers_give_the_same_fates_as_item_handlers(
    count: int,
    data: st.DataObject,
    local_policy: Any,
    batch_policy: Any,
    route_policy: Any,
    arriving: bool,
) -> None:
    numbers = list(range(count))
    plan = Plan(
        *(data.draw(numbers_among(numbers)) for _ in range(7)),
        batch_size=data.draw(st.integers(1, 70)),
        buffer=data.draw(st.none() | st.integers(1, 200)),
        two_routes=data.draw(st.booleans()),
    )
    metas = data.draw(st.lists(st.booleans(), min_size=count, max_size=count))
    pauses = data.draw(st.frozensets(st.sampled_from(numbers))) if numbers else frozenset()
    policies = {"local": local_policy, "batch": batch_policy, "route": route_policy}

    def run(takes: str) -> tuple[Any, Any, list[Any] | None]:
        """The run's outputs and records, each item told by its input position, or the
        stage and position a halt names."""
        inputs = [
            sa.Item.wrap(number, meta={"n": number} if with_meta else None)
            for number, with_meta in zip(numbers, metas, strict=True)
        ]
        position = {item.id: index for index, item in enumerate(inputs)}

        async def arrive() -> Any:  # an async input, read a few at a time
            for item in inputs:
                yield item
                if item.payload in pauses:
                    await trio.sleep(0.001)

        async def go() -> sa.PipeResult | sa.PipeError:
            pipe = payload_or_item_pipe(takes, plan, policies)
            try:
                return await sa.run_pipe(pipe, arrive() if arriving else inputs)
            except sa.PipeError as error:
                return error

        outcome = trio.run(go, clock=trio.testing.MockClock(autojump_threshold=0))
        if isinstance(outcome, sa.PipeError):
            return None, None, [outcome.stage, position[outcome.item_id]]

        def told(item: sa.Item) -> tuple[Any, ...]:
            return (position[item.id], item.payload, dict(item.meta), item.route)

        outputs = {name: [told(item) for item in items] for name, items in outcome.outputs.items()}
        records = sorted(
            (told(record.item), record.stage, record.reason, record.attempts, record.skipped)
            for record in outcome.errors
        )
        return outputs, records, None

    payload_outputs, payload_records, payload_halt = run("payload")
    item_outputs, item_records, item_halt = run("item")
    assert (payload_halt is None) == (item_halt is None), (payload_halt, item_halt)
    if payload_halt is not None:
        return  # which stage halts first is up to the scheduler; both did halt
    assert payload_records == item_records
    assert payload_outputs is not None and item_outputs is not None
    # The default output is in input order in both; the others may interleave stages.
    assert payload_outputs["default"] == item_outputs["default"]
    assert [index for index, *_ in payload_outputs["default"]] == sorted(
        index for index, *_ in payload_outputs["default"]
    )
    for name in ("three", "five", "aside", "dead"):
        assert sorted(payload_outputs[name]) == sorted(item_outputs[name]), name
    fates = Counter(told[0] for items in payload_outputs.values() for told in items)
    fates.update(record[0][0] for record in payload_records)
    assert fates == Counter(numbers), "an input item has no fate, or two"
