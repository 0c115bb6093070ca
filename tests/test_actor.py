"""Actors: one message at a time, calls and their failures, casts and backpressure, stop."""

from __future__ import annotations

from functools import partial
from typing import Any

import attrs
import pytest
import trio
import trio.testing

import slither_actors as sa
from tests.conftest import Crash, Journaling, settle


@attrs.define
class Gated(sa.Actor):
    """Every message waits for ``gate`` before it is handled; records what it handled."""

    gate: trio.Event = attrs.Factory(trio.Event)
    handled: list[Any] = attrs.Factory(list)
    busy: bool = False

    async def handle_call(self, message: Any) -> Any:
        return await self._handle(message)

    async def handle_cast(self, message: Any) -> None:
        await self._handle(message)

    async def handle_info(self, message: Any) -> None:
        await self._handle(("info", message))

    async def _handle(self, message: Any) -> Any:
        assert not self.busy, "two messages handled at once"
        self.busy = True
        try:
            await self.gate.wait()
            self.handled.append(message)
            if message == "crash":
                raise Crash("gated crash")
            return message
        finally:
            self.busy = False


async def test_call_returns_the_handlers_reply(nursery: trio.Nursery, journal: list[Any]) -> None:
    ref = await nursery.start(sa.run_actor, Journaling("a", journal))
    assert await ref.call("ping") == "pong"
    assert ref.alive and ref.exit_reason is None


async def test_messages_are_handled_one_at_a_time_in_arrival_order(nursery: trio.Nursery) -> None:
    actor = Gated()
    ref = await nursery.start(sa.run_actor, actor)
    for number in range(5):
        await ref.cast(number)
    await settle()
    actor.gate.set()
    assert await ref.call("last") == "last"
    assert actor.handled == [0, 1, 2, 3, 4, "last"]


async def test_a_handler_exception_is_raised_in_the_caller_and_crashes_the_actor() -> None:
    journal: list[Any] = []
    with pytest.RaisesGroup(Crash):  # one level: run_actor raises the crash, not a group
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(sa.run_actor, Journaling("a", journal))
            with pytest.raises(Crash, match="a crashed on purpose") as caught:
                await ref.call("crash")
            assert not ref.alive  # already when the caller wakes up
    assert isinstance(ref.exit_reason, Crash)
    # The caller raises a copy chained to the actor's own exception: two tracebacks.
    assert caught.value is not ref.exit_reason and caught.value.__cause__ is ref.exit_reason
    assert journal[-1][:2] == ("terminate", "a") and isinstance(journal[-1][2], Crash)


