"""`Signal`: wake the tasks waiting now; costs nothing while nobody waits."""

from __future__ import annotations

import trio

__all__ = ["Signal"]


class Signal:
    """A reusable wake-up call, for the check-then-wait pattern.

    A task checks its condition and, if it does not hold, awaits `wait`; whoever changes
    the condition calls `set`, which wakes every task waiting at that moment. A `set` with
    no waiter does nothing (the next waiter checks the condition first anyway).

    Waiting tasks are parked with trio's low-level API rather than on a `trio.Event`: no
    event (and no parking lot) is made per wait, which matters on paths that run once per
    message.
    """

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: list[trio.lowlevel.Task] = []

    def set(self) -> None:
        """Wake the tasks waiting now."""
        waiters = self._waiters
        if waiters:
            self._waiters = []
            for task in waiters:
                trio.lowlevel.reschedule(task)

    async def wait(self) -> None:
        """Wait for the next `set` (a checkpoint: cancellation ends the wait)."""
        task = trio.lowlevel.current_task()
        waiters = self._waiters
        waiters.append(task)

        def abort(_: object) -> trio.lowlevel.Abort:
            # Not woken yet (a woken task is never aborted), so it is still in this list.
            waiters.remove(task)
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
