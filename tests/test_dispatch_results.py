"""`Results`: the columns a dispatch keeps give the same items, ids, metas and
routes as the items themselves, whichever way they are read, and as the Item path does."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings, strategies as st

import slither_actors as sa
from slither_actors._dispatch._batch import Batch

POLICIES = st.one_of(
    st.just("skip"),
    st.just(sa.Recover(lambda item, error: item.put_meta({"why": "bad"}).with_route("dead"))),
    st.builds(
        sa.Retry,
        max_attempts=st.integers(1, 2),
        backoff=st.just(sa.Backoff(initial=0.5, factor=2.0, maximum=4.0)),
        isolate=st.booleans(),
        then=st.just("skip"),
    ),
)
STRATEGIES = st.one_of(
    st.builds(sa.FixedBatch, st.integers(1, 7)),
    st.builds(sa.WeightedBatch, st.integers(1, 20), st.just(lambda payload: payload % 5 + 1)),
    st.builds(sa.KeyPartition, st.just(lambda payload: payload % 3), st.integers(1, 5)),
)


class Doubling:
    """Doubles each payload; a batch holding a bad one fails. ``by_items`` takes the Item
    path (``execute``), otherwise the payload path (``execute_payloads``)."""

    name = "doubling"

    def __init__(self, bad: set[int], delays: list[float]) -> None:
        self.bad, self.delays, self.calls = bad, delays, 0

    async def execute_payloads(self, payloads: list[int], context: Any, timeout: Any) -> list[int]:
        self.calls += 1
        await trio.sleep(self.delays[self.calls % len(self.delays)])
        if self.bad.intersection(payloads):
            raise ValueError(sorted(self.bad.intersection(payloads)))
        return [payload * 2 for payload in payloads]

    async def execute(self, items: list[sa.Item], context: Any, timeout: Any) -> list[int]:
        return await self.execute_payloads([item.payload for item in items], context, timeout)


class DoublingItems:
    """The same work through ``execute`` alone, which gets the input `Item`s."""

    name = "doubling items"

    def __init__(self, bad: set[int], delays: list[float]) -> None:
        self.doubling = Doubling(bad, delays)

    async def execute(self, items: list[sa.Item], context: Any, timeout: Any) -> list[int]:
        assert all(isinstance(item, sa.Item) for item in items)
        return await self.doubling.execute(items, context, timeout)


def _items(numbers: list[int], marked: set[int]) -> list[Any]:
    """Plain payloads, and Items with a meta and a route for the ``marked`` ones."""
    return [
        sa.Item.wrap(number, meta={"n": number}, route="marked") if number in marked else number
        for number in numbers
    ]


def _fields(items: Any) -> list[tuple[Any, Any, dict[str, Any], str]]:
    return [(item.id, item.payload, dict(item.meta), item.route) for item in items]


@settings(max_examples=150, deadline=None)
@given(
    data=st.data(),
    count=st.integers(0, 30),
    strategy=STRATEGIES,
    policy=POLICIES,
    max_in_flight=st.integers(1, 3),
    delays=st.lists(st.sampled_from([0.0, 0.1, 0.5]), min_size=1, max_size=4),
)
def test_the_columns_read_every_way_alike_and_as_the_item_path(
    data: st.DataObject,
    count: int,
    strategy: Any,
    policy: Any,
    max_in_flight: int,
    delays: list[float],
) -> None:
    numbers = list(range(count))
    some = st.sets(st.sampled_from(numbers), max_size=4) if numbers else st.just(set())
    bad, marked = data.draw(some), data.draw(some)
    inputs = _items(numbers, marked)
    wrapped = [value if isinstance(value, sa.Item) else sa.Item.wrap(value) for value in inputs]
    options: dict[str, Any] = {
        "strategy": strategy,
        "max_in_flight": max_in_flight,
        "on_error": policy,
    }

    async def run() -> tuple[sa.Results, Any, list[sa.Results]]:
        columns = await sa.dispatch(wrapped, executor=Doubling(bad, delays), **options)
        by_items = await sa.dispatch(wrapped, executor=DoublingItems(bad, delays), **options)
        chunks = []
        async with sa.dispatch_stream(wrapped, executor=Doubling(bad, delays), **options) as stream:
            async for chunk in stream.chunks():
                chunks.append(chunk)
        return columns, by_items, chunks

    results, by_items, chunks = trio.run(run, clock=trio.testing.MockClock(autojump_threshold=0))

    items = results.items()
    assert isinstance(results, sa.Results) and len(results) == len(items) == count
    assert _fields(results) == _fields(items) == _fields(by_items)
    assert _fields(results[index] for index in range(len(results))) == _fields(items)
    assert _fields(results[-index] for index in range(1, len(results) + 1)) == _fields(
        reversed(items)
    )
    assert results.payloads() == [item.payload for item in items]
    assert results.ids() == [item.id for item in items]
    assert [item for chunk in results.chunks() for item in chunk] == items
    assert results == items and results == by_items and items == results.items()
    assert results[1:4] == items[1:4]
    # The stream, read a batch at a time, gives the same results in the same order.
    assert _fields(item for chunk in chunks for item in chunk) == _fields(items)
    # Each input id once; the meta and route of a marked item travel with it.
    assert sorted(results.ids()) == sorted(item.id for item in wrapped)
    for item in results:
        number = item.payload if item.meta.get("skipped") or item.route == "dead" else None
        original = next(value for value in wrapped if value.id == item.id)
        if number is None:
            assert item.payload == original.payload * 2
        if original.payload in marked:
            assert item.meta["n"] == original.payload
            assert item.route in ("marked", "dead")


def test_results_index_like_a_list_and_say_what_is_wrong() -> None:
    ids = sa.Item.wrap_many([10, 20, 30])
    first = Batch.of_items(ids[:2])
    second = Batch.of_items(ids[2:])
    results = sa.Results([first, Batch(range(0), []), second])
    assert len(results) == 3 and results[2].payload == 30 and results[-3].payload == 10
    with pytest.raises(IndexError, match=r"Results index 3 out of range \(3 items\)"):
        results[3]
    with pytest.raises(IndexError, match="index -4 out of range"):
        results[-4]
    with pytest.raises(TypeError, match="indices must be int or slice, not str"):
        results["a"]  # type: ignore[call-overload]
    assert results + [ids[0]] == [*ids, ids[0]]  # noqa: RUF005 (the + is what is tested)
    assert [ids[0]] + results == [ids[0], *ids]  # noqa: RUF005
    assert results != [1, 2, 3] and results != "abc"
    assert results != ids[0] and ids[0] != results  # an item is no sequence of items
    assert results == tuple(ids)
    assert ids[1] in results and results.index(ids[2]) == 2
    assert repr(results) == f"Results({ids!r})"
    many = sa.Results([Batch.of_values(list(range(25)))])
    assert repr(many) == "<Results of 25 items in 1 batches>"
    with pytest.raises(TypeError, match="unhashable"):
        hash(results)


def test_fresh_ids_are_kept_as_a_range_and_given_back_as_ints() -> None:
    batch = Batch.of_values(list(range(64)))
    assert isinstance(batch.ids, range) and len(batch.ids) == 64
    results = sa.Results([batch.with_payloads([value + 1 for value in range(64)])])
    assert results.ids() == list(batch.ids) and results.payloads()[:2] == [1, 2]
    # Items given in another order keep their ids as a list.
    items = sa.Item.wrap_many([1, 2, 3])
    reordered = Batch.of_items([items[2], items[0], items[1]])
    assert reordered.ids == [items[2].id, items[0].id, items[1].id]


async def test_a_stream_read_item_by_item_then_by_chunks_gives_each_result_once() -> None:
    executor = sa.LocalExecutor(lambda payloads: [payload + 1 for payload in payloads])
    async with sa.dispatch_stream(range(10), executor=executor, batch_size=4) as stream:
        first = await stream.__anext__()
        rest = [chunk.payloads() async for chunk in stream.chunks()]
    assert first.payload == 1
    assert rest == [[2, 3, 4], [5, 6, 7, 8], [9, 10]]