async def test_a_call_without_reply_in_time_raises_call_timeout(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    ref = await nursery.start(sa.run_actor, Journaling("a", journal))
    start = trio.current_time()
    with pytest.raises(sa.CallTimeout, match=r"within 1s") as caught:
        await ref.call(("sleep", 10), timeout=1)
    assert trio.current_time() - start == pytest.approx(1)
    assert caught.value.timeout == 1 and isinstance(caught.value, TimeoutError)


async def test_a_late_reply_is_dropped_and_never_crashes_the_actor(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock, journal: list[Any]
) -> None:
    ref = await nursery.start(sa.run_actor, Journaling("a", journal))
    with pytest.raises(sa.CallTimeout):
        await ref.call(("sleep", 2), timeout=1)
    await trio.sleep(5)  # the handler finishes and replies to a caller that is gone
    assert ref.alive
    assert await ref.call("ping") == "pong"


async def test_a_queued_call_fails_promptly_when_the_actor_crashes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = Gated()
    outcome: list[BaseException] = []

    async def queued_call(ref: sa.ActorRef) -> None:
        try:
            await ref.call("queued", timeout=100)
        except sa.SlitherError as exc:
            outcome.append(exc)

    with pytest.RaisesGroup(Crash):
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(sa.run_actor, actor)
            ref.cast_nowait("crash")
            nursery.start_soon(queued_call, ref)
            await settle()
            start = trio.current_time()
            actor.gate.set()
    (error,) = outcome
    assert isinstance(error, sa.ActorExited)  # not CallTimeout: nobody waited 100 s
    assert isinstance(error.reason, Crash)
    assert trio.current_time() == start
    assert actor.handled == ["crash"]


async def test_a_running_call_fails_when_the_actor_is_cancelled(nursery: trio.Nursery) -> None:
    actor = Gated()
    actor_scope = trio.CancelScope()

    async def run_cancellable(task_status: trio.TaskStatus[sa.ActorRef]) -> None:
        with actor_scope:
            await sa.run_actor(actor, task_status=task_status)

    ref = await nursery.start(run_cancellable)

    async def cancel_once_the_call_runs() -> None:
        await settle()
        assert actor.busy
        actor_scope.cancel()

    nursery.start_soon(cancel_once_the_call_runs)
    with pytest.raises(sa.ActorExited) as caught:
        await ref.call("never answered", timeout=None)
    assert caught.value.reason is sa.ExitReason.KILLED
    assert await ref.wait_exited() is sa.ExitReason.KILLED


async def test_every_message_to_an_exited_actor_raises_actor_exited(journal: list[Any]) -> None:
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(sa.run_actor, Journaling("a", journal))
        assert await ref.stop() is sa.ExitReason.NORMAL
    with pytest.raises(sa.ActorExited, match="normal"):
        await ref.call("ping")
    with pytest.raises(sa.ActorExited):
        await ref.cast("ping")
    with pytest.raises(sa.ActorExited):
        ref.cast_nowait("ping")
    with pytest.raises(sa.ActorExited):
        await ref.send("ping")
    with pytest.raises(sa.ActorExited):
        ref.send_nowait("ping")


async def test_cast_waits_while_the_mailbox_is_full(nursery: trio.Nursery) -> None:
    actor = Gated()
    ref = await nursery.start(partial(sa.run_actor, actor, mailbox_size=2))
    await ref.cast("handling")  # taken by the handler, which waits at the gate
    await settle()
    await ref.cast("queued 1")
    await ref.cast("queued 2")
    delivered = trio.Event()

    async def third() -> None:
        await ref.cast("queued 3")
        delivered.set()

    nursery.start_soon(third)
    await settle()
    assert not delivered.is_set()  # backpressure: the sender waits for room
    actor.gate.set()
    await delivered.wait()
    assert await ref.call("after") == "after"
    assert actor.handled == ["handling", "queued 1", "queued 2", "queued 3", "after"]


async def test_cast_nowait_raises_mailbox_full(nursery: trio.Nursery) -> None:
    ref = await nursery.start(partial(sa.run_actor, Gated(), mailbox_size=1))
    ref.cast_nowait("handling")
    await settle()
    ref.cast_nowait("queued")
    with pytest.raises(sa.MailboxFull, match=r"full \(1 messages\)"):
        ref.cast_nowait("one too many")
    with pytest.raises(sa.MailboxFull):
        ref.send_nowait("one too many")


async def test_a_stop_request_is_not_held_up_by_a_full_mailbox(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = Gated()
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(partial(sa.run_actor, actor, mailbox_size=1))
        ref.cast_nowait("handling")
        await settle()
        ref.cast_nowait("queued")
        failures: list[BaseException] = []

        async def blocked_caller() -> None:
            try:
                await ref.call("waits for room", timeout=100)
            except sa.SlitherError as exc:
                failures.append(exc)

        nursery.start_soon(blocked_caller)
        await settle()
        ref.request_stop()  # returns at once although the mailbox is full
        actor.gate.set()
        assert await ref.wait_exited() is sa.ExitReason.NORMAL
    assert actor.handled == ["handling"]  # stopped after the current message
    assert [type(failure) for failure in failures] == [sa.ActorExited]


async def test_an_idle_actor_stops_at_once(nursery: trio.Nursery, journal: list[Any]) -> None:
    ref = await nursery.start(sa.run_actor, Journaling("a", journal))
    assert await ref.stop() is sa.ExitReason.NORMAL
    assert journal == [("init", "a"), ("terminate", "a", sa.ExitReason.NORMAL)]


async def test_an_actor_can_stop_itself(nursery: trio.Nursery, journal: list[Any]) -> None:
    ref = await nursery.start(sa.run_actor, Journaling("a", journal))
    await ref.cast("stop")
    assert await ref.wait_exited() is sa.ExitReason.NORMAL


@attrs.define
class StopsWithError(sa.Actor):
    async def handle_cast(self, message: Any) -> None:
        self.stop(Crash("stopped with an error"))


async def test_stopping_with_an_exception_as_reason_is_a_crash() -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(Crash, match="stopped with an error")):
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(sa.run_actor, StopsWithError())
            await ref.cast("go")


async def test_terminate_runs_when_the_actor_is_cancelled(journal: list[Any]) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(sa.run_actor, Journaling("a", journal))
        nursery.cancel_scope.cancel()
    assert journal == [("init", "a"), ("terminate", "a", sa.ExitReason.KILLED)]


@attrs.define
class SlowTerminate(sa.Actor):
    terminate_timeout = 1.0
    finished: bool = False

    async def terminate(self, reason: sa.Reason) -> None:
        await trio.sleep(100)
        self.finished = True


async def test_terminate_is_cut_short_after_its_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    actor = SlowTerminate()
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        ref = await nursery.start(sa.run_actor, actor)
        await ref.stop()
    assert trio.current_time() - start == pytest.approx(1.0)
    assert not actor.finished


async def test_a_failing_init_fails_the_start_and_skips_terminate(journal: list[Any]) -> None:
    async with trio.open_nursery() as nursery:
        with pytest.raises(Crash, match="bad init"):
            await nursery.start(
                sa.run_actor, Journaling("a", journal, init_error=Crash("bad init"))
            )
    assert journal == [("init", "a")]


async def test_a_crash_keeps_its_own_cause(journal: list[Any]) -> None:
    cause = KeyError("the root of it")
    error = Crash("bad init")
    error.__cause__ = cause
    async with trio.open_nursery() as nursery:
        with pytest.raises(Crash) as caught:
            await nursery.start(sa.run_actor, Journaling("a", journal, init_error=error))
    assert caught.value is error and caught.value.__cause__ is cause


@attrs.define
class Deferring(sa.Actor):
    """Replies to ("later", key) only when ("answer", key, value) arrives."""

    promised: dict[str, sa.DeferredReply] = attrs.Factory(dict)

    async def handle_call(self, message: Any) -> Any:
        match message:
            case ("later", key):
                self.promised[key] = self.defer_reply()
                return "ignored"
            case ("answer", key, value):
                self.promised.pop(key).send(value)
                return "answered"
            case "ping":
                return "pong"
        raise AssertionError(message)


async def test_a_deferred_reply_lets_the_actor_serve_other_calls_meanwhile(
    nursery: trio.Nursery,
) -> None:
    ref = await nursery.start(sa.run_actor, Deferring())
    replies: list[Any] = []

    async def ask_later() -> None:
        replies.append(await ref.call(("later", "k")))

    nursery.start_soon(ask_later)
    await settle()
    assert await ref.call("ping") == "pong"
    assert replies == []
    assert await ref.call(("answer", "k", 42)) == "answered"
    await settle()
    assert replies == [42]


async def test_a_deferred_reply_fails_when_the_actor_exits(nursery: trio.Nursery) -> None:
    ref = await nursery.start(sa.run_actor, Deferring())
    failures: list[BaseException] = []

    async def ask_later() -> None:
        try:
            await ref.call(("later", "k"), timeout=None)
        except sa.ActorExited as exc:
            failures.append(exc)

    nursery.start_soon(ask_later)
    await settle()
    await ref.stop()
    await settle()
    assert [type(failure) for failure in failures] == [sa.ActorExited]


async def test_defer_reply_outside_a_call_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        Deferring().defer_reply()


@attrs.define
class WithHelper(sa.Actor):
    async def handle_cast(self, message: Any) -> None:
        self.start_soon(self._helper)

    async def _helper(self) -> None:
        raise Crash("helper task failed")


async def test_a_crashing_helper_task_crashes_its_actor() -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(Crash, match="helper task failed")):
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(sa.run_actor, WithHelper())
            await ref.cast("start helper")
    assert isinstance(ref.exit_reason, Crash)


