"""`Signal`: the wake-up call every hot path waits on."""

from __future__ import annotations

import trio
import trio.testing

from slither_actors._core import Signal


async def test_set_wakes_every_task_waiting_at_that_moment() -> None:
    signal = Signal()
    woken: list[int] = []

    async def waiter(number: int) -> None:
        await signal.wait()
        woken.append(number)

    async with trio.open_nursery() as nursery:
        for number in range(3):
            nursery.start_soon(waiter, number)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == []
        signal.set()
    assert sorted(woken) == [0, 1, 2]


async def test_set_with_nobody_waiting_is_not_remembered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    signal = Signal()
    signal.set()
    with trio.move_on_after(1) as scope:
        await signal.wait()
    assert scope.cancelled_caught  # the earlier set did not carry over


async def test_a_cancelled_waiter_leaves_and_a_later_set_wakes_only_the_others() -> None:
    signal = Signal()
    woken: list[str] = []

    async def waiter(name: str, scope: trio.CancelScope) -> None:
        with scope:
            await signal.wait()
            woken.append(name)

    first, second = trio.CancelScope(), trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter, "first", first)
        nursery.start_soon(waiter, "second", second)
        await trio.testing.wait_all_tasks_blocked()
        first.cancel()
        await trio.testing.wait_all_tasks_blocked()
        signal.set()  # must not try to wake the task that already left
    assert woken == ["second"]
    assert first.cancelled_caught


async def test_a_signal_is_reusable_after_a_set() -> None:
    signal = Signal()
    rounds = 0

    async def waiter() -> None:
        nonlocal rounds
        for _ in range(3):
            await signal.wait()
            rounds += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        for _ in range(3):
            await trio.testing.wait_all_tasks_blocked()
            signal.set()
    assert rounds == 3
