"""Registry: unique names that follow an actor across restarts."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
import trio

import slither_actors as sa
from tests.conftest import Journaling, settle


async def test_a_named_actor_can_be_found_by_name(nursery: trio.Nursery) -> None:
    registry = sa.Registry()
    ref = await nursery.start(
        partial(sa.run_actor, Journaling("a", []), name="a", registry=registry)
    )
    assert registry.whereis("a") is ref and registry.lookup("a") is ref
    assert registry.names() == ["a"]
    await ref.stop()
    assert registry.whereis("a") is None
    with pytest.raises(sa.NameNotFound, match="'a'"):
        registry.lookup("a")


async def test_a_name_is_unique_among_live_actors(nursery: trio.Nursery) -> None:
    registry = sa.Registry()
    first = partial(sa.run_actor, Journaling("a", []), name="a", registry=registry)
    second = partial(sa.run_actor, Journaling("b", []), name="a", registry=registry)
    holder = await nursery.start(first)
    with pytest.raises(sa.NameTaken, match="'a' is already registered to Journaling#"):
        await nursery.start(second)
    assert registry.whereis("a") is holder


async def test_a_name_resolves_to_the_current_incarnation_across_restarts(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    registry = sa.Registry()
    spec = sa.ChildSpec.actor("a", lambda: Journaling("a", journal), name="a", registry=registry)
    await nursery.start(sa.Supervisor([spec]).start)
    first = registry.lookup("a")
    await first.cast("crash")
    await settle()
    second = registry.lookup("a")
    assert second is not first and second.alive
    assert await second.call("ping") == "pong"


async def test_wait_for_waits_until_the_name_is_registered(nursery: trio.Nursery) -> None:
    registry = sa.Registry()
    found: list[sa.ActorRef] = []

    async def waiter() -> None:
        found.append(await registry.wait_for("late"))

    nursery.start_soon(waiter)
    await settle()
    ref = await nursery.start(
        partial(sa.run_actor, Journaling("late", []), name="late", registry=registry)
    )
    await settle()
    assert found == [ref]


async def test_wait_for_gives_up_after_its_timeout(autojump_clock: Any) -> None:
    with pytest.raises(sa.NameNotFound):
        await sa.Registry().wait_for("never", timeout=3)


async def test_naming_an_actor_outside_a_runtime_needs_a_registry(nursery: trio.Nursery) -> None:
    with pytest.raises(sa.NoRuntime, match="pass registry="):
        await nursery.start(partial(sa.run_actor, Journaling("a", []), name="a"))


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        (float("nan"), "timeout must be a number of seconds 0 or more, not nan"),
        (-1.0, "timeout must be a number of seconds 0 or more, not -1.0"),
        (True, "timeout must be a number of seconds, not bool True"),
        ("1", "timeout must be a number of seconds, not str '1'"),
    ],
)
async def test_wait_for_refuses_a_bad_timeout_at_once(timeout: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await sa.Registry().wait_for("a", timeout=timeout)


async def test_names_are_non_empty_strs(nursery: trio.Nursery) -> None:
    registry = sa.Registry()
    ref = await nursery.start(sa.run_actor, Journaling("a", []))
    with pytest.raises(ValueError, match="name must be a str, not int 5"):
        registry.register(5, ref)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must not be empty"):
        await registry.wait_for("", timeout=0)
    registry.register("a", ref)
    assert await registry.wait_for("a", timeout=0) is ref  # 0: look once, do not wait