async def test_send_delivers_to_handle_info(nursery: trio.Nursery) -> None:
    actor = Gated()
    actor.gate.set()
    ref = await nursery.start(sa.run_actor, actor)
    await ref.send("tick")
    ref.send_nowait("tock")
    await settle()
    assert actor.handled == [("info", "tick"), ("info", "tock")]


async def test_a_message_without_handler_is_an_error_in_the_caller() -> None:
    class Bare(sa.Actor):
        pass

    with pytest.RaisesGroup(
        pytest.RaisesExc(NotImplementedError, match="Bare does not handle calls")
    ):
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(sa.run_actor, Bare())
            with pytest.raises(NotImplementedError):
                await ref.call("hello")


async def test_the_mailbox_size_comes_from_the_class_unless_given(nursery: trio.Nursery) -> None:
    class Small(Gated):
        mailbox_size = 3

    assert (await nursery.start(sa.run_actor, Small())).mailbox_size == 3
    assert (await nursery.start(partial(sa.run_actor, Small(), mailbox_size=7))).mailbox_size == 7
    assert (await nursery.start(sa.run_actor, Gated())).mailbox_size == 64
    with pytest.raises(ValueError, match="mailbox_size"):
        await nursery.start(partial(sa.run_actor, Gated(), mailbox_size=-1))


