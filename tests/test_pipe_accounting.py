"""Accounting as a property: every input item of a pipe ends in one place, or its children do."""

from __future__ import annotations

from collections import Counter
from typing import Any

import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

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
