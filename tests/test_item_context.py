"""Item and Context: the seed's semantics, immutable."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable

import pytest

import slither_actors as sa
from slither_actors.item import NO_META


def test_wrap_gives_a_fresh_id_empty_meta_and_the_default_route() -> None:
    first, second = sa.Item.wrap("a"), sa.Item.wrap("b")
    assert first.payload == "a" and first.meta == {} and first.route == "default"
    assert second.id > first.id


def test_wrap_many_gives_unique_ascending_ids_in_input_order() -> None:
    items = sa.Item.wrap_many(range(100))
    ids = [item.id for item in items]
    assert ids == sorted(ids) and len(set(ids)) == 100
    assert [item.payload for item in items] == list(range(100))


def test_update_payload_keeps_id_meta_and_route() -> None:
    item = sa.Item.wrap(1, meta={"source": "csv"}, route="review")
    updated = item.update_payload(2)
    assert (updated.id, updated.payload, updated.meta, updated.route) == (
        item.id,
        2,
        {"source": "csv"},
        "review",
    )
    assert item.payload == 1


def test_put_meta_merges_and_the_new_keys_win() -> None:
    item = sa.Item.wrap(1, meta={"a": 1, "b": 2})
    assert item.put_meta({"b": 3, "c": 4}).meta == {"a": 1, "b": 3, "c": 4}
    assert item.meta == {"a": 1, "b": 2}


def test_items_are_immutable() -> None:
    with pytest.raises(AttributeError):
        sa.Item.wrap(1).payload = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        sa.Item.wrap(1).other = 2  # type: ignore[attr-defined]


def test_with_route_changes_only_the_route() -> None:
    item = sa.Item.wrap(1)
    assert item.with_route("accept") == sa.Item(item.id, item.payload, item.meta, "accept")


def test_an_item_equals_an_item_of_the_same_fields_and_nothing_else() -> None:
    item = sa.Item(7, "x", {"a": 1}, "review")
    assert item == sa.Item(7, "x", {"a": 1}, "review")
    assert item != sa.Item(7, "x", {"a": 1}, "default") and item != sa.Item(8, "x")
    fields = (7, "x", {"a": 1}, "review")
    assert item != fields and fields != item and not (item == fields)  # noqa: SIM201
    assert item != [7, "x", {"a": 1}, "review"] and item != 7
    assert len({sa.Item(1, "a", (), "r"), sa.Item(1, "a", (), "r")}) == 1  # hashable by value


def test_an_item_is_not_a_sequence() -> None:
    # Underneath it is a tuple (made in C from columns); none of that shows.
    item = sa.Item(7, "x")
    for attempt in (lambda: list(item), lambda: len(item), lambda: item[0], lambda: "x" in item):
        with pytest.raises(TypeError):
            attempt()
    for operation in (lambda: item < item, lambda: item + item, lambda: item * 2):
        with pytest.raises(TypeError):
            operation()
    assert bool(item)


def test_an_item_copies_pickles_reprs_and_matches_by_field() -> None:
    item = sa.Item(7, [1, 2], {"source": "csv"}, "review")
    assert copy.copy(item) == item and copy.deepcopy(item) == item
    assert pickle.loads(pickle.dumps(item)) == item
    plain = sa.Item.wrap("no meta")  # its meta is the shared read-only empty mapping
    again = pickle.loads(pickle.dumps(plain))
    assert again == plain and again.meta is NO_META
    with pytest.raises(TypeError):
        again.meta["key"] = 1  # type: ignore[index]
    kept = pickle.loads(pickle.dumps(sa.Item.wrap(1, meta={"a": 1})))
    with pytest.raises(TypeError):
        kept.meta["a"] = 2  # type: ignore[index]
    assert repr(item) == "Item(id=7, payload=[1, 2], meta={'source': 'csv'}, route='review')"
    match item:
        case sa.Item(7, payload, route="review"):
            assert payload == [1, 2]
        case _:
            raise AssertionError("no match")


def test_a_new_context_gets_a_slither_session_id() -> None:
    first, second = sa.Context.new(), sa.Context.new()
    assert first.session_id.startswith("slither_")
    assert first.session_id != second.session_id
    assert sa.Context.new(session_id="mine").session_id == "mine"


def test_with_stage_and_put_metadata_return_new_contexts() -> None:
    context = sa.Context.new(pipe="score", metadata={"a": 1})
    staged = context.with_stage("predict").put_metadata({"b": 2, "a": 3})
    assert (staged.pipe, staged.stage, staged.metadata) == ("score", "predict", {"a": 3, "b": 2})
    assert context.stage is None and context.metadata == {"a": 1}


@pytest.mark.parametrize("session_id", [7, None, b"run-1", True, 1.5])
def test_a_context_refuses_a_session_id_that_is_not_a_str(session_id: object) -> None:
    # It travels to worker processes: an int used to be encoded and crash the worker.
    with pytest.raises(ValueError, match=rf"session_id must be a str, not \w+ {session_id!r}"):
        sa.Context(session_id=session_id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("session_id", "message"),
    [
        (7, "session_id must be a str or None, not int 7"),
        (b"run-1", "session_id must be a str or None, not bytes b'run-1'"),
        (True, "session_id must be a str or None, not bool True"),
        ("", "session_id must not be empty"),
    ],
)
def test_a_new_context_refuses_a_session_id_that_is_not_a_non_empty_str(
    session_id: object, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sa.Context.new(session_id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sa.Context.new(pipe=5), "pipe must be a str or None, not int 5"),
        (lambda: sa.Context.new().with_stage(5), "stage must be a str or None, not int 5"),
        (lambda: sa.Context.new(metadata=[1, 2]), "metadata must be a Mapping or None"),
        (lambda: sa.Context("s", metadata=[1, 2]), "metadata must be a Mapping, not list"),
    ],
)
def test_a_context_refuses_a_pipe_stage_or_metadata_of_the_wrong_kind(
    make: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sa.Item.wrap(1, route=5), "route must be a str, not int 5"),
        (lambda: sa.Item.wrap(1, route=""), "route must not be empty"),
        (lambda: sa.Item.wrap(1, route=None), "route must be a str, not NoneType None"),
        (lambda: sa.Item.wrap(1, meta=[("a", 1)]), r"meta must be a Mapping, not list"),
        (lambda: sa.Item.wrap(1).with_route(5), "route must be a str, not int 5"),
        (lambda: sa.Item.wrap(1).with_route(""), "route must not be empty"),
    ],
)
def test_wrap_and_with_route_refuse_a_route_or_meta_of_the_wrong_kind(
    make: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make()