class TwoPartError(Exception):
    """An exception that copy.copy cannot rebuild from its args."""

    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first}/{second}")


@attrs.define
class RaisesTwoPart(sa.Actor):
    async def handle_call(self, message: Any) -> Any:
        raise TwoPartError("a", "b")


async def test_an_exception_that_cannot_be_copied_reaches_the_caller_as_it_is() -> None:
    with pytest.RaisesGroup(TwoPartError):
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(sa.run_actor, RaisesTwoPart())
            with pytest.raises(TwoPartError, match="a/b") as caught:
                await ref.call("go")
    assert caught.value is ref.exit_reason


@attrs.define
class RaisesOurs(sa.Actor):
    async def handle_call(self, message: Any) -> Any:
        raise sa.ConfigError("settings.toml", ["size: must be 1 or more, not 0"])


async def test_the_caller_gets_a_copy_of_a_library_error_not_the_actor_s_own() -> None:
    # Every library error copies with its fields, so the caller's traceback and the
    # actor's crash stay apart (a ConfigError used to be raised as the very same object).
    with pytest.RaisesGroup(sa.ConfigError):
        async with trio.open_nursery() as nursery:
            ref = await nursery.start(sa.run_actor, RaisesOurs())
            with pytest.raises(sa.ConfigError, match="size: must be 1") as caught:
                await ref.call("go")
    assert caught.value is not ref.exit_reason and caught.value.__cause__ is ref.exit_reason
    assert caught.value.problems == ["size: must be 1 or more, not 0"]


@attrs.define
class Tally(sa.Actor):
    count: int = 0

    async def handle_cast(self, message: Any) -> None:
        self.count += 1  # never awaits: only the actor loop can let others run


async def test_a_flooded_actor_still_lets_other_tasks_run(nursery: trio.Nursery) -> None:
    actor = Tally()
    ref = await nursery.start(partial(sa.run_actor, actor, mailbox_size=1000))
    for number in range(1000):
        ref.cast_nowait(number)
    seen_by_other_task: list[int] = []
    while actor.count < 1000:
        await trio.lowlevel.checkpoint()
        seen_by_other_task.append(actor.count)
    # This task ran while the actor was part-way through its backlog, more than once.
    assert len([count for count in seen_by_other_task if 0 < count < 1000]) > 1


