"""Supervisors: strategies, restart types, intensity, escalation, start and shutdown order."""

from __future__ import annotations

import itertools
import math
from typing import Any

import attrs
import pytest
import trio
import trio.testing

import slither_actors as sa
from tests.conftest import (
    Crash,
    Journaling,
    child_value,
    inits,
    journaling_child,
    settle,
    terminates,
)


def three_children(journal: list[Any], **options: Any) -> list[sa.ChildSpec]:
    return [journaling_child(label, journal, **options) for label in ("a", "b", "c")]


async def crash(supervisor: sa.SupervisorRef, child_id: str) -> None:
    """Make a child crash and wait until the supervisor has dealt with it."""
    await child_value(supervisor, child_id).cast("crash")
    await settle()


async def start(nursery: trio.Nursery, supervisor: sa.Supervisor) -> sa.SupervisorRef:
    ref: sa.SupervisorRef = await nursery.start(supervisor.start)
    return ref


@attrs.define
class SlowInit(Journaling):
    async def init(self) -> None:
        await trio.sleep(1)
        await super().init()


async def test_children_start_in_order_each_ready_before_the_next(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    children = [
        sa.ChildSpec.actor("slow", lambda: SlowInit("slow", journal)),
        journaling_child("fast", journal),
    ]
    await start(nursery, sa.Supervisor(children))
    assert inits(journal) == ["slow", "fast"]


async def test_one_for_one_restarts_only_the_failed_child(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await start(nursery, sa.Supervisor(three_children(journal)))
    old_b = child_value(supervisor, "b")
    await crash(supervisor, "b")
    assert inits(journal) == ["a", "b", "c", "b"]
    assert terminates(journal) == ["b"]
    assert child_value(supervisor, "b") is not old_b and child_value(supervisor, "b").alive


async def test_one_for_all_restarts_every_child(nursery: trio.Nursery, journal: list[Any]) -> None:
    supervisor = await start(
        nursery, sa.Supervisor(three_children(journal), strategy=sa.Strategy.ONE_FOR_ALL)
    )
    await crash(supervisor, "b")
    assert terminates(journal) == ["b", "c", "a"]  # the others in reverse start order
    assert inits(journal) == ["a", "b", "c", "a", "b", "c"]
    assert [entry[2] for entry in journal if entry[:2] == ("terminate", "a")] == [
        sa.ExitReason.SHUTDOWN
    ]


async def test_rest_for_one_restarts_the_failed_child_and_those_after_it(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await start(
        nursery, sa.Supervisor(three_children(journal), strategy="rest_for_one")
    )
    await crash(supervisor, "b")
    assert terminates(journal) == ["b", "c"]
    assert inits(journal) == ["a", "b", "c", "b", "c"]


async def test_a_permanent_child_is_restarted_even_after_a_normal_exit(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await start(nursery, sa.Supervisor([journaling_child("a", journal)]))
    await child_value(supervisor, "a").cast("stop")
    await settle()
    assert inits(journal) == ["a", "a"]


async def test_a_transient_child_is_restarted_only_after_a_crash(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await start(
        nursery, sa.Supervisor([journaling_child("a", journal, restart="transient")])
    )
    await crash(supervisor, "a")
    assert inits(journal) == ["a", "a"]
    await child_value(supervisor, "a").cast("stop")
    await settle()
    assert inits(journal) == ["a", "a"]
    (info,) = supervisor.which_children()
    assert info.id == "a" and not info.running and info.restart is sa.Restart.TRANSIENT


async def test_a_temporary_child_is_never_restarted_and_is_forgotten(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await start(
        nursery,
        sa.Supervisor(
            [journaling_child("a", journal), journaling_child("t", journal, restart="temporary")]
        ),
    )
    await crash(supervisor, "t")
    assert inits(journal) == ["a", "t"]
    assert [child.id for child in supervisor.which_children()] == ["a"]


async def test_restart_intensity_counts_restarts_in_a_sliding_window(
    autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    """3 restarts in 5 s are allowed: crashes at t = 0, 2, 4, 6 pass (the one at 0 has left
    the window by 6); one more at 6.5 makes 4 within 5 s, which is too many."""
    with (
        trio.fail_after(60),
        pytest.RaisesGroup(
            pytest.RaisesExc(sa.SupervisorExhausted, match=r"more than 3 restarts in 5s.*'b'")
        ),
    ):
        async with trio.open_nursery() as nursery:
            supervisor = await start(nursery, sa.Supervisor(three_children(journal)))
            for pause in (0, 2, 2, 2):
                await trio.sleep(pause)
                await crash(supervisor, "b")
            assert inits(journal).count("b") == 5
            await trio.sleep(0.5)
            await crash(supervisor, "b")
    assert terminates(journal)[-3:] == ["b", "c", "a"]  # the crash, then reverse order


async def test_escalation_climbs_two_levels(
    autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    """leaf crashes → middle gives up → root restarts middle → again → root gives up too."""
    middle = sa.Supervisor([journaling_child("leaf", journal)], max_restarts=0, name="middle")
    root = sa.Supervisor(
        [sa.ChildSpec("middle", middle.start, kind="supervisor")], max_restarts=1, name="root"
    )
    with trio.fail_after(60), pytest.RaisesGroup(sa.SupervisorExhausted) as caught:
        async with trio.open_nursery() as nursery:
            root_ref = await start(nursery, root)
            for _ in range(2):
                await crash(child_value(root_ref, "middle"), "leaf")
    error = caught.value.exceptions[0]
    assert isinstance(error, sa.SupervisorExhausted)
    assert (error.supervisor, error.child) == ("root", "middle")
    assert isinstance(error.last_error, sa.SupervisorExhausted)
    assert (error.last_error.supervisor, error.last_error.child) == ("middle", "leaf")
    assert isinstance(error.last_error.last_error, Crash)
    assert inits(journal) == ["leaf", "leaf"]


async def test_stop_shuts_children_down_in_reverse_start_order(journal: list[Any]) -> None:
    async with trio.open_nursery() as nursery:
        supervisor = await start(nursery, sa.Supervisor(three_children(journal)))
        assert await supervisor.stop() is sa.ExitReason.SHUTDOWN
    assert terminates(journal) == ["c", "b", "a"]
    assert {entry[2] for entry in journal if entry[0] == "terminate"} == {sa.ExitReason.SHUTDOWN}


async def test_cancelling_a_tree_still_stops_children_one_by_one_in_reverse(
    journal: list[Any],
) -> None:
    async with trio.open_nursery() as nursery:
        await start(nursery, sa.Supervisor(three_children(journal)))
        nursery.cancel_scope.cancel()
    assert terminates(journal) == ["c", "b", "a"]
    assert {entry[2] for entry in journal if entry[0] == "terminate"} == {sa.ExitReason.SHUTDOWN}


@pytest.mark.parametrize(
    ("shutdown", "seconds", "reason"),
    [(2.0, 2.0, sa.ExitReason.KILLED), ("brutal", 0.0, sa.ExitReason.KILLED)],
)
async def test_a_child_that_does_not_stop_in_time_is_cancelled(
    autojump_clock: trio.testing.MockClock,
    journal: list[Any],
    shutdown: Any,
    seconds: float,
    reason: sa.ExitReason,
) -> None:
    async with trio.open_nursery() as nursery:
        supervisor = await start(
            nursery, sa.Supervisor([journaling_child("busy", journal, shutdown=shutdown)])
        )
        await child_value(supervisor, "busy").cast(("hang", 100))
        await settle()
        began = trio.current_time()
        await supervisor.stop()
        assert trio.current_time() - began == pytest.approx(seconds)
    assert journal[-1] == ("terminate", "busy", reason)  # terminate runs even when cancelled


async def test_a_child_that_fails_to_start_fails_the_supervisor_start(journal: list[Any]) -> None:
    children = [
        journaling_child("a", journal),
        sa.ChildSpec.actor("b", lambda: Journaling("b", journal, init_error=Crash("no db"))),
        journaling_child("c", journal),
    ]
    async with trio.open_nursery() as nursery:
        with pytest.raises(sa.ChildStartFailed, match="could not start child 'b': Crash: no db"):
            await start(nursery, sa.Supervisor(children))
    assert inits(journal) == ["a", "b"]
    assert terminates(journal) == ["a"]


async def test_backoff_spaces_out_restarts(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    times: list[float] = []

    def make() -> Journaling:
        times.append(trio.current_time())
        return Journaling("a", journal)

    supervisor = await start(
        nursery,
        sa.Supervisor(
            [sa.ChildSpec.actor("a", make)],
            max_restarts=10,
            max_seconds=100,
            backoff=sa.Backoff(initial=1.0, factor=2.0, maximum=3.0),
        ),
    )
    for _ in range(3):
        await child_value(supervisor, "a").cast("crash")
        await trio.sleep(10)
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps == pytest.approx([1.0, 10.0 + 2.0 - 1.0, 10.0 + 3.0 - 2.0])


async def test_a_failed_restart_counts_against_the_intensity(
    autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    starts = 0

    def make() -> Journaling:
        nonlocal starts
        starts += 1
        return Journaling("a", journal, init_error=None if starts == 1 else Crash("stays down"))

    with trio.fail_after(60), pytest.RaisesGroup(sa.SupervisorExhausted):
        async with trio.open_nursery() as nursery:
            supervisor = await start(
                nursery, sa.Supervisor([sa.ChildSpec.actor("a", make)], max_restarts=2)
            )
            await crash(supervisor, "a")
    assert starts == 3  # the first start, then two failed restarts; the third exceeds 2


async def test_stop_during_a_backoff_returns_without_restarting(
    autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    async with trio.open_nursery() as nursery:
        supervisor = await start(
            nursery,
            sa.Supervisor([journaling_child("a", journal)], backoff=sa.Backoff(initial=60)),
        )
        await crash(supervisor, "a")
        began = trio.current_time()
        await supervisor.stop()
    assert trio.current_time() == began
    assert inits(journal) == ["a"]


async def test_telemetry_reports_exits_and_restarts(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    events = [("slither", "supervisor", "child", what) for what in ("exited", "restarted")]
    with sa.telemetry.capture(events) as seen:
        supervisor = await start(nursery, sa.Supervisor(three_children(journal), name="tree"))
        await crash(supervisor, "b")
    assert [(event.name[-1], event.metadata["child"]) for event in seen] == [
        ("exited", "b"),
        ("restarted", "b"),
    ]
    assert isinstance(seen[0].metadata["reason"], Crash)
    assert seen[1].metadata["supervisor"] == "tree" and seen[1].measurements["starts"] == 2


async def test_a_plain_task_child_is_supervised_and_cancelled_on_shutdown(
    nursery: trio.Nursery,
) -> None:
    runs: list[str] = []

    async def ticker(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        runs.append("start")
        task_status.started()
        try:
            await trio.sleep_forever()
        finally:
            runs.append("cancelled")

    supervisor = await start(nursery, sa.Supervisor([sa.ChildSpec("ticker", ticker)]))
    await supervisor.stop()
    assert runs == ["start", "cancelled"]


def test_specs_are_checked_when_they_are_declared() -> None:
    async def noop(*, task_status: Any) -> None:
        pass

    with pytest.raises(sa.DuplicateChild, match="already has a child 'x'"):
        sa.Supervisor([sa.ChildSpec("x", noop), sa.ChildSpec("x", noop)])
    with pytest.raises(ValueError, match="shutdown must be a number of seconds 0 or more"):
        sa.ChildSpec("x", noop, shutdown=-1)
    with pytest.raises(ValueError, match="'sometimes' is not a valid Restart"):
        sa.ChildSpec("x", noop, restart="sometimes")
    assert sa.ChildSpec("x", noop).shutdown == 5.0
    assert sa.ChildSpec("x", noop, kind="supervisor").shutdown == math.inf


NAN = float("nan")


async def noop_child(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    task_status.started()
    await trio.sleep_forever()


@pytest.mark.parametrize("kind", [sa.Supervisor, sa.DynamicSupervisor])
@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_restarts": -1}, "max_restarts must be an int, 0 or more, not -1"),
        ({"max_restarts": True}, "max_restarts must be an int, not bool True"),
        ({"max_restarts": NAN}, "max_restarts must be an int, not float nan"),
        ({"max_seconds": NAN}, "max_seconds must be a number of seconds above 0, not nan"),
        ({"max_seconds": 0}, "max_seconds must be a number of seconds above 0, not 0"),
        ({"max_seconds": True}, "max_seconds must be a number of seconds, not bool True"),
        ({"max_seconds": "5"}, "max_seconds must be a number of seconds, not str '5'"),
        # 0.5 used to crash the supervisor, and every child with it, at the first restart.
        ({"backoff": 0.5}, "backoff must be a Backoff or None, not float 0.5"),
        ({"name": 5}, "name must be a str, not int 5"),
        ({"name": ""}, "name must not be empty"),
    ],
)
def test_supervisors_refuse_bad_options_when_declared(
    kind: Any, options: dict[str, Any], message: str
) -> None:
    arguments = {"children": [], **options} if kind is sa.Supervisor else options
    with pytest.raises(ValueError, match=message):
        kind(**arguments)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sa.Supervisor([5]), "children\\[0\\] must be a ChildSpec, not int 5"),
        (lambda: sa.DynamicSupervisor(max_children=True), "max_children must be an int, not"),
        (lambda: sa.ChildSpec(5, noop_child), "id must be a str, not int 5"),
        (lambda: sa.ChildSpec("", noop_child), "id must not be empty"),
        (lambda: sa.ChildSpec("x", 5), "start must be a callable, not int 5"),
        # NaN used to pass, and then fail the supervisor as it stopped the child (a hang).
        (lambda: sa.ChildSpec("x", noop_child, shutdown=NAN), "shutdown must be .* not nan"),
        (lambda: sa.ChildSpec("x", noop_child, shutdown=True), "shutdown must be .* not bool"),
        (lambda: sa.ChildSpec("x", noop_child, shutdown="Brutal"), "not str 'Brutal'"),
        (lambda: sa.ChildSpec.actor("x", 5), "factory must be a callable, not int 5"),
        (lambda: sa.ChildSpec.actor("x", Journaling, name=5), "name must be a str or None"),
        (lambda: sa.ChildSpec.actor("x", Journaling, mailbox_size=-1), "mailbox_size must be"),
        (lambda: sa.ChildSpec.actor("x", Journaling, mailbox_size=2.5), "mailbox_size must be"),
        (lambda: sa.ChildSpec.actor("x", Journaling, shutdown=NAN), "shutdown must be"),
    ],
)
def test_child_specs_refuse_bad_arguments_when_declared_not_at_start(
    make: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"initial": NAN}, "initial must be a number of seconds 0 or more, finite, not nan"),
        ({"initial": -1.0}, "initial must be a number of seconds 0 or more, finite, not -1.0"),
        ({"initial": True}, "initial must be a number of seconds, not bool True"),
        ({"initial": "1"}, "initial must be a number of seconds, not str '1'"),
        # An infinite delay left the crashed child down for good.
        ({"initial": math.inf}, "initial must be .* finite, not inf"),
        ({"maximum": math.inf}, "maximum must be .* finite, not inf"),
        ({"maximum": NAN}, "maximum must be .* not nan"),
        ({"factor": 0.5}, "factor must be a number 1 or more, finite, not 0.5"),
        ({"factor": math.inf}, "factor must be a number 1 or more, finite, not inf"),
        ({"factor": True}, "factor must be a number, not bool True"),
    ],
)
def test_a_backoff_refuses_delays_that_are_not_finite_seconds(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sa.Backoff(**{"initial": 0.1, **options})


def test_a_backoff_grows_up_to_its_maximum_however_many_the_restarts() -> None:
    backoff = sa.Backoff(initial=0.1, factor=2.0, maximum=5.0)
    assert backoff.delay(3) == pytest.approx(0.4)
    assert backoff.delay(5000) == 5.0  # 2.0 ** 4999 used to raise OverflowError


async def test_start_child_refuses_what_is_not_a_spec_and_the_children_run_on(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await start(nursery, sa.Supervisor([journaling_child("a", journal)]))
    with pytest.raises(ValueError, match="spec must be a ChildSpec, not str 'b'"):
        await supervisor.start_child("b")  # type: ignore[arg-type]
    assert [child.id for child in supervisor.which_children()] == ["a"]
    assert await child_value(supervisor, "a").call("ping") == "pong"
    await supervisor.start_child(journaling_child("b", journal))
    assert [child.id for child in supervisor.which_children()] == ["a", "b"]


async def test_which_children_counts_restarts_and_keeps_the_last_exit(
    nursery: trio.Nursery, journal: list[Any]
) -> None:
    supervisor = await start(nursery, sa.Supervisor(three_children(journal)))
    await crash(supervisor, "b")
    await crash(supervisor, "b")
    children = {child.id: child for child in supervisor.which_children()}
    assert (children["a"].restarts, children["b"].restarts) == (0, 2)
    assert children["a"].last_exit is None
    assert isinstance(children["b"].last_exit, Crash)
    assert not any(child.restarting for child in children.values())
    assert supervisor.strategy is sa.Strategy.ONE_FOR_ONE


async def test_a_child_waiting_out_its_backoff_shows_as_restarting(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    backoff = sa.Backoff(initial=10.0, maximum=10.0)
    supervisor = await start(nursery, sa.Supervisor(three_children(journal), backoff=backoff))
    await child_value(supervisor, "c").cast("crash")
    await trio.sleep(1)  # the restart waits 10 s
    (waiting,) = [child for child in supervisor.which_children() if child.id == "c"]
    assert (waiting.running, waiting.restarting, waiting.restarts) == (False, True, 0)
    await trio.sleep(10)
    (back,) = [child for child in supervisor.which_children() if child.id == "c"]
    assert (back.running, back.restarting, back.restarts) == (True, False, 1)
