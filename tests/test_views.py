"""Store views called from real worker processes: scopes, sessions, refusals, failures."""

from __future__ import annotations

from typing import Any

import pytest

import slither_actors as sa
from tests.pool_helpers import pool_settings, wait_until
from tests.stores_for_tests import FeatureStore

SETTINGS = sa.Settings(
    stores=("tests.stores_for_tests:FeatureStore",),
    pools=(pool_settings(name="views", size=1),),
)


async def ask(runtime: sa.Runtime, *questions: dict[str, Any], session: str | None = None) -> Any:
    pool = await runtime.pool("views")
    return await pool.call("worker_functions:ask", list(questions), session_id=session)


async def test_a_global_view_answers_any_worker_call() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        (answer,) = await ask(runtime, {"view": "tier_count", "params": {"tier": "gold"}})
        assert answer == 1
        (again,) = await ask(
            runtime, {"view": "tier_count", "params": {"tier": "gold"}}, session="s"
        )
        assert again == 1


async def test_session_views_are_reachable_only_while_their_session_is_registered() -> None:
    question = {"view": "lookup_feature", "params": {"key": "user:42"}}
    async with sa.open_runtime(SETTINGS) as runtime:
        store = runtime.store(FeatureStore)
        with runtime.views.session("run-1", [store]):
            assert await ask(runtime, question, session="run-1") == [{"value": {"tier": "gold"}}]
            (whose,) = await ask(runtime, {"view": "whose_session"}, session="run-1")
            assert whose == "run-1"  # the handler's ctx carries the calling session
        (after,) = await ask(runtime, question, session="run-1")
        assert after["error"] == "ViewNotFound"


def restarted(runtime: sa.Runtime, before: sa.Store) -> bool:
    try:
        now = runtime.store(FeatureStore)
    except sa.UnknownStore:  # between two incarnations
        return False
    return now is not before and now.ref.alive


async def test_a_session_keeps_its_views_across_a_restart_of_their_store() -> None:
    question = {"view": "lookup_feature", "params": {"key": "user:42"}}
    async with sa.open_runtime(SETTINGS) as runtime:
        first = runtime.store(FeatureStore)
        with runtime.views.session("run-1", [first]):
            await first.ref.cast("crash")  # stores take no casts: this one crashes it
            await wait_until(lambda: restarted(runtime, first))
            assert await ask(runtime, question, session="run-1") == [{"value": {"tier": "gold"}}]


async def test_a_worker_may_not_read_another_sessions_view() -> None:
    question = {"view": "lookup_feature", "params": {"key": "user:42"}}
    async with sa.open_runtime(SETTINGS) as runtime:
        with runtime.views.session("run-a", [runtime.store(FeatureStore)]):
            (refused,) = await ask(runtime, question, session="run-b")
            (no_session,) = await ask(runtime, question)
    for answer in (refused, no_session):
        assert answer["error"] == "ViewRefused"
        assert "belongs to another session" in answer["message"]


async def test_session_views_go_away_when_the_session_fails() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        with (
            pytest.raises(KeyError),
            runtime.views.session("doomed", [runtime.store(FeatureStore)]),
        ):
            raise KeyError("the run failed")
        (answer,) = await ask(
            runtime, {"view": "lookup_feature", "params": {"key": "user:42"}}, session="doomed"
        )
        assert answer["error"] == "ViewNotFound"


async def test_a_failing_handler_and_a_slow_one_reach_the_worker_by_name() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        broken, slow = await ask(
            runtime, {"view": "broken", "params": {"key": 1}}, {"view": "slow"}
        )
    assert broken == {
        "error": "ValueError",
        "message": "view 'broken' failed: ValueError: cannot look up {'key': 1}",
    }
    assert slow["error"] == "ViewTimeout" and "took longer than 0.2s" in slow["message"]


async def test_a_batch_view_answers_many_items_in_one_call() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        (answers,) = await ask(
            runtime,
            {"view": "lookup_many", "params": {"items": [{"key": "user:7"}, {"key": "nobody"}]}},
        )
    assert answers == [{"tier": "silver"}, None]


async def test_view_calls_are_spans_in_telemetry() -> None:
    events = [("slither", "bridge", "view", what) for what in ("start", "stop", "exception")]
    with sa.telemetry.capture(events) as seen:
        async with sa.open_runtime(SETTINGS) as runtime:
            await ask(
                runtime, {"view": "tier_count", "params": {"tier": "gold"}}, {"view": "broken"}
            )
    assert [event.name[-1] for event in seen] == ["start", "stop", "start", "exception"]
    assert seen[1].metadata == {
        "view": "tier_count",
        "store": "FeatureStore",
        "session_id": None,
        "scope": "global",
        "mode": "scalar",
    }
    assert seen[1].measurements["duration"] >= 0


async def test_views_need_a_registered_name_and_a_valid_declaration() -> None:
    registry = sa.ViewRegistry()
    with pytest.raises(sa.ViewNotFound, match="no view named 'nothing'"):
        await registry.resolve("nothing", {}, None)
    with pytest.raises(ValueError, match="'sometimes' is not a valid ViewMode"):
        sa.view(mode="sometimes")(lambda self, params, ctx: None)


async def test_a_store_whose_global_views_are_taken_does_not_start_and_is_not_listed() -> None:
    async with sa.open_runtime(SETTINGS) as runtime:
        with pytest.raises(sa.ChildStartFailed) as caught:
            await runtime.start_store(FeatureStore, name="second")
        assert "already comes from store 'FeatureStore'" in str(caught.value.__cause__)
        assert runtime.stores.names() == ["FeatureStore"]
        (count,) = await ask(runtime, {"view": "tier_count", "params": {"tier": "gold"}})
        assert count == 1  # the first store's global view still answers