@pytest.mark.parametrize(
    ("timeout", "message"),
    [
        (float("nan"), "timeout must be a number of seconds above 0, not nan"),
        (0, "timeout must be a number of seconds above 0, not 0"),
        (-1.0, "timeout must be a number of seconds above 0, not -1.0"),
        (True, "timeout must be a number of seconds, not bool True"),  # was one second
        ("5", "timeout must be a number of seconds, not str '5'"),
    ],
)
async def test_a_call_with_a_bad_timeout_is_refused_before_it_is_sent(
    nursery: trio.Nursery, timeout: Any, message: str
) -> None:
    actor = Gated()
    actor.gate.set()
    ref = await nursery.start(sa.run_actor, actor)
    with pytest.raises(ValueError, match=message):
        await ref.call("refused", timeout=timeout)
    assert await ref.call("good", timeout=float("inf")) == "good"
    assert actor.handled == ["good"] and ref.alive


@pytest.mark.parametrize(
    ("options", "message"),
    [
        # math.inf made the mailbox unbounded; 2.5 and NaN failed deep in trio.
        ({"mailbox_size": float("inf")}, "mailbox_size must be an int, not float inf"),
        ({"mailbox_size": 2.5}, "mailbox_size must be an int, not float 2.5"),
        ({"mailbox_size": True}, "mailbox_size must be an int, not bool True"),
        ({"mailbox_size": "3"}, "mailbox_size must be an int, not str '3'"),
        ({"name": 5, "registry": sa.Registry()}, "name must be a str or None, not int 5"),
        ({"registry": {}}, "registry must be a Registry or None, not dict"),
    ],
)
async def test_run_actor_refuses_bad_options_before_the_actor_starts(
    nursery: trio.Nursery, options: dict[str, Any], message: str
) -> None:
    actor = Gated()
    with pytest.raises(ValueError, match=message):
        await nursery.start(partial(sa.run_actor, actor, **options))
    with pytest.raises(ValueError, match="actor must be an Actor, not int 5"):
        await nursery.start(sa.run_actor, 5)
    assert actor.handled == []


@pytest.mark.parametrize("seconds", [float("nan"), -1.0, float("inf"), "1"])
async def test_a_terminate_timeout_that_is_not_finite_seconds_fails_the_start(
    nursery: trio.Nursery, seconds: Any
) -> None:
    # NaN used to break the actor's exit, so callers waiting for it waited forever; inf
    # let a hung terminate hold a shielded scope open for good.
    class Odd(Gated):
        terminate_timeout = seconds

    with pytest.raises(ValueError, match="terminate_timeout must be a number of seconds"):
        await nursery.start(sa.run_actor, Odd())


@pytest.mark.parametrize("reason", ["oops", 5, None])
async def test_a_stop_reason_of_the_wrong_kind_is_refused_and_the_actor_runs_on(
    nursery: trio.Nursery, reason: Any
) -> None:
    # "oops" used to stop the actor with a reason its supervisor read as a normal exit.
    actor = Gated()
    actor.gate.set()
    ref = await nursery.start(sa.run_actor, actor)
    with pytest.raises(ValueError, match="reason must be an exception or an ExitReason"):
        ref.request_stop(reason)
    with pytest.raises(ValueError, match="reason must be an exception or an ExitReason"):
        await ref.stop(reason)
    assert ref.alive and await ref.call("ping") == "ping"
    assert await ref.stop("shutdown") is sa.ExitReason.SHUTDOWN


async def test_a_deferred_reply_fails_only_with_an_exception(nursery: trio.Nursery) -> None:
    @attrs.define
    class Deferring(sa.Actor):
        replies: list[sa.DeferredReply] = attrs.Factory(list)

        async def handle_call(self, message: Any) -> Any:
            self.replies.append(self.defer_reply())

    actor = Deferring()
    ref = await nursery.start(sa.run_actor, actor)
    async with trio.open_nursery() as callers:
        callers.start_soon(ref.call, "x")
        await trio.testing.wait_all_tasks_blocked()
        (reply,) = actor.replies
        with pytest.raises(ValueError, match="error must be an exception, not 'no'"):
            reply.fail("no")  # type: ignore[arg-type]
        assert not reply.done
        reply.send("yes")
