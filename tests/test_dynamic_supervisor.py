"""DynamicSupervisor: children added and removed at run time, bounded by max_children."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import slither_actors as sa
from tests.conftest import Crash, Journaling, child_value, inits, journaling_child, settle


async def test_start_child_returns_the_childs_ref_and_lists_it(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await nursery.start(sa.DynamicSupervisor(name="dyn").start)
    assert supervisor.which_children() == []
    ref = await supervisor.start_child(journaling_child("a", journal))
    assert await ref.call("ping") == "pong"
    (info,) = supervisor.which_children()
    assert (info.id, info.value, info.running, info.kind) == ("a", ref, True, sa.ChildKind.WORKER)


async def test_count_children_counts_specs_active_workers_and_supervisors(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await nursery.start(sa.DynamicSupervisor().start)
    await supervisor.start_child(journaling_child("a", journal, restart="transient"))
    await supervisor.start_child(
        sa.ChildSpec("sub", sa.Supervisor([], name="sub").start, kind="supervisor")
    )
    counts = supervisor.count_children()
    assert (counts.specs, counts.active, counts.workers, counts.supervisors) == (2, 2, 1, 1)


async def test_a_child_that_exits_for_good_is_removed(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await nursery.start(sa.DynamicSupervisor(max_children=1).start)
    await supervisor.start_child(journaling_child("a", journal, restart="transient"))
    await child_value(supervisor, "a").cast("stop")  # transient, normal exit: not restarted
    await settle()
    assert supervisor.which_children() == []
    await supervisor.start_child(journaling_child("b", journal))  # its place is free again


async def test_terminate_child_stops_and_removes_it(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await nursery.start(sa.DynamicSupervisor().start)
    ref = await supervisor.start_child(journaling_child("a", journal))
    await supervisor.terminate_child("a")
    assert not ref.alive and journal[-1] == ("terminate", "a", sa.ExitReason.SHUTDOWN)
    assert supervisor.which_children() == []
    with pytest.raises(sa.UnknownChild, match="has no child 'a'"):
        await supervisor.terminate_child("a")


async def test_max_children_bounds_the_number_of_children(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await nursery.start(sa.DynamicSupervisor(max_children=2, name="dyn").start)
    await supervisor.start_child(journaling_child("a", journal))
    await supervisor.start_child(journaling_child("b", journal))
    with pytest.raises(sa.MaxChildrenReached, match="'dyn' already has its maximum of 2"):
        await supervisor.start_child(journaling_child("c", journal))
    await supervisor.terminate_child("a")
    await supervisor.start_child(journaling_child("c", journal))
    assert [child.id for child in supervisor.which_children()] == ["b", "c"]


async def test_ids_must_be_unique_and_a_failed_start_is_not_kept(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await nursery.start(sa.DynamicSupervisor().start)
    await supervisor.start_child(journaling_child("a", journal))
    with pytest.raises(sa.DuplicateChild):
        await supervisor.start_child(journaling_child("a", journal))
    failing = sa.ChildSpec.actor("bad", lambda: Journaling("bad", journal, init_error=Crash("no")))
    with pytest.raises(sa.ChildStartFailed, match="'bad'") as caught:
        await supervisor.start_child(failing)
    assert isinstance(caught.value.__cause__, Crash)
    assert [child.id for child in supervisor.which_children()] == ["a"]


async def test_crashed_children_are_restarted_one_for_one(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await nursery.start(sa.DynamicSupervisor().start)
    for label in ("a", "b"):
        await supervisor.start_child(journaling_child(label, journal))
    await child_value(supervisor, "a").cast("crash")
    await settle()
    assert inits(journal) == ["a", "b", "a"]


async def test_a_stopped_supervisor_refuses_new_children(journal: list[Any]) -> None:
    async with trio.open_nursery() as nursery:
        supervisor = await nursery.start(sa.DynamicSupervisor().start)
        await supervisor.stop()
    assert not supervisor.alive
    with pytest.raises(sa.ActorExited):
        await supervisor.start_child(journaling_child("late", journal))


async def test_an_exhausted_supervisor_refuses_new_children(journal: list[Any]) -> None:
    with pytest.RaisesGroup(sa.SupervisorExhausted):
        async with trio.open_nursery() as nursery:
            supervisor = await nursery.start(sa.DynamicSupervisor(max_restarts=0).start)
            await supervisor.start_child(journaling_child("a", journal))
            await child_value(supervisor, "a").cast("crash")
            await supervisor.wait_exited()
    with pytest.raises(sa.ActorExited):
        await supervisor.start_child(journaling_child("late", journal))


def test_max_children_must_be_a_positive_int() -> None:
    with pytest.raises(ValueError, match="max_children must be an int, 1 or more, not 0"):
        sa.DynamicSupervisor(max_children=0)
