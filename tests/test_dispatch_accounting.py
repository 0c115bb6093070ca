"""Accounting as a property: whatever fails and whatever the policy, no item is lost or doubled."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing
from hypothesis import given, settings, strategies as st

import slither_actors as sa

POLICIES = st.one_of(
    st.just("halt"),
    st.just("skip"),
    st.just(sa.Recover(lambda item, error: item.with_route("dead"))),
    st.builds(
        sa.Retry,
        max_attempts=st.integers(1, 3),
        backoff=st.just(sa.Backoff(initial=0.5, factor=2.0, maximum=4.0)),
        isolate=st.booleans(),
        then=st.sampled_from(["halt", "skip"]),
    ),
)


class Bad(Exception):
    """A bad item is in the batch."""


def make_executor(bad: set[int], flaky: set[int], delays: list[float]) -> sa.LocalExecutor:
    """Fails a batch holding a bad payload always, and one holding a flaky payload the first
    time that payload is seen; each call sleeps the next of ``delays``."""
    calls = 0

    async def run(payloads: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        await trio.sleep(delays[calls % len(delays)])
        if bad.intersection(payloads):
            raise Bad(sorted(bad.intersection(payloads)))
        first_time = flaky.intersection(payloads)
        if first_time:
            flaky.difference_update(first_time)
            raise ConnectionError(sorted(first_time))
        return [payload * 2 for payload in payloads]

    return sa.LocalExecutor(run)


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(0, 40),
    data=st.data(),
    policy=POLICIES,
    batch_size=st.integers(1, 8),
    max_in_flight=st.integers(1, 4),
    ordering=st.sampled_from(["preserve", "as_completed"]),
    delays=st.lists(st.sampled_from([0.0, 0.1, 0.5, 1.0]), min_size=1, max_size=6),
    streamed=st.booleans(),
)
def test_every_item_comes_back_once_or_is_accounted_for_by_the_error(
    count: int,
    data: st.DataObject,
    policy: Any,
    batch_size: int,
    max_in_flight: int,
    ordering: str,
    delays: list[float],
    streamed: bool,
) -> None:
    numbers = list(range(count))
    bad = data.draw(st.sets(st.sampled_from(numbers), max_size=3) if numbers else st.just(set()))
    flaky = data.draw(st.sets(st.sampled_from(numbers), max_size=3) if numbers else st.just(set()))
    flaky -= bad
    ever_flaky = set(flaky)
    inputs = sa.Item.wrap_many(numbers)
    options: dict[str, Any] = {
        "executor": make_executor(bad, flaky, delays),
        "batch_size": batch_size,
        "max_in_flight": max_in_flight,
        "ordering": ordering,
        "on_error": policy,
    }

    async def run() -> tuple[list[sa.Item], sa.DispatchError | None]:
        collected: list[sa.Item] = []
        try:
            if streamed:
                async with sa.dispatch_stream(inputs, **options) as results:
                    async for item in results:
                        collected.append(item)
            else:
                collected = await sa.dispatch(inputs, **options)
        except sa.DispatchError as error:
            return collected, error
        return collected, None

    results, error = trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))

    by_id = {item.id: item for item in inputs}

    def check_item(item: sa.Item) -> None:
        original = by_id[item.id]
        # A failed batch's items all come back as they went in, good neighbours too.
        if item.meta.get("skipped"):
            assert item.payload == original.payload and item.route == "default"
        elif item.route == "dead":
            assert item.payload == original.payload and item.meta == {}
        else:
            assert item.payload == original.payload * 2 and item.meta == {}

    handed = results + (error.partial_results if error is not None else [])
    for item in handed:
        check_item(item)
    handed_ids = [item.id for item in handed]
    assert len(handed_ids) == len(set(handed_ids)), "an item came back twice"
    if error is None:
        assert sorted(handed_ids) == [item.id for item in inputs], "an item was lost"
        if ordering == "preserve":
            assert handed_ids == [item.id for item in inputs]
    else:
        assert isinstance(error.reason, Bad | ConnectionError)
        assert error.batch_ref >= 1
        if not streamed:
            partial = [item.id for item in error.partial_results]
            assert partial == sorted(partial), "partial results are in input order"
    isolating = isinstance(policy, sa.Retry) and policy.isolate
    if error is None and isolating:
        skipped = {item.payload for item in handed if item.meta.get("skipped")}
        assert bad <= skipped <= bad | ever_flaky, "isolation costs a bad item only itself"
        if policy.max_attempts > 1:
            assert skipped == bad, "a flaky item passes on its next attempt"
    if not bad and not ever_flaky:
        assert error is None and all(not item.meta for item in handed)
