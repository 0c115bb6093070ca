"""Stores: direct reads, serialized writes, table kinds, atomic reload, load failures."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import slither_actors as sa
from tests.stores_for_tests import FailingStore, FeatureStore


async def test_get_returns_the_value_or_none_and_fetch_raises_key_error() -> None:
    async with sa.open_store(FeatureStore) as store:
        assert store.get("features", "user:42") == {"tier": "gold"}
        assert store.get("features", "user:missing") is None
        assert store.get("features", "user:missing", "fallback") == "fallback"
        with pytest.raises(KeyError, match="no key 'nope' in table 'features' of store"):
            store.fetch("features", "nope")
        with pytest.raises(sa.UnknownTable, match="no table 'feature' \\(tables: features"):
            store.get("feature", "user:42")


async def test_put_then_update_twice_then_delete() -> None:
    async with sa.open_store(FeatureStore) as store:
        await store.put("features", "counter", 0)
        assert await store.update("features", "counter", lambda value: value + 1) == 1
        assert await store.update("features", "counter", lambda value: value + 1) == 2
        assert store.get("features", "counter") == 2
        assert await store.delete("features", "counter") is True
        assert await store.delete("features", "counter") is False
        assert store.get("features", "counter") is None


async def test_update_on_a_missing_key_writes_nothing_and_says_so() -> None:
    with sa.telemetry.capture([("slither", "store", "write")]) as writes:
        async with sa.open_store(FeatureStore) as store:
            assert await store.update("features", "ghost", lambda value: 1) is sa.NOT_FOUND
            assert store.get("features", "ghost") is None
    assert writes == []


async def test_a_failing_update_function_writes_nothing_and_the_store_carries_on() -> None:
    async with sa.open_store(FeatureStore) as store:
        with pytest.raises(ZeroDivisionError):
            await store.update("features", "user:42", lambda value: 1 / 0)
        assert store.ref.alive and store.get("features", "user:42") == {"tier": "gold"}
        with pytest.raises(sa.UnknownTable):  # refused in the caller, the store lives on
            await store.put("no_such_table", "k", 1)
        assert store.ref.alive


async def test_bulk_insert_of_100_and_write_events_with_counts() -> None:
    with sa.telemetry.capture([("slither", "store", "write")]) as writes:
        async with sa.open_store(FeatureStore, name="features") as store:
            count = await store.bulk_insert("features", ((f"k{n}", n) for n in range(100)))
            assert await store.bulk_insert("features", []) == 0  # wrote nothing: no event
            await store.put("features", "one", 1)
            assert count == 100 and store.size("features") == 2 + 100 + 1
    assert [(event.measurements["count"], event.metadata["operation"]) for event in writes] == [
        (100, "bulk_insert"),
        (1, "put"),
    ]
    assert writes[0].metadata == {
        "store": "features",
        "table": "features",
        "operation": "bulk_insert",
    }


async def test_match_with_a_wildcard_select_fold_and_keys() -> None:
    async with sa.open_store(FeatureStore) as store:
        await store.put("features", "user:9", {"tier": "gold", "age": 3})
        gold = store.match("features", value={"tier": "gold"})
        assert sorted(key for key, _ in gold) == ["user:42", "user:9"]
        assert store.match("features", key="user:7", value=sa.ANY) == [
            ("user:7", {"tier": "silver"})
        ]
        assert store.select("features", lambda key, value: key.endswith("7")) == [
            ("user:7", {"tier": "silver"})
        ]
        assert store.fold("features", lambda total, key, value: total + 1, 0) == 3
        assert sorted(store.keys("features")) == ["user:42", "user:7", "user:9"]


async def test_an_ordered_set_keeps_its_keys_in_order_and_reads_ranges() -> None:
    async with sa.open_store(FeatureStore) as store:
        await store.bulk_insert("events", [(30, "c"), (10, "a"), (20, "b"), (40, "d")])
        events = store.table("events")
        assert events.keys() == [10, 20, 30, 40]
        assert events.range(20, 40) == [(20, "b"), (30, "c")]
        assert events.range(20, 40, inclusive=True) == [(20, "b"), (30, "c"), (40, "d")]
        assert events.range(stop=20) == [(10, "a")]
        assert (events.first(), events.last()) == (10, 40)
        await store.delete("events", 10)
        assert events.keys() == [20, 30, 40]


class Bags(sa.Store):
    tables = (sa.Table("tags", "bag"), sa.Table("clicks", "duplicate_bag"))


async def test_bags_keep_several_values_and_get_does_not_crash() -> None:
    async with sa.open_store(Bags) as store:
        for tag in ("red", "blue", "red"):
            await store.put("tags", "item", tag)
            await store.put("clicks", "item", tag)
        assert store.lookup("tags", "item") == ["red", "blue"]  # distinct values
        assert store.lookup("clicks", "item") == ["red", "blue", "red"]  # every value
        assert store.get("tags", "item") == "red"  # the first value, not a crash
        assert (store.size("tags"), store.size("clicks")) == (2, 3)
        assert store.match("clicks", value="red") == [("item", "red"), ("item", "red")]
        assert store.lookup("tags", "other") == []
        with pytest.raises(TypeError, match="is a bag"):
            await store.update("tags", "item", str.upper)


async def test_bad_writes_are_refused_in_the_caller_and_the_store_keeps_its_data() -> None:
    async with sa.open_store(FeatureStore) as store:
        await store.put("events", 10, "a")
        with pytest.raises(TypeError):
            await store.put("features", ["unhashable"], 1)
        with pytest.raises(TypeError):
            await store.put("events", "not comparable with 10", 1)
        with pytest.raises(ValueError, match="item 1 of a bulk_insert is not a"):
            await store.bulk_insert("features", [("k", 1), "oops"])
        with pytest.raises(TypeError):
            await store.bulk_insert("events", [(20, "b"), ("x", "c")])
        assert store.ref.alive
        assert store.size("features") == 2 and store.keys("events") == [10]


async def test_tables_refuse_writes_that_bypass_the_store() -> None:
    async with sa.open_store(FeatureStore) as store:
        features = store.table("features")
        for write in (
            lambda: features.__setitem__("k", 1),
            lambda: features.update({"k": 1}),
            lambda: features.pop("user:42"),
            lambda: features.clear(),
        ):
            with pytest.raises(TypeError, match="through its store"):
                write()
        assert store.size("features") == 2


class Generations(sa.Store):
    """Each load fills 1,000 keys with its generation number, yielding between inserts."""

    tables = (sa.Table("numbers", "set"),)
    generation: int = 0
    loading: bool = False
    fail_next: bool = False

    async def load(self, tables: Mapping[str, sa.TableLoader]) -> None:
        Generations.generation += 1
        Generations.loading = True
        try:
            for number in range(1000):
                tables["numbers"].put(number, Generations.generation)
                if number % 100 == 0:
                    await trio.lowlevel.checkpoint()  # let readers run in the middle of the load
            if Generations.fail_next:
                raise RuntimeError("half-way through, the source vanished")
        finally:
            Generations.loading = False


async def test_readers_see_the_old_tables_or_the_new_never_a_partial_load() -> None:
    Generations.generation, Generations.fail_next = 0, False
    seen: list[tuple[int, frozenset[int], bool]] = []
    async with sa.open_store(Generations) as store, trio.open_nursery() as nursery:

        async def read_all_the_time() -> None:
            while True:
                table = store.table("numbers")
                seen.append((len(table), frozenset(table.values()), Generations.loading))
                await trio.lowlevel.checkpoint()

        nursery.start_soon(read_all_the_time)
        for _ in range(3):
            await store.reload()
        nursery.cancel_scope.cancel()
    # Every read saw a whole generation, also while a load was half done...
    assert {(size, len(values)) for size, values, _ in seen} == {(1000, 1)}
    assert any(loading for _, _, loading in seen)
    # ...and the reader did see the tables change.
    assert len({values for _, values, _ in seen}) > 1


async def test_a_failed_reload_keeps_the_old_tables_and_raises() -> None:
    Generations.generation, Generations.fail_next = 0, False
    events = [("slither", "store", "reload", "start"), ("slither", "store", "reload", "stop")]
    with sa.telemetry.capture(events) as reloads:
        async with sa.open_store(Generations) as store:
            Generations.fail_next = True
            with pytest.raises(sa.StoreLoadFailed, match="source vanished") as caught:
                await store.reload()
            assert isinstance(caught.value.__cause__, RuntimeError)
            assert set(store.table("numbers").values()) == {1}
            assert store.ref.alive
    assert [event.name[-1] for event in reloads] == ["start", "stop"]
    assert reloads[1].metadata["ok"] is False


async def test_a_failing_first_load_fails_the_start_with_its_cause() -> None:
    with pytest.raises(
        sa.StoreLoadFailed, match="'FailingStore' failed to load: OSError"
    ) as caught:
        async with sa.open_store(FailingStore):
            pass  # pragma: no cover - never reached
    assert (
        isinstance(caught.value.__cause__, OSError) and caught.value.cause is caught.value.__cause__
    )


async def test_two_stores_of_one_class_keep_their_own_tables() -> None:
    async with (
        sa.open_store(FeatureStore, name="a") as first,
        sa.open_store(FeatureStore, name="b") as second,
    ):
        await first.put("features", "only_in_a", 1)
        assert second.get("features", "only_in_a") is None
        assert first.table("features") is not second.table("features")


async def test_the_runtime_starts_the_stores_its_settings_list() -> None:
    settings = {"stores": ["tests.stores_for_tests:FeatureStore"]}
    async with sa.open_runtime(settings) as runtime:
        store = runtime.store(FeatureStore)
        assert store is runtime.store("FeatureStore")
        assert store.get("features", "user:42") == {"tier": "gold"}
        bags = await runtime.start_store(Bags, name="bags")
        assert runtime.stores.names() == ["FeatureStore", "bags"]
        await bags.put("tags", "x", 1)
        with pytest.raises(sa.UnknownStore, match="no store named 'nope'"):
            runtime.store("nope")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("tests.stores_for_tests", "expected 'module:ClassName'"),
        ("tests.no_such_module:Store", "cannot import"),
        ("tests.stores_for_tests:Generationz", "cannot import"),
        ("tests.stores_for_tests:Mapping", "is not a Store subclass"),
    ],
)
async def test_a_bad_store_entry_is_a_config_error(entry: str, problem: str) -> None:
    with pytest.raises(sa.ConfigError, match=problem):
        async with sa.open_runtime({"stores": [entry]}):
            pass  # pragma: no cover - never reached


async def test_a_store_that_cannot_load_fails_the_runtime_start() -> None:
    with pytest.raises(sa.ChildStartFailed) as caught:
        async with sa.open_runtime({"stores": ["tests.stores_for_tests:FailingStore"]}):
            pass  # pragma: no cover - never reached
    error: Any = caught.value
    while not isinstance(error, sa.StoreLoadFailed):
        error = error.cause
    assert "the features file is missing" in str(error)


@pytest.mark.parametrize(
    ("cls", "name", "options", "message"),
    [
        (dict, None, {}, "cls must be a Store subclass, not <class 'dict'>"),
        (FeatureStore, 5, {}, "name must be a str or None, not int 5"),
        # An empty name used to fall back to the class's default name without a word.
        (FeatureStore, "", {}, "name must not be empty"),
        (FeatureStore, None, {"registry": {}}, "registry must be a ViewRegistry or None"),
    ],
)
async def test_open_store_refuses_bad_arguments_before_anything_starts(
    cls: Any, name: Any, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        async with sa.open_store(cls, name, **options):
            raise AssertionError("started")


async def test_a_runtime_refuses_a_bad_store_name_and_its_stores_run_on() -> None:
    async with sa.open_runtime() as runtime:
        good = await runtime.start_store(FeatureStore)
        with pytest.raises(ValueError, match="name must be a str or None, not int 5"):
            await runtime.start_store(Bags, 5)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="cls must be a Store subclass"):
            await runtime.start_store(dict)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="name must be a store name or a Store subclass"):
            runtime.store(5)  # type: ignore[arg-type]
        assert runtime.stores.names() == ["FeatureStore"]
        await good.put("features", "user:1", {"tier": "bronze"})
        assert runtime.store(FeatureStore).get("features", "user:1") == {"tier": "bronze"}


async def test_update_refuses_a_function_it_cannot_call_and_the_store_carries_on() -> None:
    async with sa.open_store(FeatureStore) as store:
        with pytest.raises(ValueError, match="function must be a callable, not int 5"):
            await store.update("features", "user:42", 5)  # type: ignore[arg-type]
        assert await store.update("features", "user:42", lambda value: {**value, "n": 1})
        assert store.get("features", "user:42") == {"tier": "gold", "n": 1}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sa.Table(5), "name must be a str, not int 5"),
        (lambda: sa.Table(""), "name must not be empty"),
        (lambda: sa.view(name=5), "name must be a str or None, not int 5"),
        (lambda: sa.view(timeout=float("nan"))(len), "timeout must be .* above 0, not nan"),
        (lambda: sa.view(timeout=0)(len), "timeout must be a number of seconds above 0, not 0"),
        (lambda: sa.view(timeout=True)(len), "timeout must be a number of seconds, not bool"),
        (lambda: sa.view(timeout="5")(len), "timeout must be a number of seconds, not str '5'"),
    ],
)
def test_tables_and_views_refuse_bad_declarations(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("size", [float("inf"), 2.5, float("nan"), True, "3", -1])
async def test_a_mailbox_size_that_is_not_a_count_fails_the_store_start(size: Any) -> None:
    # math.inf used to give an unbounded mailbox; 2.5 and NaN a TypeError from deep in trio.
    class Sized(FeatureStore):
        mailbox_size = size

    with pytest.raises(ValueError, match="mailbox_size must be an int"):
        async with sa.open_store(Sized):
            raise AssertionError("started")


def test_a_view_registry_takes_its_default_scope_as_the_enum_or_its_value() -> None:
    # A str used to be kept as it was: a view without a scope of its own was then neither
    # global nor a session view.
    views = sa.ViewRegistry("global")
    assert views.scope_of(sa.View("v", len)) is sa.ViewScope.GLOBAL
    with pytest.raises(ValueError, match="'galaxy' is not a valid ViewScope"):
        sa.ViewRegistry("galaxy")  # type: ignore[arg-type]
    with (
        pytest.raises(ValueError, match="session_id must be a str, not int 5"),
        views.session(5, []),  # type: ignore[arg-type]
    ):
        raise AssertionError("registered")
